"""Sources given to the language model: a numbered block before the question in the user's turn, the passages cut
(around the first query term) until the turn fits the model's context, the last sources dropped if it still does not."""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

from ..contracts import Source
from .query import query_terms

ANSWER_ROOM = 48              # tokens kept free beside the answer's max_new_tokens (markers, the answer's end)
MIN_PASSAGE_CHARS = 120       # shorter than this a passage says too little: drop the source instead
SHRINK = 0.7                  # each try keeps this share of the passage length


def sources_turn(sources: list[Source], question: str) -> str:
    """The user's turn: the numbered sources, then the question."""
    if not sources:
        return question
    lines = ["[search results; cite a source by its number in brackets, e.g. [1]]"]
    for source in sources:
        where = f" ({source.address})" if source.address else ""
        lines.append(f"[{source.number}] {source.title}{where}: {' '.join(source.text.split())}")
    lines.append("[end of search results]")
    return "\n".join(lines) + "\n\n" + question


def excerpt(text: str, question: str, chars: int) -> str:
    """At most `chars` characters of `text`, around the first place a term of the question appears."""
    text = " ".join(text.split())
    if len(text) <= chars:
        return text
    found = [m.start() for term in query_terms(question)
             if (m := re.search(re.escape(term), text, re.IGNORECASE))]
    start = max(0, min(found, default=0) - chars // 4)
    start = text.rfind(" ", 0, start) + 1 if start else 0
    piece = text[start:start + chars].rsplit(" ", 1)[0] if start + chars < len(text) else text[start:]
    return ("…" if start else "") + piece + ("…" if start + len(piece) < len(text) else "")


def fit_sources(sources: list[Source], question: str, fits: Callable[[str], bool]) -> list[Source]:
    """The sources, their passages shortened and the last ones dropped, until `fits(sources_turn(…))`; renumbered
    1..n in order. [] when not even one short passage fits."""
    kept = [dataclasses.replace(s, number=k) for k, s in enumerate(sources, 1)]
    while kept:
        chars = max(MIN_PASSAGE_CHARS, *(len(s.text) for s in kept))     # first try: the passages whole
        while chars >= MIN_PASSAGE_CHARS:
            trimmed = [dataclasses.replace(s, text=excerpt(s.text, question, chars)) for s in kept]
            if fits(sources_turn(trimmed, question)):
                return trimmed
            chars = int(chars * SHRINK)
        kept = kept[:-1]
    return []


def fits_context(count_turn: Callable[[str], int], context_length: int, max_new_tokens: int) -> Callable[[str], bool]:
    """fit_sources' `fits`: the user's turn (counted by `count_turn`, in the model's prompt) leaves room for an
    answer of max_new_tokens in context_length; the studio and the recipe's search turns both measure this way."""
    budget = context_length - max_new_tokens - ANSWER_ROOM
    return lambda turn: count_turn(turn) <= budget
