"""How much of a language-model training batch is padding, and what a step costs: padded (a row per example) or
packed (modules/training/packing.py), and with length groups.

Usage: python bench/lm_batches.py [--groups 1 2 4 8] [--steps 12] [--threads 2]
Draws the language phase's examples as training does (the shipped tokenizer, a few hundred training scenes and
sounds), batches them with each `length_groups` (1: one batch at a time, as drawn), and for each prints the share of
padding and the seconds of a forward and backward pass of the shipped language model per batch (token ids only: the
frozen encoders' prefixes cost the same either way), a row per example and packed, with the ratio against
length_groups 1 a row per example, measured in the same process. The time is the median over --steps groups of the
batches drawn together, divided by their number: sorted batches are short or long by design, and the median of
single batches would pick a short one. Never a pass/fail on time.
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


def drawn_groups(groups: int, count: int, chat, stage, phase, seed: int) -> list[list]:
    """`count` groups of `groups` batches of stage.batch examples, each group drawn and sorted together."""
    import dataclasses

    from modules.training.corpus import scenes_for, sounds_for
    from modules.training.train_language import batches_by_length, draw_examples

    rng, grouped = random.Random(seed), dataclasses.replace(stage, length_groups=groups)
    scenes, sounds = scenes_for("train", 400, 1), sounds_for("train", 200, 1)
    return [[chat.collate(examples) for examples in batches_by_length(
        draw_examples(phase, grouped, scenes, sounds, rng), chat, stage.batch, rng)] for _ in range(count)]


def step_seconds(model, batch, lay_out) -> tuple[float, float]:
    """One forward and backward pass on the batch's token ids laid out by `lay_out` (a Packing constructor),
    timed; and the share of padding in the rows the model ran on."""
    from modules.training.lm_data import IGNORE
    from modules.training.train_language import next_token_losses, token_loss

    started = time.perf_counter()
    packing = lay_out(batch.attention_mask.sum(dim=1).tolist())
    embeds = packing.pack(model.get_input_embeddings()(batch.input_ids))
    out = model(inputs_embeds=embeds, position_ids=packing.position_ids(), use_cache=False)
    losses = packing.unpack(next_token_losses(out.logits, packing.pack(batch.labels, fill=IGNORE)),
                            batch.input_ids.shape[1])
    token_loss(losses, batch.labels).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - started, 1 - float(packing.token_mask().float().mean())


def main() -> int:
    import torch
    from transformers import AutoTokenizer, DeepseekV3ForCausalLM

    from modules.bridge_model import PrefixBridgeConfig
    from modules.training.lm_data import ChatTokens
    from modules.training.packing import Packing
    from modules.training.suite_config import SuiteConfig
    from modules.training.train_language import Phase

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 4, 8], help="length_groups to compare")
    parser.add_argument("--steps", type=int, default=12, help="timed groups per setting (after 2 warm-up batches)")
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
        drawn = drawn_groups(groups, args.steps, chat, stage, phase, seed=groups)
        for name, lay_out in (("a row each", Packing.one_per_row), ("packed", Packing.first_fit)):
            for batch in drawn[0][:2]:
                step_seconds(model, batch, lay_out)                                  # warm-up
            timed = [[step_seconds(model, batch, lay_out) for batch in group] for group in drawn]
            rows.append((groups, name, statistics.mean(share for group in timed for _, share in group),
                         statistics.median(sum(seconds for seconds, _ in group) / groups for group in timed)))
    print(f"language model training batches of {stage.batch}, {torch.get_num_threads()} torch threads")
    print("| length_groups | rows | padding | step s (forward + backward) | step vs 1, a row each |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for groups, name, padding, seconds in rows:
        print(f"| {groups} | {name} | {padding:.0%} | {seconds:.3f} | {seconds / rows[0][3]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
