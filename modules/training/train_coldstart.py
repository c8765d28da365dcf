"""The cold-start stage of the mini suite, run before the think stage: the saved language model fine-tuned on short
reasoning traces written from train multi-step items (think_traces.py), each after the very prompt the think stage
and the studio send with thinking on, with a share of ordinary one-step turns answered without thinking mixed in;
so that, asked to think, the model writes a thought, closes </think> and answers (DeepSeek-R1's cold start)."""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import DeepseekV3ForCausalLM

from ..moe_trace import ExpertRecorder, update_balancing_bias
from ..world.multistep import MultiStepItem, multistep_items
from ..world.pictures import Scene, render_scene
from ..world.sounds import Sound
from .adamw import adamw
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .corpus import scenes_for, sounds_for
from .evaluate import picture_qa
from .evaluate_thinking import Answerer, multistep_figures
from .grpo import Prompt, prompt_embeds
from .index_add_experts import use_index_add_experts
from .lm_data import IGNORE, picture_turn, sample_example
from .suite_config import ColdStartStage, SuiteConfig
from .think_prompts import Perception, question_prompt
from .think_traces import trace_for
from .train_language import next_token_losses, per_example_loss

LOG_NAME = "coldstart_log.jsonl"        # in the work folder: one JSON object per step, and the measures
CHECKPOINT_NAME = "coldstart.safetensors"


@dataclass
class Row:
    """One training example: the prompt as the model reads it and the reply it is taught."""

    prompt: Prompt
    target: list[int]          # the reply's ids, its end token included


def trace_row(tokenizer, perception, item: MultiStepItem, rng: random.Random) -> Row:
    """A train item's trace after the think stage's own prompt (Perception.prompt, thinking on: the answer opened
    with <think>)."""
    prompt = perception.prompt(tokenizer, item, thinking=True)
    reply = trace_for(item, rng).reply()
    return Row(prompt, tokenizer.encode(reply, add_special_tokens=False) + [tokenizer.eos_token_id])


@dataclass(frozen=True)
class OneStepTurn:
    """An ordinary turn of the language stage's mixture: a question (about a picture, a sound or neither) and the
    world's answer, with no thinking."""

    question: str
    answer: str
    scenes: tuple[Scene, ...] = ()
    sounds: tuple[Sound, ...] = ()


def one_step_turn(rng: random.Random, scenes: list[Scene], sounds: list[Sound], caption_share: float) -> OneStepTurn:
    """A turn drawn as the language stage draws its examples (lm_data.sample_example, its task mixture), the last
    turn of the example taken alone; a picture's request as the questions phase draws it."""
    example = sample_example(rng, scenes, sounds)
    if example.media == "image":
        request = picture_turn(example.scene, rng, by_place=True, caption_share=caption_share)
        return OneStepTurn(request.question, request.answer, scenes=(example.scene,))
    question, answer = example.turns[-1]
    heard = (sounds[example.sound_index],) if example.media == "audio" else ()
    return OneStepTurn(question, answer, sounds=heard)


def one_step_row(tokenizer, perception, turn: OneStepTurn) -> Row:
    """The turn through the studio's prompt without thinking (question_prompt, thinking off)."""
    prompt = question_prompt(tokenizer, turn.question, perception.media_of(turn.scenes, turn.sounds), False)
    return Row(prompt, tokenizer.encode(turn.answer, add_special_tokens=False) + [tokenizer.eos_token_id])


@dataclass
class PaddedRows:
    """Rows laid end to end after their prompts, padded on the right to the longest."""

    embeds: torch.Tensor       # (B, T, H): prompt embeddings with prefixes spliced, then the reply's tokens
    labels: torch.Tensor       # (B, T): the reply's ids where they are, IGNORE elsewhere
    attention: torch.Tensor    # (B, T) 1 on every real position
    counted: torch.Tensor      # (B, T) bool: the positions whose experts the balancing bias counts (text alone)


