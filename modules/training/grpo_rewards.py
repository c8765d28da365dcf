"""The think stage's rule-based rewards: a reply scored for its answer, its <think> format and its language."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from ..reasoning import THINK_END, THINK_START, split_reply
from ..world.language import foreign_in, language_of
from .suite_config import RewardWeights


@dataclass(frozen=True)
class ReplyScore:
    """What the rules found in one reply, and its reward."""

    correct: bool          # the answer after </think> passes the question's check
    formatted: bool        # <think>…</think> then a non-empty answer
    in_language: bool      # the whole reply in the question's language
    reward: float


def well_formed(reply: str) -> bool:
    """One <think> opening the reply, one </think> after it, and an answer after that (the thinking may be short;
    the answer may not be empty)."""
    stripped = reply.strip()
    if not stripped.startswith(THINK_START):
        return False
    body = stripped[len(THINK_START):]
    if THINK_START in body or body.count(THINK_END) != 1:
        return False
    return bool(body.partition(THINK_END)[2].strip())


@functools.lru_cache(maxsize=1)
def _latin_names() -> frozenset[str]:
    from ..world.chat import latin_names_in_chinese_answers
    return frozenset(latin_names_in_chinese_answers())


def written_in(reply: str, language: str) -> bool:
    """The reply's words (its tags left out) are all in the language: English with no CJK character; Chinese with
    at least one Chinese character and no Latin word but the studio's names (digits are fine in both)."""
    text = reply.replace(THINK_START, " ").replace(THINK_END, " ").strip()
    if not text:
        return False
    if language == "zh" and language_of(text) != "zh":
        return False
    return not foreign_in(text, language, _latin_names())


def score_reply(reply: str, check: Callable[[str], bool], language: str, weights: RewardWeights) -> ReplyScore:
    """reply: the whole reply as the model wrote it, from the <think> that opened it; check: the question's rule
    (MultiStepItem.check), judged on the answer after </think> only (a malformed reply has no answer to judge)."""
    formatted = well_formed(reply)
    correct = formatted and check(split_reply(reply, final=True).answer)
    in_language = written_in(reply, language)
    reward = weights.correct * correct + weights.format * formatted + weights.language * in_language
    return ReplyScore(correct, formatted, in_language, float(reward))
