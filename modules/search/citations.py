"""An answer with its sources, as a person reads it (Markdown): the [n] the model wrote link to page n, and the
numbered sources are listed under the answer (a page's title linked to its address, a document's file name and
the passage the model was given)."""
from __future__ import annotations

import re

from ..contracts import Source

QUOTE_CHARS = 160
HEADINGS = {"en": "Sources", "zh": "来源"}


def _escaped(text: str) -> str:
    return re.sub(r"([\[\]\\`*_<>|])", r"\\\1", text)


def link_citations(answer: str, sources: list[Source]) -> str:
    """[n] written by the model -> a link to source n's address (pages); [n] of a document stays as written."""
    addresses = {s.number: s.address for s in sources if s.address}

    def linked(match: re.Match) -> str:
        address = addresses.get(int(match.group(1)))
        return f"[[{match.group(1)}]](<{address}>)" if address else match.group(0)

    return re.sub(r"(?<!\[)\[(\d{1,2})\](?![(\]])", linked, answer)


def source_line(source: Source) -> str:
    if source.address:
        return f"[{source.number}] [{_escaped(source.title)}](<{source.address}>) — {source.address}"
    quote = " ".join(source.text.split())
    quote = quote if len(quote) <= QUOTE_CHARS else quote[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
    return f"[{source.number}] **{_escaped(source.title)}** — “{_escaped(quote)}”"


def sources_list(sources: list[Source], language: str = "en") -> str:
    """The numbered sources under a heading, to follow an answer ("" when there are none)."""
    if not sources:
        return ""
    listed = "  \n".join(source_line(s) for s in sources)
    return f"\n\n**{HEADINGS.get(language, HEADINGS['en'])}**  \n{listed}"


def with_sources(answer: str, sources: list[Source], language: str = "en") -> str:
    """The answer, its citations linked, then the numbered sources (nothing added when there are none)."""
    return link_citations(answer, sources) + sources_list(sources, language) if sources else answer
