"""Evaluation of questions as people type them, on the shipped suite: trained wordings beside held-out wordings, in
English and Chinese: pictures, sounds, the studio's own model (also asked with Search on: the answer must cite the
source that mentions its topic), refusals, greetings, and the answer's language with
and without the language guard. Prints a table with the bars; `python -m modules.training.evaluate_talk`, and
`mini eval` keeps the same report in metrics.json under "talk"."""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..contracts import GenerationSettings
from ..search.prompt import fits_context
from ..language_model import GenerationStats
from ..reasoning import split_reply
from ..world.chat import conversation_exchange, latin_names_in_chinese_answers
from ..world.exchange import Exchange
from ..world.language import foreign_in, language_of
from ..world.off_world import out_of_world_exchange
from ..world.pictures import render_scene
from ..world.sounds import synthesize
from ..world.studio import studio_exchange
from ..world.studio_search import StudioSearchTurns
from ..world.talk import missing_media_exchange, picture_question, sound_exchange
from .corpus import scenes_for, sounds_for
from .evaluate import Suite, normalise
from .model_facts import facts_of_config
from .suite_config import SuiteConfig

BARS = {"picture_qa": 0.90, "studio": 0.90, "outside_refused": 0.95, "inside_not_refused": 0.99,
        "language_without_guard": 0.995, "language_with_guard": 1.00}
WORDINGS = ("trained", "held_out")
MEASURES = ("picture_qa", "sound_qa", "studio", "studio_search", "conversation", "greeting_answered",
            "no_media_asked_for", "outside_refused", "inside_not_refused", "language_without_guard",
            "language_with_guard")   # table rows
MAX_GAP_POINTS = 5.0          # held-out wordings at most this far below trained ones, as the outside columns
SEED = 11
CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass
class Asked:
    """One question put to the model, what it answered (without and with the guard), and how it is judged."""

    exchange: Exchange
    media: str | None                 # "image" | "audio" | None
    encoded: object                   # the picture's or sound's encoding; None for text alone
    measure: str                      # which row it counts in
    wording: str                      # "trained" | "held_out"
    answer: str = ""
    guarded: str = ""
    round: int = 0                    # which of the cell's `limit` rounds asked it (the first ones: with the guard)


@dataclass
class Tally:
    right: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)   # (measure, lang, wording) -> [k, n]

    def add(self, measure: str, lang: str, wording: str, ok: bool) -> None:
        cell = self.right.setdefault((measure, lang, wording), [0, 0])
        cell[0], cell[1] = cell[0] + bool(ok), cell[1] + 1

    def share(self, measure: str, lang: str, wording: str) -> float | None:
        k, n = self.right.get((measure, lang, wording), (0, 0))
        return k / n if n else None


def answer(suite: Suite, asked: Asked, keep_language: bool) -> str:
    settings = GenerationSettings(temperature=0.0, max_new_tokens=64, keep_language=keep_language)
    kind = asked.media
    prefix = None if kind is None else suite.bridge.prefix(kind, asked.encoded.tokens, asked.encoded.embedding)
    content = (f"<|{kind}|>" if kind else "") + asked.exchange.question
    text = ""
    for text in suite.language_model.stream([{"role": "user", "content": content}], settings, GenerationStats(),
                                            kind, prefix):
        pass
    return split_reply(text, final=True).answer


def search_turns(suite: Suite) -> StudioSearchTurns:
    """Studio questions with the sources the studio would give this model (fitted as Pipeline._fit_sources fits
    them at the studio's default max_new_tokens, thinking off)."""
    lm = suite.language_model

    def count(turn: str) -> int:
        return lm.count_tokens([{"role": "user", "content": turn}])

    return StudioSearchTurns(fits_context(count, lm.context_length, GenerationSettings().max_new_tokens))


def questions(suite: Suite, limit: int) -> list[Asked]:
    """`limit` questions of each measure, language and wording set: pictures and sounds of the test split."""
    facts = facts_of_config(suite.language_model.model.config)
    searched = search_turns(suite)
    scenes, sounds = scenes_for("test", limit, SEED), sounds_for("test", limit, SEED)
    seen = [suite.image_encoder.encode(render_scene(s)) for s in scenes]
    heard = [suite.audio_encoder.encode(synthesize(s)) for s in sounds]
    asked: list[Asked] = []
    for wording in WORDINGS:
        held = wording == "held_out"
        for lang in ("en", "zh"):
            rng = random.Random(f"talk-{wording}-{lang}-{SEED}")
            search_rng = random.Random(f"talk-search-{wording}-{lang}-{SEED}")    # the other rows stay as they were
            no_media_rng = random.Random(f"talk-no-media-{wording}-{lang}-{SEED}")
            for k in range(limit):
                rows = [
                    Asked(picture_question(scenes[k], lang, rng, held_out=held), "image", seen[k], "picture_qa",
                          wording),
                    Asked(sound_exchange(sounds[k], lang, rng, held), "audio", heard[k], "sound_qa", wording),
                    Asked(studio_exchange(facts, rng, lang, held), None, None, "studio", wording),
                    Asked(conversation_exchange(rng, lang, held), None, None, "conversation", wording),
                    Asked(out_of_world_exchange(rng, lang, held), None, None, "outside_refused", wording),
                    Asked(searched.exchange(facts, search_rng, lang, held), None, None, "studio_search", wording),
                    Asked(missing_media_exchange(no_media_rng, lang, held), None, None, "no_media_asked_for",
                          wording)]
                asked += [dataclasses.replace(row, round=k) for row in rows]
    return asked


