"""How long the recipe's studio questions with search sources take to make, and how many tokens they take.

Usage: python bench/studio_search_turns.py [--count 2000]
Draws `count` studio questions with Search on as the language stage draws them (lm_data.search_turns with the
shipped tokenizer and the stage's context) and prints, per language: the share with sources and with a citation,
and the tokens of the user's turn (as the studio counts it for fit_sources) and of the whole training sequence
(ChatTokens, answer included), min / mean / max; then the seconds it all took. Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    from modules.training.lm_data import ChatTokens, Example, search_turns
    from modules.training.model_facts import stage_facts
    from modules.training.suite_config import LanguageStage

    tokenizer = AutoTokenizer.from_pretrained(str(ROOT / "assets" / "mini" / "language_model"))
    started = time.perf_counter()
    turns, rng, facts = search_turns(tokenizer, LanguageStage().context), random.Random(0), stage_facts()
    drawn = [turns.exchange(facts, rng, lang) for lang in rng.choices(["en", "zh"], k=args.count)]
    seconds = time.perf_counter() - started
    chat = ChatTokens(tokenizer, 1, 1)
    print(f"{'lang':<5}{'n':>6}{'sourced':>9}{'cited':>7}{'turn tokens':>18}{'sequence tokens':>18}")
    for lang in ("en", "zh"):
        mine = [e for e in drawn if e.language == lang]
        turn = [len(tokenizer.encode(tokenizer.apply_chat_template([{"role": "user", "content": e.question}],
                tokenize=False, add_generation_prompt=True), add_special_tokens=False)) for e in mine]
        whole = [len(chat.encode(Example(None, [(e.question, e.answer)]))[0]) for e in mine]
        sourced = sum(e.question.startswith("[search results;") for e in mine) / len(mine)
        cited = sum(e.answer.endswith("]") for e in mine) / len(mine)
        print(f"{lang:<5}{len(mine):>6}{sourced:>9.2f}{cited:>7.2f}{span(turn):>18}{span(whole):>18}")
    print(f"{args.count} examples ({len(turns)} distinct questions) made in {seconds:.1f} s, index included")
    return 0


def span(values: list[int]) -> str:
    return f"{min(values)}/{sum(values) / len(values):.0f}/{max(values)}"


if __name__ == "__main__":
    raise SystemExit(main())
