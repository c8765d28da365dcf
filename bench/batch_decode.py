"""Decode throughput of the built-in language model in one process: N answers one after another through each
answer's own loop (eager, and the compiled batch-1 path with --fast) against the same N answers at once through the
shared batch (modules.batch_decode).

Usage: python bench/batch_decode.py [--answers 1 4 8 16] [--tokens 32] [--fast]
Prints, per N, the wall time, tokens per second and the ratio against the eager one-by-one row of the same N, with
the threads and load average it ran under. Greedy answers; the batched ones are checked to equal the one-by-one ones.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.contracts import GenerationSettings  # noqa: E402
from modules.fast_decode import FastDecoder, FastDecodeSettings  # noqa: E402
from modules.language_model import GenerationStats, LanguageModel  # noqa: E402

QUESTIONS = ("Hello", "What is in a picture of a red star?", "What does a shared expert do?",
             "Describe a blue square on a green field.", "什么是共享专家？", "Name three shapes.")


def one(lm: LanguageModel, k: int, settings: GenerationSettings) -> tuple[str, int]:
    stats, text = GenerationStats(), ""
    for text in lm.stream([{"role": "user", "content": QUESTIONS[k % len(QUESTIONS)]}], settings, stats):
        pass
    return text, stats.answer_tokens


def one_by_one(lm: LanguageModel, n: int, settings: GenerationSettings) -> tuple[float, list[tuple[str, int]]]:
    started = time.perf_counter()
    answers = [one(lm, k, settings) for k in range(n)]
    return time.perf_counter() - started, answers


def together(lm: LanguageModel, n: int, settings: GenerationSettings) -> tuple[float, list[tuple[str, int]]]:
    answers: list = [None] * n

    def run(k: int) -> None:
        answers[k] = one(lm, k, settings)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--tokens", type=int, default=32, help="answer cap (max_new_tokens)")
    parser.add_argument("--fast", action="store_true", help="also time the compiled batch-1 path (compiles first)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    lm = LanguageModel.load(str(ROOT / "assets" / "mini" / "language_model"), torch.device("cpu"), torch.float32,
                            experts_implementation="grouped_mm")
    settings = GenerationSettings(max_new_tokens=args.tokens)
    fast = None
    if args.fast:
        fast = FastDecoder(lm.model, FastDecodeSettings(buckets=(128,)))
        fast.warm_up()
    one(lm, 0, settings)                                     # warm-up
    batcher, lm.batcher = lm.start_batch_decode(), None      # switched on only for the batched rows
    rows = []
    for n in args.answers:
        eager_s, reference = one_by_one(lm, n, settings)
        tokens = sum(count for _, count in reference)
        rows.append((n, "one by one, eager", eager_s, tokens, eager_s))
        if fast is not None and fast.state == "ready":
            lm.fast = fast
            fast_s, _ = one_by_one(lm, n, settings)
            lm.fast = None
            rows.append((n, "one by one, compiled", fast_s, tokens, eager_s))
        lm.batcher = batcher
        batch_s, answers = together(lm, n, settings)
        lm.batcher = None
        same = "same" if answers == reference else "DIFFERENT"
        rows.append((n, f"shared batch ({same} answers)", batch_s, tokens, eager_s))
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, torch threads {torch.get_num_threads()}, "
          f"{args.tokens}-token cap, greedy; load average before "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, after {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'answers':>7}  {'path':<34}{'wall s':>9}{'tokens/s':>10}{'× eager':>9}")
    for n, path, seconds, tokens, eager_s in rows:
        print(f"{n:>7}  {path:<34}{seconds:>9.2f}{tokens / seconds:>10.1f}{eager_s / seconds:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