def padded_rows(model, rows: list[Row], markers: set[int]) -> PaddedRows:
    """rows -> PaddedRows; markers: the picture and sound marker ids, whose prefix positions the bias leaves out."""
    device = model.device
    embed = model.get_input_embeddings()
    pieces, labels, counted = [], [], []
    for row in rows:
        target = torch.tensor(row.target, device=device)                                     # (L,)
        pieces.append(torch.cat([prompt_embeds(model, row.prompt)[0], embed(target)]))     # (P + L, H)
        labels.append(torch.cat([torch.full((len(row.prompt.ids),), IGNORE, device=device), target]))
        text = torch.tensor([int(t) not in markers for t in row.prompt.ids.tolist()], device=device)
        counted.append(torch.cat([text, torch.ones(len(row.target), dtype=torch.bool, device=device)]))
    longest = max(len(p) for p in pieces)
    embeds = torch.zeros(len(rows), longest, pieces[0].shape[-1], device=device, dtype=pieces[0].dtype)
    label_rows = torch.full((len(rows), longest), IGNORE, device=device)
    attention = torch.zeros(len(rows), longest, dtype=torch.long, device=device)
    counted_rows = torch.zeros(len(rows), longest, dtype=torch.bool, device=device)
    for i, (piece, label, count) in enumerate(zip(pieces, labels, counted)):
        embeds[i, :len(piece)], label_rows[i, :len(piece)] = piece, label
        attention[i, :len(piece)], counted_rows[i, :len(piece)] = 1, count
    return PaddedRows(embeds, label_rows, attention, counted_rows)


def sft_loss(model, batch: PaddedRows) -> torch.Tensor:
    """Next-token cross-entropy of the replies, averaged within each row, then over rows: a short one-step answer
    weighs as much as a trace."""
    logits = model(inputs_embeds=batch.embeds, attention_mask=batch.attention, use_cache=False).logits  # (B, T, V)
    return per_example_loss(next_token_losses(logits, batch.labels), batch.labels)


def sft_step(model, optimizer: torch.optim.Optimizer, rows: list[Row], markers: set[int],
             max_grad_norm: float) -> tuple[float, PaddedRows]:
    """One supervised step on the rows -> (its loss, the rows as the model read them)."""
    model.train()
    batch = padded_rows(model, rows, markers)
    loss = sft_loss(model, batch)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], max_grad_norm)
    optimizer.step()
    return loss.item(), batch


@dataclass
class ColdStartData:
    """What the stage's batches are drawn from: train multi-step items, and train scenes and sounds."""

    items: list[MultiStepItem]
    scenes: list[Scene]
    sounds: list[Sound]
    caption_share: float

    @classmethod
    def of(cls, suite: SuiteConfig) -> "ColdStartData":
        stage = suite.coldstart
        items = multistep_items("train", stage.train_questions, suite.seed, wordings="train")
        leaked = [item.key for item in items if item.split != "train"]
        if leaked:
            raise RuntimeError(f"cold-start items outside the train split: {leaked[:3]}")
        return cls(items, scenes_for("train", stage.one_step_scenes, suite.seed + 1),
                   sounds_for("train", stage.one_step_sounds, suite.seed + 1), suite.language.question_caption_share)

    def rows(self, step: int, seed: int, stage: ColdStartStage, tokenizer, perception) -> list[Row]:
        """The step's rows, the same for the same step and seed (so a resumed run draws what it would have)."""
        rng = random.Random(f"coldstart-{seed}-{step}")
        one_step = round(stage.batch * stage.one_step_share)
        rows = [trace_row(tokenizer, perception, item, rng) for item in rng.sample(self.items, stage.batch - one_step)]
        rows += [one_step_row(tokenizer, perception, one_step_turn(rng, self.scenes, self.sounds, self.caption_share))
                 for _ in range(one_step)]
        return rows


