"""Search with sources (联网搜索): a question becomes a query, a provider finds passages, the model is given them
numbered and the answer cites them. Providers: a local full-text index of documents (SQLite FTS5, the offline
default: the studio's own documentation) and a SearXNG instance (its JSON API, the pages it lists fetched with
time, size and address limits). docs/search.md describes it for people."""
from __future__ import annotations

from .settings import SearchConfig

__all__ = ["SearchConfig"]
