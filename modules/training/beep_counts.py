"""How often a suite counts beeps right, per language: `python -m modules.training.beep_counts [--out FOLDER]`."""
from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from pathlib import Path

from .corpus import every_sound_content_for
from ..world.sounds import COUNT_WORDS_EN, COUNT_WORDS_ZH, Sound, synthesize


def beep_sounds(per_content: int, seed: int) -> list[Sound]:
    """`per_content` held-out (test split) sounds of every pitch, timbre and count of beeps (24 contents), each with
    its own random variation: no training phase heard them."""
    return [s for s in every_sound_content_for("test", per_content, seed) if s.kind == "beeps"]


def count_heard(answer: str, lang: str) -> int | None:
    """The one beep count an answer names ("Three high pure beeps.", 这是三声…), else None (a tone, a sweep)."""
    if lang == "en":
        named = [n for n, word in COUNT_WORDS_EN.items() if re.search(rf"\b{word}\b", answer.lower())]
    else:
        named = [n for n, word in COUNT_WORDS_ZH.items() if f"{word}声" in answer]
    return named[0] if len(named) == 1 else None


def confusions(suite, sounds: list[Sound], lang: str, question: str) -> Counter:
    """(count, count heard or None) -> how many sounds, asking the suite (evaluate.Suite) `question` about each."""
    heard = Counter()
    for sound in sounds:
        answer = suite.answer(question, "audio", suite.audio_encoder.encode(synthesize(sound)))
        heard[(sound.count, count_heard(answer, lang))] += 1
    return heard


def report(lang: str, heard: Counter) -> str:
    right = sum(n for (count, said), n in heard.items() if count == said)
    wrong = sorted(((count, said), n) for (count, said), n in heard.items() if count != said and said)
    unnamed = sum(n for (count, said), n in heard.items() if said is None)
    misses = ", ".join(f"{count} as {said}: {n}" for (count, said), n in wrong) or "none"
    return (f"{lang}: {right} of {sum(heard.values())} right; heard as another count: {misses}; "
            f"no count named (a tone or a sweep): {unnamed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.training.beep_counts", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="the suite's folder (default assets/mini)")
    parser.add_argument("--per-content", type=int, default=10, help="sounds of each pitch, timbre and count")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the sounds' variations")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .evaluate import DESCRIBE_SOUND, Suite
    from .suite_config import SuiteConfig
    suite = Suite.load(args.out or SuiteConfig().out_dir)
    sounds = beep_sounds(args.per_content, args.seed)
    for lang, question in DESCRIBE_SOUND.items():
        print(report(lang, confusions(suite, sounds, lang, question)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
