"""The SearXNG provider: the instance's JSON API (`/search?q=…&format=json`, which its settings must enable) lists
results; the top ones are fetched in parallel and each gives the passage of its text that best matches the query,
or SearXNG's own snippet when the page cannot be fetched or read."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from ..contracts import Source
from .documents import decode_text, html_text, pdf_text
from ..fetch import FetchError, FetchPolicy, fetch
from .local_index import LocalIndex


class SearchUnavailable(RuntimeError):
    """The search engine could not be asked; the message says which and why."""


class SearxngSearch:
    name = "SearXNG"

    def __init__(self, url: str, policy: FetchPolicy):
        self.url, self.policy = url.rstrip("/"), policy

    def search(self, query: str, limit: int) -> list[Source]:
        results = self._results(query)[:limit]
        with ThreadPoolExecutor(max_workers=max(1, len(results))) as pool:
            return list(pool.map(lambda result: self._source(result, query), results))

    def _results(self, query: str) -> list[dict]:
        address = f"{self.url}/search?{urlencode({'q': query, 'format': 'json'})}"
        try:
            answer = fetch(address, self.policy, accept="application/json")
            results = json.loads(decode_text(answer.data)).get("results")
        except FetchError as error:
            hint = " (is `json` among search.formats in its settings.yml?)" if "403" in str(error) else ""
            raise SearchUnavailable(f"the SearXNG instance at {self.url} did not answer: {error}{hint}") from None
        except (ValueError, AttributeError):
            raise SearchUnavailable(f"the SearXNG instance at {self.url} did not answer with JSON results") from None
        if not isinstance(results, list):
            raise SearchUnavailable(f"the SearXNG instance at {self.url} answered without a results list")
        return [r for r in results if isinstance(r, dict) and isinstance(r.get("url"), str)
                and r["url"].startswith(("http://", "https://"))]

    def _source(self, result: dict, query: str) -> Source:
        """The page's best passage for the query, else SearXNG's snippet."""
        address, snippet = result["url"], " ".join(str(result.get("content") or "").split())
        title = " ".join(str(result.get("title") or "").split())
        try:
            page_title, text = page_text(fetch(address, self.policy))
        except FetchError:
            page_title, text = "", ""
        passage = best_passage(text, query) if text else ""
        return Source(0, title or page_title or address, address, passage or snippet, "page")


def page_text(page) -> tuple[str, str]:
    """(title, text) of a fetched page: HTML, plain text or PDF; other kinds give no text."""
    if page.content_type in ("text/html", "application/xhtml+xml"):
        return html_text(page.data.decode(page.charset or "utf-8", errors="replace"))
    if page.content_type.startswith("text/"):
        return "", page.data.decode(page.charset or "utf-8", errors="replace")
    if page.content_type == "application/pdf" and not page.truncated:
        try:
            return "", pdf_text(page.data, page.url)
        except ValueError:
            return "", ""
    return "", ""


def best_passage(text: str, query: str) -> str:
    """The passage of `text` that ranks first for `query` (BM25 over its own chunks); its start when none matches."""
    index = LocalIndex()
    index.add_text("page", text)
    found = index.search(query, 1)
    return found[0].text if found else text[:700].strip()
