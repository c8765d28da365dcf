"""How much of a language-model training batch is padding, and what a step costs, with and without length groups.

Usage: python bench/lm_batches.py [--groups 1 2 4 8] [--steps 12] [--threads 2]
Draws the language phase's examples as training does (the shipped tokenizer, a few hundred training scenes and
sounds), batches them with each `length_groups` (1: one batch at a time, as drawn), and for each prints the share of
padding and the median seconds of a forward and backward pass of the shipped language model on such batches (token
ids only: the frozen encoders' prefixes cost the same either way), with the ratio against length_groups 1 measured
in the same process. Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def drawn_batches(groups: int, count: int, chat, stage, phase, seed: int) -> list:
    """`count` batches of stage.batch examples, drawn and sorted `groups` batches at a time."""
    import dataclasses

    from modules.training.corpus import scenes_for, sounds_for
    from modules.training.train_language import batches_by_length, draw_examples

    rng, grouped = random.Random(seed), dataclasses.replace(stage, length_groups=groups)
    scenes, sounds = scenes_for("train", 400, 1), sounds_for("train", 200, 1)
    batches = []
    while len(batches) < count:
        batches += batches_by_length(draw_examples(phase, grouped, scenes, sounds, rng), chat, stage.batch, rng)
    return [chat.collate(examples) for examples in batches[:count]]


def step_seconds(model, batch) -> float:
    """One forward and backward pass on the batch's token ids, timed."""
    started = time.perf_counter()
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels)
    out.loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> int:
    import torch
    from transformers import AutoTokenizer, DeepseekV3ForCausalLM

    from modules.bridge_model import PrefixBridgeConfig
    from modules.training.lm_data import ChatTokens
    from modules.training.suite_config import SuiteConfig
    from modules.training.train_language import Phase

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 4, 8], help="length_groups to compare")
    parser.add_argument("--steps", type=int, default=12, help="timed batches per setting (after 2 warm-up ones)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = ROOT / "assets" / "mini"
    tokenizer = AutoTokenizer.from_pretrained(str(folder / "language_model"))
    model = DeepseekV3ForCausalLM.from_pretrained(str(folder / "language_model")).train()
    stage, bridge = SuiteConfig().language, PrefixBridgeConfig.from_pretrained(str(folder / "bridge"))
    chat = ChatTokens(tokenizer, bridge.image_tokens, bridge.audio_prefix_tokens)
    phase = Phase("language", 1, 1e-3, 1, {}, False, stage.caption_share)
    rows = []
    for groups in [1] + [g for g in args.groups if g != 1]:
        batches = drawn_batches(groups, args.steps + 2, chat, stage, phase, seed=groups)
        padding = [1 - float(b.attention_mask.float().mean()) for b in batches]
        seconds = [step_seconds(model, b) for b in batches][2:]
        rows.append((groups, statistics.mean(padding), statistics.median(seconds)))
    print(f"language model training batches of {stage.batch}, {torch.get_num_threads()} torch threads")
    print("| length_groups | padding | median step s (forward + backward) | step vs 1 |")
    print("| ---: | ---: | ---: | ---: |")
    for groups, padding, seconds in rows:
        print(f"| {groups} | {padding:.0%} | {seconds:.3f} | {seconds / rows[0][2]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
