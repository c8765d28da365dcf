"""The Search switch's provider and a conversation's documents behind one call: find(question, documents, web)
-> (query, sources, notices). The configured provider is SearXNG when a URL is set, else the local index of the
documents the studio is pointed at (built on first use); uploaded documents get an index of their own each time."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from ..contracts import InputError, Source
from .documents import DocumentError
from ..fetch import FetchPolicy
from .local_index import LocalIndex
from .query import make_query
from .searxng import SearchUnavailable, SearxngSearch
from .settings import SearchConfig

log = logging.getLogger(__name__)


class Provider(Protocol):
    name: str

    def search(self, query: str, limit: int) -> list[Source]: ...


def documents_index(paths, max_bytes: int) -> LocalIndex:
    """An index of files and folders (folders read recursively)."""
    index = LocalIndex()
    for path in map(Path, paths):
        if path.is_dir():
            index.add_folder(path, max_bytes)
        else:
            index.add_file(path, max_bytes)
    return index


def interleave(groups: list[list[Source]], limit: int) -> list[Source]:
    """The first of each group, then the second of each, … up to `limit`."""
    merged = []
    for rank in range(max((len(g) for g in groups), default=0)):
        merged += [g[rank] for g in groups if rank < len(g)]
    return merged[:limit]


class Searcher:
    def __init__(self, config: SearchConfig, max_document_bytes: int):
        self.config, self.max_document_bytes = config, max_document_bytes
        self._provider: Provider | None = None
        self._lock = threading.Lock()

    def provider(self) -> Provider:
        with self._lock:
            if self._provider is None:
                policy = FetchPolicy(self.config.timeout_s, self.config.max_page_bytes, self.config.allow_private)
                self._provider = (SearxngSearch(self.config.url, policy) if self.config.url else
                                  documents_index(self.config.document_paths(), self.max_document_bytes))
            return self._provider

    def describe(self) -> str:
        """Where the switch searches, for the trace and the docs: 'SearXNG at URL' or 'documents: a, b'."""
        if self.config.url:
            return f"SearXNG at {self.config.url}"
        return "documents: " + ", ".join(Path(p).name for p in self.config.document_paths())

    def find(self, question: str, documents: list[str], web: bool) -> tuple[str, list[Source], list[str]]:
        """Sources for the question from the uploaded documents and, when `web`, the configured provider."""
        query, groups, notices, limit = make_query(question), [], [], self.config.results
        if documents:
            try:
                groups.append(documents_index(documents, self.max_document_bytes).search(query, limit))
            except DocumentError as error:
                raise InputError(f"{error}.") from None
        if web:
            try:
                groups.append(self.provider().search(query, limit))
            except SearchUnavailable as error:
                log.warning("search failed: %s", error)
                notices.append(f"Search failed: {error}. The answer is given without web results.")
            except DocumentError as error:
                notices.append(f"Search failed: a configured document cannot be read: {error}.")
        sources = interleave(groups, limit)
        if not sources and not notices:
            notices.append(f"Search found nothing for “{query}”; the answer is given without sources.")
        return query, sources, notices