@torch.no_grad()
def coldstart_measures(model, tokenizer, perception, stage: ColdStartStage, seed: int) -> dict[str, float]:
    """Greedy, on validation items: multi-step questions in held-out wordings with thinking on (the share whose
    reply closes </think>, and accuracy) and off (accuracy); one-step picture questions without thinking."""
    model.eval()
    items = multistep_items("validation", stage.eval_questions, seed, wordings="heldout")
    answerer = Answerer(model, tokenizer, perception, True, stage.max_reply_tokens)
    thinking, closed = multistep_figures(answerer, items)
    answerer.thinking = False
    plain, _ = multistep_figures(answerer, items)
    scenes = scenes_for("validation", stage.eval_one_step, seed)
    pictures = [render_scene(s) for s in scenes]
    one_step = sum(picture_qa(answerer, scenes, pictures, lang, [], seed) for lang in ("en", "zh")) / 2
    return {"closes_think": closed, "multistep_thinking": thinking, "multistep_plain": plain,
            "one_step_plain": one_step}


def train_coldstart(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """Supervised fine-tuning of the saved language model (encoders and bridge frozen) on traces and one-step
    turns, resuming from the work folder's checkpoint; measures before and after into coldstart_log.jsonl and
    writes the language model back. One process trains (others wait)."""
    if not accelerator.is_main_process:
        return
    stage, out, work = suite.coldstart, Path(suite.out_dir), Path(suite.work_dir)
    torch.manual_seed(suite.seed + 5)
    device = accelerator.device
    model = DeepseekV3ForCausalLM.from_pretrained(str(out / "language_model")).to(device)
    if device.type == "cpu":
        use_index_add_experts(model)
    perception = Perception.load(out, device)
    optimizer = adamw(model.parameters(), lr=stage.lr, weight_decay=0.0, betas=(0.9, 0.95))
    checkpoint, start = work / CHECKPOINT_NAME, 0
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, {"lm": model}, optimizer)
        print(f"resuming coldstart at step {start}")
    work.mkdir(parents=True, exist_ok=True)
    markers = {tokenizer.convert_tokens_to_ids(m) for m in ("<|image|>", "<|audio|>")}
    experts = model.config.n_routed_experts
    with open(work / LOG_NAME, "a" if start else "w", encoding="utf-8") as log:
        if start == 0:
            write_line(log, {"step": 0, **coldstart_measures(model, tokenizer, perception, stage, suite.seed)})
        data = ColdStartData.of(suite) if start < stage.steps else None
        recorder = ExpertRecorder(model)
        for step in range(start, stage.steps):
            started = time.time()
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, stage.steps, stage.lr, stage.warmup)
            rows = data.rows(step, suite.seed, stage, tokenizer, perception)
            with recorder:
                recorder.clear()
                loss, batch = sft_step(model, optimizer, rows, markers, stage.max_grad_norm)
            if stage.bias_update_rate:
                update_balancing_bias(recorder, experts, stage.bias_update_rate, token_mask=batch.counted)
            write_line(log, {"step": step + 1, "loss": loss, "seconds": round(time.time() - started, 2)})
            if (step + 1) % stage.checkpoint_every == 0 or step + 1 == stage.steps:
                save_checkpoint(checkpoint, {"lm": model}, optimizer, step + 1)
            if (step + 1) % 25 == 0 or step + 1 == stage.steps:
                print(f"coldstart step {step + 1}/{stage.steps}: loss {loss:.3f}")
        after = coldstart_measures(model, tokenizer, perception, stage, suite.seed)
        write_line(log, {"step": stage.steps, "after": True, **after})
    if device.type == "cpu":
        model.set_experts_implementation("grouped_mm")
    model.save_pretrained(str(out / "language_model"))
    print(f"coldstart: {measures_text(after)}; the language model is saved in {out / 'language_model'}")


def write_line(lines, figures: dict) -> None:
    lines.write(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in figures.items()}) + "\n")
    lines.flush()


def measures_text(figures: dict) -> str:
    return ", ".join(f"{name} {figures[name]:.3f}" for name in ("closes_think", "multistep_thinking",
                                                               "multistep_plain", "one_step_plain"))
