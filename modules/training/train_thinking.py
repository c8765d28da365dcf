"""The think stage of the mini suite: the saved language model learns to think the R1-Zero way, by group-relative
policy optimisation on multi-step questions with rule-based rewards only (no written reasoning to copy), resuming
from its checkpoint in the work folder."""
from __future__ import annotations

import copy
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from accelerate import Accelerator
from transformers import DeepseekV3ForCausalLM

from ..reasoning import THINKING_OPENER, split_reply
from ..world.multistep import multistep_items
from .adamw import adamw
from .checkpoint import load_checkpoint, save_checkpoint
from .grpo import GrpoSettings, Judge, Judged, Prompt, grpo_step
from .grpo_rewards import score_reply
from .index_add_experts import use_index_add_experts
from .suite_config import RewardWeights, SuiteConfig, ThinkStage
from .think_prompts import Perception, answer_text, end_ids

LOG_NAME = "think_log.jsonl"       # in the work folder: one JSON object per step (see write_line)
CHECKPOINT_NAME = "think.safetensors"   # in the work folder: policy, reference, AdamW, step, samplers and log


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
                        stage.updates_per_step, stage.max_grad_norm, stage.bias_update_rate)


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
    think_log.jsonl and resuming from its checkpoint there; writes the trained language model back. One process
    trains (others wait)."""
    if not accelerator.is_main_process:
        return
    stage, out, work = suite.think, Path(suite.out_dir), Path(suite.work_dir)
    torch.manual_seed(suite.seed + 4)
    device = accelerator.device
    policy = DeepseekV3ForCausalLM.from_pretrained(str(out / "language_model")).to(device)
    if device.type == "cpu":
        use_index_add_experts(policy)      # cheaper backward on a CPU; the reference computes the same way
    perception = Perception.load(out, device)
    heldout = multistep_items("validation", stage.eval_questions, suite.seed, wordings="heldout")
    run = ThinkRun.starting(policy, stage, suite.seed, thinking_judge(tokenizer, stage.rewards),
                            end_ids(policy, tokenizer), tokenizer.pad_token_id,
                            questions=multistep_items("train", stage.train_questions, suite.seed),
                            prompt=lambda item: perception.prompt(tokenizer, item, thinking=True),
                            heldout=lambda: heldout_accuracy(policy, tokenizer, perception, heldout,
                                                             stage.max_reply_tokens))
    log = run_steps(run, stage, work)
    if device.type == "cpu":
        policy.set_experts_implementation("grouped_mm")
    policy.save_pretrained(str(out / "language_model"))
    print(f"think: the language model is saved in {out / 'language_model'}; the steps' log is {log}")


@dataclass
class ThinkRun:
    """What the stage's steps move and read: the policy and its optimizer, the frozen starting model it is held to,
    the chance they draw with, and how a question becomes a prompt and a reply a reward."""

    policy: torch.nn.Module
    reference: torch.nn.Module
    optimizer: torch.optim.Optimizer
    samplers: "Samplers"
    judge: Judge
    settings: GrpoSettings
    end_ids: list[int]
    pad_id: int
    questions: list                            # what each step's questions are drawn from
    prompt: Callable[[Any], Prompt]            # a question -> the prompt the policy reads (thinking opened)
    heldout: Callable[[], float]               # the policy's held-out accuracy now

    @classmethod
    def starting(cls, policy, stage: ThinkStage, seed: int, judge: Judge, end_ids: list[int], pad_id: int,
                 questions: list, prompt: Callable[[Any], Prompt], heldout: Callable[[], float]) -> "ThinkRun":
        """A run from `policy` as it is now: the reference a frozen copy of it, a fresh AdamW, seeded samplers."""
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
        optimizer = adamw(policy.parameters(), lr=stage.lr, weight_decay=0.0, betas=(0.9, 0.99))
        samplers = Samplers(random.Random(f"think-{seed}"), torch.Generator().manual_seed(seed))
        return cls(policy, reference, optimizer, samplers, judge, grpo_settings(stage), end_ids, pad_id,
                   questions, prompt, heldout)


def run_steps(run: ThinkRun, stage: ThinkStage, work: Path) -> Path:
    """The stage's GRPO steps, from the work folder's checkpoint when there is one (else from step 0, with the
    held-out accuracy before any step), each logged as a line of think_log.jsonl; a checkpoint every
    stage.checkpoint_every steps and after the last. -> the log's path."""
    work.mkdir(parents=True, exist_ok=True)
    log, checkpoint, start = work / LOG_NAME, work / CHECKPOINT_NAME, 0
    if checkpoint.exists():
        start = resume(checkpoint, run, log)
        print(f"resuming think at step {start}")
    with open(log, "a" if start else "w", encoding="utf-8") as lines:
        if start == 0:
            write_line(lines, {"step": 0, "heldout_accuracy": run.heldout()})
        for step in range(start + 1, stage.steps + 1):
            started = time.time()
            prompts = [run.prompt(q) for q in run.samplers.questions.sample(run.questions, stage.questions_per_step)]
            figures = grpo_step(run.policy, run.reference, run.optimizer, prompts, run.judge, run.settings,
                                run.end_ids, run.pad_id, run.samplers.replies)
            figures = {"step": step, **figures, "seconds": round(time.time() - started, 2)}
            if step % stage.eval_every == 0 or step == stage.steps:
                figures["heldout_accuracy"] = run.heldout()
            write_line(lines, figures)
            if step % stage.checkpoint_every == 0 or step == stage.steps:
                save_checkpoint(checkpoint, {"policy": run.policy, "reference": run.reference}, run.optimizer, step,
                                extra=run.samplers.state() | {"log": text_tensor(log.read_text(encoding="utf-8"))})
            print(progress(figures, stage.steps))
    return log


