"""Studio questions asked with Search on: the user's turn is made exactly as the studio makes it (its searcher over
its own documentation, make_query, fit_sources, sources_turn) and the answer is the studio answer citing, as "[n]",
the first source whose text mentions the question's topic."""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Callable

from ..config import Limits
from ..contracts import Source
from ..search.prompt import fit_sources, sources_turn
from ..search.searcher import Searcher
from ..search.settings import SearchConfig
from .exchange import Exchange
from .studio import StudioFacts, studio_exchange

# A source "mentions" a topic when its text holds one of these (case-insensitive): the docs are mostly English,
# so a Chinese question cites the same passages an English one would.
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "experts": ("expert", "专家"),
    "active experts": ("expert", "专家"),
    "layers": ("layer", "层"),
    "parameters": ("parameter", "参数"),
    "architecture": ("deepseek", "architecture", "架构"),
}


def cited_number(sources: list[Source], topic: str) -> int | None:
    """The number of the first source whose text mentions the topic (TOPIC_WORDS); None when none does."""
    if topic not in TOPIC_WORDS:
        raise ValueError(f"unknown studio topic {topic!r}; valid: {list(TOPIC_WORDS)}")
    words = TOPIC_WORDS[topic]
    return next((s.number for s in sources if any(w in s.text.lower() for w in words)), None)


def citing(answer: str, number: int | None, lang: str) -> str:
    """"answer [n]" (English), "answer[n]" (Chinese); the answer alone when nothing is cited."""
    if number is None:
        return answer
    return f"{answer}[{number}]" if lang == "zh" else f"{answer} [{number}]"


class StudioSearchTurns:
    """exchange(facts, rng, lang, held_out) -> an Exchange whose question is the whole user's turn (sources then
    question). fits: the studio's limit on that turn (search.prompt.fits_context with the model's token count).
    The index is built once; each distinct question is searched and fitted once (the grammar has a few hundred)."""

    def __init__(self, fits: Callable[[str], bool], searcher: Searcher | None = None):
        # no search URL and no documents: the studio's own README.md and docs/, as the Search switch uses them
        self.searcher = searcher or Searcher(SearchConfig(), Limits().max_file_bytes())
        self.fits = fits
        self._turns: dict[str, tuple[str, list[Source]]] = {}    # question -> (user's turn, the sources in it)

    def __len__(self) -> int:
        """Distinct questions searched so far."""
        return len(self._turns)

    def turn(self, question: str) -> tuple[str, list[Source]]:
        """The user's turn the studio gives its model for `question` with Search on, and the sources in it."""
        if question not in self._turns:
            _, found, _ = self.searcher.find(question, [], web=True)   # query: make_query(question)
            sources = fit_sources(found, question, self.fits) if found else []
            self._turns[question] = (sources_turn(sources, question), sources)
        return self._turns[question]

    def exchange(self, facts: StudioFacts, rng: random.Random, lang: str, held_out: bool = False,
                 topic: str | None = None) -> Exchange:
        asked = studio_exchange(facts, rng, lang, held_out, topic)
        turn, sources = self.turn(asked.question)
        return replace(asked, question=turn, answer=citing(asked.answer, cited_number(sources, asked.kind), lang))

