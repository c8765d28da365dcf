"""The local index: passages of documents in an SQLite FTS5 table (Porter stemming, CJK by characters), ranked by
BM25. One index holds the documents the studio is pointed at; each request's uploaded documents get a small one."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..contracts import Source
from .documents import DOCUMENT_SUFFIXES, chunks, read_document
from .query import fts_match, spaced


def fts5_available() -> bool:
    try:
        sqlite3.connect(":memory:").execute("create virtual table probe using fts5(x)")
        return True
    except sqlite3.OperationalError:
        return False


class LocalIndex:
    """search(query, limit) -> passages as Sources (number 0: the caller numbers them), best first."""

    name = "documents"

    def __init__(self):
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("create virtual table passages using fts5(title unindexed, address unindexed, "
                         "original unindexed, body, tokenize = 'porter unicode61 remove_diacritics 2')")
        self._lock = threading.Lock()
        self.files: list[str] = []

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("select count(*) from passages").fetchone()[0]

    def add_text(self, title: str, text: str, address: str = "") -> int:
        """Index a text's passages under `title`; returns how many passages it made."""
        rows = []
        for chunk in chunks(text):
            shown = f"{title} — {chunk.heading}" if chunk.heading else title
            rows.append((shown, address, chunk.text, spaced(f"{chunk.heading}\n{chunk.text}")))
        with self._lock:
            self._db.executemany("insert into passages values (?, ?, ?, ?)", rows)
        return len(rows)

    def add_file(self, path: str | Path, max_bytes: int, title: str | None = None) -> int:
        path = Path(path)
        count = self.add_text(title or path.name, read_document(path, max_bytes))
        self.files.append(path.name)
        return count

    def add_folder(self, folder: str | Path, max_bytes: int) -> int:
        """Every document under `folder` (recursively), named by its path from the folder's name on (docs/a.md)."""
        folder = Path(folder).resolve()
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
        return sum(self.add_file(p, max_bytes, p.relative_to(folder.parent).as_posix()) for p in files)

    def search(self, query: str, limit: int) -> list[Source]:
        match = fts_match(query)
        if match is None or limit < 1:
            return []
        with self._lock:
            rows = self._db.execute("select title, address, original from passages where body match ? "
                                    "order by bm25(passages) limit ?", (match, limit)).fetchall()
        return [Source(0, title, address, text, "page" if address else "document") for title, address, text in rows]