@dataclass
class Samplers:
    """The stage's two sources of chance, saved in its checkpoint so that a resumed run draws what the run it
    continues would have drawn: the questions of each step, and the replies sampled to them."""

    questions: random.Random
    replies: torch.Generator

    def state(self) -> dict[str, torch.Tensor]:
        version, words, gauss = self.questions.getstate()
        if gauss is not None:                     # sample() never draws a Gaussian; anything else here would
            raise ValueError("the question sampler holds a Gaussian draw, which the checkpoint cannot keep")
        return {"questions_rng": torch.tensor((version, *words), dtype=torch.int64),       # (1 + 625,)
                "replies_rng": self.replies.get_state()}                                    # (bytes,) uint8

    def restore(self, extra: dict[str, torch.Tensor]) -> None:
        version, *words = extra["questions_rng"].tolist()
        self.questions.setstate((version, tuple(words), None))
        self.replies.set_state(extra["replies_rng"])


def resume(checkpoint: Path, run: ThinkRun, log: Path) -> int:
    """The policy, the frozen starting model it is held to (the saved language model may already be a trained one
    by now), AdamW, the samplers and the log as they were at the checkpoint's step; lines a stopped run logged after
    that step are dropped, so that the log goes on from it. -> the step."""
    step, extra = load_checkpoint(checkpoint, {"policy": run.policy, "reference": run.reference}, run.optimizer)
    run.samplers.restore(extra)
    log.write_bytes(extra["log"].numpy().tobytes())
    return step


def text_tensor(text: str) -> torch.Tensor:
    """(bytes,) uint8: UTF-8 text as a tensor, for a safetensors checkpoint."""
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8)


def write_line(lines, figures: dict) -> None:
    lines.write(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in figures.items()}) + "\n")
    lines.flush()


def progress(figures: dict, steps: int) -> str:
    shown = ", ".join(f"{k} {figures[k]:.3g}" for k in ("reward", "accuracy", "format", "language",
                                                         "thinking_tokens", "kl", "heldout_accuracy")
                      if k in figures)
    return f"think step {figures['step']}/{steps}: {shown}"
