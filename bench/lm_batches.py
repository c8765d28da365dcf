"""How much of a language-model training batch is padding, and what a step costs, padded or packed.

Usage: python bench/lm_batches.py [--steps 12] [--threads 2]
Draws the language phase's batches as training does (the shipped tokenizer, a few hundred training scenes and
sounds) and prints, for a row per example padded to the longest and for the examples packed end to end
(modules/training/packing.py), the share of padding and the median seconds of a forward and backward pass of the
shipped language model on those batches (token ids only: the frozen encoders' prefixes cost the same either way),
with the ratio against the padded rows measured in the same process. Never a pass/fail on time.
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


def drawn_batches(count: int, chat, stage, phase, seed: int) -> list:
    """`count` batches of stage.batch examples, drawn as the language phase draws them."""
    from modules.training.corpus import scenes_for, sounds_for
    from modules.training.train_language import draw_examples

    rng = random.Random(seed)
    scenes, sounds = scenes_for("train", 400, 1), sounds_for("train", 200, 1)
    return [chat.collate(draw_examples(phase, stage, scenes, sounds, rng)) for _ in range(count)]


def step_seconds(model, batch, lay_out) -> tuple[float, float]:
    """One forward and backward pass on the batch's token ids laid out by `lay_out` (a Packing constructor),
    timed; and the share of padding in the rows the model ran on."""
    from modules.training.train_language import packed_text_losses, token_loss

    started = time.perf_counter()
    packing = lay_out(batch.attention_mask.sum(dim=1).tolist())
    embeds = model.get_input_embeddings()(batch.input_ids)                              # (B, T, H)
    losses, _ = packed_text_losses(model, embeds, batch.labels, packing)
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
    parser.add_argument("--steps", type=int, default=12, help="timed batches per layout (after 2 warm-up ones)")
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
    batches = drawn_batches(args.steps + 2, chat, stage, phase, seed=0)
    rows = []
    for name, lay_out in (("a row each, padded", Packing.one_per_row), ("packed", Packing.first_fit)):
        timed = [step_seconds(model, batch, lay_out) for batch in batches][2:]
        rows.append((name, statistics.mean(share for _, share in timed),
                     statistics.median(seconds for seconds, _ in timed)))
    print(f"language model training batches of {stage.batch}, {torch.get_num_threads()} torch threads")
    print("| rows | padding | median step s (forward + backward) | step vs padded |")
    print("| --- | ---: | ---: | ---: |")
    for name, padding, seconds in rows:
        print(f"| {name} | {padding:.0%} | {seconds:.3f} | {seconds / rows[0][2]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
