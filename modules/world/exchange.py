"""One question of the world's talk and the answer the model should give, with what it is about."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exchange:
    """One question (possibly about a picture or sound) and the answer the model should give."""

    question: str
    answer: str
    language: str                 # "en" | "zh"
    kind: str = ""                # for a question about a picture: which kind (picture_question's names)
    about: tuple[str, ...] | None = None   # for a question about a picture: the places of the objects that decide
                                           # the answer (empty: none is there); None: no such places (a count)
    described: tuple[str, ...] | None = None   # for a caption: the place of each object, in the order it is named
    wording: tuple[str, ...] = ()  # the grammar's options the question was made of (template, slots, frames)

