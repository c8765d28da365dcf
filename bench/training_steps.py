"""What an encoders-stage training step costs with its batches made in turn or ahead in a worker, what one
AdamW update of each model costs per tensor or fused, and a language-model pass with either experts forward.

Usage: python bench/training_steps.py [--steps 20] [--threads 2]
Builds the encoders stage's models from scratch (the shipped tokenizer, a pool of 800 training scenes and 300 sounds)
and times steps of its shape phase and of its joint phase three ways, in one process: batches drawn in turn before
each step with torch's default AdamW (as training did before), the same with fused AdamW, and fused AdamW with the
batches made ahead by a worker process (modules/training/batches_ahead.py, as training does now). Then one AdamW
update of the shipped language model, the encoders and the UNet, per tensor and fused; and a forward and backward
pass of the language model with its experts run by grouped_mm and by training's index_add forward. Prints medians
and the ratio against the first of each group. Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def encoder_parts(stage, tokenizer):
    """Fresh encoders stage models, their objective and parameter groups, and a maker of the stage's batches."""
    from modules.training import train_encoders as te
    from modules.training.corpus import sounds_for
    from modules.world.sounds import synthesize

    clip, audio, heads, caption_places, patch_heads, beep_head = te.encoder_models(stage, len(tokenizer))
    pool, rng = te.PicturePool(stage, 0), random.Random(0)
    sounds = sounds_for("train", 300, 0)
    waves = [synthesize(s) for s in sounds]
    tokens = te.text_tokens(tokenizer, stage, "cpu")
    return (te.EncoderObjective(clip, audio, heads, caption_places, patch_heads, beep_head),
            te.parameter_groups(clip, audio, [heads, caption_places, patch_heads, beep_head]),
            lambda joint: te.encoder_batch(joint, pool, sounds, waves, stage, rng, tokens))


def step_seconds(objective, optimizer, batches, stage, steps: int, joint: bool) -> float:
    """Median seconds from asking for a batch to the end of its update, after two warm-up steps."""
    from modules.training.train_encoders import encoder_loss
    times = []
    for index in range(steps + 2):
        started = time.perf_counter()
        pictures, scenes, owner, captions, heard = next(batches)
        loss = encoder_loss(objective(pictures, scenes, owner, captions, heard), stage, joint)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if index >= 2:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def encoder_groups(stage, tokenizer, steps: int) -> list[list[tuple[str, float]]]:
    import torch

    from modules.training.adamw import adamw
    from modules.training.batches_ahead import batches_ahead

    groups = []
    for joint in (False, True):
        phase, rows = "joint" if joint else "shape", []
        for name, fused, ahead in (("in turn, AdamW per tensor", False, False), ("in turn, fused AdamW", True, False),
                                   ("ahead in a worker, fused AdamW", True, True)):
            objective, parameters, make_batch = encoder_parts(stage, tokenizer)
            optimizer = adamw(parameters, lr=1e-4) if fused else torch.optim.AdamW(parameters, lr=1e-4)
            batches = batches_ahead(lambda step: make_batch(joint), range(steps + 2), in_worker=ahead)
            rows.append((f"encoders {phase} phase: batches {name}", step_seconds(objective, optimizer, batches,
                                                                                   stage, steps, joint)))
        groups.append(rows)
    return groups


def update_seconds(parameters: list, fused: bool, repeats: int = 15) -> float:
    import torch
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter)
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, betas=(0.9, 0.95), fused=fused)
    times = []
    for index in range(repeats + 3):
        started = time.perf_counter()
        optimizer.step()
        if index >= 3:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def update_groups() -> list[list[tuple[str, float]]]:
    from diffusers import UNet2DConditionModel
    from transformers import DeepseekV3ForCausalLM

    from modules.encoders.picture_stem import load_open_clip

    mini = ROOT / "assets" / "mini"
    models = {"language model": DeepseekV3ForCausalLM.from_pretrained(str(mini / "language_model")),
              "picture-text model": load_open_clip(mini / "image_encoder")[0],
              "UNet": UNet2DConditionModel.from_pretrained(str(mini / "image_decoder" / "unet"))}
    groups = []
    for name, model in models.items():
        parameters = list(model.parameters())
        groups.append([(f"AdamW update of the {name}: per tensor", update_seconds(parameters, fused=False)),
                       (f"AdamW update of the {name}: fused", update_seconds(parameters, fused=True))])
    return groups


def experts_group(repeats: int = 8) -> list[list[tuple[str, float]]]:
    """A forward and backward pass of the shipped language model on 6 rows of 300 token ids, its routed experts
    run by transformers' grouped_mm and by training's index_add forward, alternating."""
    import torch
    from transformers import DeepseekV3ForCausalLM

    from modules.training.index_add_experts import use_index_add_experts
    model = DeepseekV3ForCausalLM.from_pretrained(str(ROOT / "assets" / "mini" / "language_model")).train()
    ids = torch.randint(3, model.config.vocab_size, (6, 300), generator=torch.Generator().manual_seed(0))
    ways = {"grouped_mm": lambda: model.set_experts_implementation("grouped_mm"),
            "index_add": lambda: use_index_add_experts(model)}
    times = {name: [] for name in ways}
    for index in range(repeats + 2):
        for name, use in ways.items():
            use()
            started = time.perf_counter()
            model(input_ids=ids, labels=ids).loss.backward()
            if index >= 2:
                times[name].append(time.perf_counter() - started)
    return [[(f"language model forward and backward, experts by {name}", statistics.median(seconds))
             for name, seconds in times.items()]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per way (after two warm-up steps)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    if args.steps < 1 or args.threads < 1:
        parser.error(f"--steps and --threads must be at least 1; got {args.steps} and {args.threads}")
    import torch
    from transformers import AutoTokenizer

    from modules.training.suite_config import SuiteConfig
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "assets" / "mini" / "language_model"))
    stage = dataclasses.replace(SuiteConfig().encoders, scenes=800)
    groups = encoder_groups(stage, tokenizer, args.steps) + update_groups() + experts_group()
    print(f"| what ({args.threads} threads) | median s | vs the first of its group |\n| --- | ---: | ---: |")
    for rows in groups:
        for name, seconds in rows:
            print(f"| {name} | {seconds:.4f} | {seconds / rows[0][1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
