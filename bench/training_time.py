"""How long `python -m modules.training.mini train` takes on this machine, projected from two short runs of it.

Usage: python bench/training_time.py [--small 0.01] [--large 0.03] [--threads N]
Each stage runs twice, at the two fractions of the recipe's steps (every phase of a stage scaled alike), at full data
size, into scratch folders. The difference between the runs is the time of that share of the steps; what is left of
the short run is the stage's setup (data, cleaning, loading, saving). Prints each stage's projection and the whole
recipe's against the 90 minutes it is meant to take. Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_S = 90 * 60
STEP_FIELDS = {"encoders": ("shape_steps", "steps", "place_steps", "audio_steps"),
               "language": ("steps", "question_steps", "grounding_steps", "sound_steps"),
               "decoder": ("vae_steps", "vae_decoder_steps", "unet_steps")}


def scaled_suite(suite, fraction: float, folder: Path):
    """The recipe with every step count scaled by fraction (at least 1 step; a phase of 0 steps stays off),
    writing into folder."""
    stages = {}
    for name, fields in STEP_FIELDS.items():
        config = getattr(suite, name)
        stages[name] = dataclasses.replace(config, **{f: max(1, round(getattr(config, f) * fraction))
                                                      if getattr(config, f) else 0 for f in fields})
    return dataclasses.replace(suite, out_dir=folder, work_dir=folder / ".work", **stages)


def steps_of(suite) -> int:
    """All the steps the suite's stages take, for the progress line."""
    return sum(getattr(getattr(suite, name), f) for name, fields in STEP_FIELDS.items() for f in fields)


def project(small: dict[str, float], large: dict[str, float], fractions: tuple[float, float]
            ) -> dict[str, tuple[float, float]]:
    """stage -> (setup s, all its steps s) from the seconds of the two runs."""
    projected = {}
    for stage in small:
        steps_s = max(0.0, (large[stage] - small[stage]) / (fractions[1] - fractions[0]))
        projected[stage] = (max(0.0, small[stage] - fractions[0] * steps_s), steps_s)
    return projected


def table(projected: dict[str, tuple[float, float]]) -> str:
    total = sum(setup + steps for setup, steps in projected.values())
    rows = ["| stage | setup s | steps s | total s | share |", "| --- | ---: | ---: | ---: | ---: |"]
    for stage, (setup, steps) in projected.items():
        rows.append(f"| {stage} | {setup:.0f} | {steps:.0f} | {setup + steps:.0f} | {(setup + steps) / total:.0%} |")
    rows.append(f"| **all** | | | **{total:.0f}** ({total / 60:.0f} min) | {total / BUDGET_S:.2f}x the 90 min |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=float, default=0.01, help="share of the recipe's steps in the short run")
    parser.add_argument("--large", type=float, default=0.03, help="share of the recipe's steps in the longer run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if not 0 < args.small < args.large <= 1:
        parser.error(f"need 0 < --small < --large <= 1, got {args.small} and {args.large}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from modules.training.mini import STAGES, train_stages
    from modules.training.suite_config import SuiteConfig
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = SuiteConfig()
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="training-time-") as scratch:
        for fraction in (args.small, args.large):
            suite = scaled_suite(recipe, fraction, Path(scratch) / f"{fraction}")
            print(f"running {steps_of(suite)} steps ({fraction:.1%} of the recipe's) ...", flush=True)
            seconds[fraction] = train_stages(suite, list(STAGES))
    print(f"\n{torch.get_num_threads()} torch threads\n")
    print(table(project(seconds[args.small], seconds[args.large], (args.small, args.large))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