def refused(text: str) -> bool:
    """The out-of-world answer says how to switch to a hub profile: that is what marks it."""
    return "hub-cpu" in text or "--profile" in text


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


def studio_right(text: str, expected: str, lang: str) -> bool:
    """A studio answer holding every true number, in the question's language."""
    return all(n in numbers(text) for n in numbers(expected)) and language_of(text) == lang


def right(asked: Asked, text: str) -> bool:
    """Judged as the main eval judges: an exact answer (normalised); a sound's description held in the answer;
    a studio answer holding every true number (with Search on: also citing the expected [n] and no other, or
    nothing when no source mentions the topic); an out-of-world question refused."""
    e = asked.exchange
    if asked.measure == "outside_refused":
        return refused(text)
    if asked.measure == "studio":
        return studio_right(text, e.answer, e.language)
    if asked.measure == "studio_search":
        return (studio_right(CITATION.sub("", text), CITATION.sub("", e.answer), e.language)
                and set(CITATION.findall(text)) == set(CITATION.findall(e.answer)))
    if asked.measure == "sound_qa" and e.kind == "describe":
        return e.answer.rstrip(".。").removeprefix("这是").lower() in text.lower()
    return normalise(text) == normalise(e.answer)


def stays(text: str, lang: str, question: str, names: set[str]) -> bool:
    """The answer is in the language of its question from its first character to its last."""
    allowed = names | {w for w in re.findall(r"[A-Za-z0-9-]+", question)}
    return not foreign_in(text, lang, allowed) and (lang == "en" or language_of(text) == "zh")


def tally(asked: list[Asked]) -> Tally:
    names, t = latin_names_in_chinese_answers(), Tally()
    for a in asked:
        lang, e = a.exchange.language, a.exchange
        t.add(a.measure, lang, a.wording, right(a, a.answer))
        if a.measure != "outside_refused":
            t.add("inside_not_refused", lang, a.wording, not refused(a.answer))
        if len(e.wording) >= 2 and e.wording[-2] != "{q}" and a.measure != "outside_refused":
            t.add("greeting_answered", lang, a.wording, right(a, a.answer))
        t.add("language_without_guard", lang, a.wording, stays(a.answer, lang, e.question, names))
        if a.guarded:
            t.add("language_with_guard", lang, a.wording, stays(a.guarded, lang, e.question, names))
    return t


def format_table(t: Tally) -> str:
    columns = [(lang, w) for lang in ("en", "zh") for w in WORDINGS]
    head = f"{'measure':<24}" + "".join(f"{lang + ' ' + w:>14}" for lang, w in columns) + f"{'bar':>7}"
    lines = [head, "-" * len(head)]
    for m in MEASURES:
        cells = [t.share(m, lang, w) for lang, w in columns]
        bar = BARS.get(m)
        lines.append(f"{m:<24}" + "".join(f"{'-' if c is None else f'{c:.3f}':>14}" for c in cells)
                     + f"{'' if bar is None else f'{bar:.3f}':>7}")
    return "\n".join(lines)


def measure_talk(suite: Suite, limit: int, guarded_share: float = 0.3) -> dict:
    """Asks every question without the guard, and the first `guarded_share` of each cell again with it: the
    report that metrics.json keeps under "talk" (shares by measure, language and wording; bars; wrong answers)."""
    started = time.time()
    asked = questions(suite, limit)
    for a in asked:
        a.answer = answer(suite, a, keep_language=False)
        if a.round < max(1, round(limit * guarded_share)):
            a.guarded = answer(suite, a, keep_language=True)
    t = tally(asked)
    result = {f"{m}_{lang}_{w}": t.share(m, lang, w) for (m, lang, w) in t.right}
    examples = [{"question": a.exchange.question, "expected": a.exchange.answer, "answer": a.answer,
                 "guarded": a.guarded, "wording": a.wording} for a in asked if not right(a, a.answer)][:40]
    return {"limit": limit, "bars": BARS, "max_gap_points": MAX_GAP_POINTS, "metrics": result,
            "tallies": [[m, lang, w, k, n] for (m, lang, w), (k, n) in t.right.items()],
            "wrong_examples": examples, "questions": len(asked), "seconds": round(time.time() - started, 1)}


def talk_bars_met(report: dict) -> bool:
    """Every barred measure at its bar in the held-out wordings of both languages, and no more than
    MAX_GAP_POINTS below the trained wordings."""
    metrics = report["metrics"]
    for measure, bar in report["bars"].items():
        for lang in ("en", "zh"):
            held, trained = metrics.get(f"{measure}_{lang}_held_out"), metrics.get(f"{measure}_{lang}_trained")
            if held is None or held < bar or (trained is not None and 100 * (trained - held) > MAX_GAP_POINTS):
                return False
    return True


def format_report(report: dict) -> str:
    """The talk report as the table format_table prints."""
    return format_table(Tally({(m, lang, w): [k, n] for m, lang, w, k, n in report["tallies"]}))


def run(folder: Path, limit: int, guarded_share: float = 0.3) -> dict:
    report = measure_talk(Suite.load(folder), limit, guarded_share)
    print(format_report(report))
    print(f"{report['questions']} questions, {report['seconds']} s")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=50, help="questions per measure, language and wording set")
    parser.add_argument("--out", type=Path, default=Path(SuiteConfig().out_dir), help="the suite's folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    report = run(args.out, args.limit)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
