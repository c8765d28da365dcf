"""The think stage of the mini suite: the saved language model learns to think the R1-Zero way, by group-relative
policy optimisation on multi-step questions with rule-based rewards only (no written reasoning to copy)."""
from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import DeepseekV3ForCausalLM

from ..reasoning import THINKING_OPENER, split_reply
from ..world.multistep import multistep_items
from .adamw import adamw
from .grpo import GrpoSettings, Judge, Judged, grpo_step
from .grpo_rewards import score_reply
from .index_add_experts import use_index_add_experts
from .suite_config import RewardWeights, SuiteConfig, ThinkStage
from .think_prompts import Perception, answer_text, end_ids

LOG_NAME = "think_log.jsonl"       # in the work folder: one JSON object per step (see log_line)


def thinking_judge(tokenizer, weights: RewardWeights) -> Judge:
    """Scores a sampled reply (its ids after the <think> the prompt opened) by the rules of grpo_rewards, with the
    figures the log keeps: accuracy, format and language shares, thinking length in tokens."""
    def judge(item, ids: list[int]) -> Judged:
        reply = THINKING_OPENER + tokenizer.decode(ids, skip_special_tokens=True)
        score = score_reply(reply, item.check, item.language, weights)
        thinking = split_reply(reply, final=True).thinking
        return Judged(score.reward, {"accuracy": float(score.correct), "format": float(score.formatted),
                                     "language": float(score.in_language),
                                     "thinking_tokens": float(len(tokenizer.encode(thinking,
                                                                                   add_special_tokens=False)))})
    return judge


def grpo_settings(stage: ThinkStage) -> GrpoSettings:
    return GrpoSettings(stage.group_size, stage.temperature, stage.max_reply_tokens, stage.kl_weight, stage.clip,
                        stage.updates_per_step, stage.max_grad_norm)


@torch.no_grad()
def heldout_accuracy(model, tokenizer, perception: Perception, items, max_tokens: int) -> float:
    """Share of the items answered right with thinking on, greedily (the answer after </think> checked)."""
    right = 0
    for item in items:
        reply = answer_text(model, tokenizer, perception.prompt(tokenizer, item, thinking=True), True, max_tokens)
        right += item.check(split_reply(reply, final=True).answer)
    return right / len(items)


def train_thinking(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """GRPO from the saved language model (the encoders and bridge frozen), logging each step to the work folder's
    think_log.jsonl; writes the trained language model back. One process trains (others wait)."""
    if not accelerator.is_main_process:
        return
    stage, out, work = suite.think, Path(suite.out_dir), Path(suite.work_dir)
    torch.manual_seed(suite.seed + 4)
    device = accelerator.device
    policy = DeepseekV3ForCausalLM.from_pretrained(str(out / "language_model")).to(device)
    if device.type == "cpu":
        use_index_add_experts(policy)      # cheaper backward on a CPU; the reference computes the same way
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    perception = Perception.load(out, device)
    optimizer = adamw(policy.parameters(), lr=stage.lr, weight_decay=0.0, betas=(0.9, 0.99))
    questions = multistep_items("train", stage.train_questions, suite.seed)
    heldout = multistep_items("validation", stage.eval_questions, suite.seed, wordings="heldout")
    rng, generator = random.Random(f"think-{suite.seed}"), torch.Generator().manual_seed(suite.seed)
    judge, settings, ends = thinking_judge(tokenizer, stage.rewards), grpo_settings(stage), end_ids(policy, tokenizer)
    work.mkdir(parents=True, exist_ok=True)
    log = work / LOG_NAME
    with open(log, "w", encoding="utf-8") as lines:
        write_line(lines, {"step": 0, "heldout_accuracy": heldout_accuracy(
            policy, tokenizer, perception, heldout, stage.max_reply_tokens)})
        for step in range(1, stage.steps + 1):
            started = time.time()
            prompts = [perception.prompt(tokenizer, item, thinking=True)
                       for item in rng.sample(questions, stage.questions_per_step)]
            figures = grpo_step(policy, reference, optimizer, prompts, judge, settings, ends,
                                tokenizer.pad_token_id, generator)
            figures = {"step": step, **figures, "seconds": round(time.time() - started, 2)}
            if step % stage.eval_every == 0 or step == stage.steps:
                figures["heldout_accuracy"] = heldout_accuracy(policy, tokenizer, perception, heldout,
                                                               stage.max_reply_tokens)
            write_line(lines, figures)
            print(progress(figures, stage.steps))
    if device.type == "cpu":
        policy.set_experts_implementation("grouped_mm")
    policy.save_pretrained(str(out / "language_model"))
    print(f"think: the language model is saved in {out / 'language_model'}; the steps' log is {log}")


def write_line(lines, figures: dict) -> None:
    lines.write(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in figures.items()}) + "\n")
    lines.flush()


def progress(figures: dict, steps: int) -> str:
    shown = ", ".join(f"{k} {figures[k]:.3g}" for k in ("reward", "accuracy", "format", "language",
                                                         "thinking_tokens", "kl", "heldout_accuracy")
                      if k in figures)
    return f"think step {figures['step']}/{steps}: {shown}"
