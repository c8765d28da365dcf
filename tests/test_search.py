"""Search's parts on their own: documents of every kind found by what they say, the question as a query, fetches
that keep to http(s), their time and size limits and public addresses, the SearXNG provider against a local stub,
and sources fitted into the turn and listed under the answer."""
from __future__ import annotations

import time

import pytest

from modules.contracts import Source
from modules.search.citations import with_sources
from modules.search.documents import html_text, read_document
from modules.fetch import FetchError, FetchPolicy, _GuardedHTTP, fetch
from modules.search.local_index import LocalIndex, fts5_available
from modules.search.prompt import fit_sources, sources_turn
from modules.search.query import fts_match, make_query
from modules.search.searcher import Searcher
from modules.search.searxng import SearxngSearch
from modules.search.settings import SearchConfig
from tests.stub_servers import SLOW_S, searxng_route, serve

LOCAL = FetchPolicy(timeout_s=1.5, max_bytes=100_000, allow_private=True)


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF whose page shows `lines` in Helvetica (offsets in the xref table computed, as readers want)."""
    stream = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               "/Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    return out + f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "library"
    (folder / "notes").mkdir(parents=True)
    (folder / "tea.txt").write_text("Green tea is steeped at 80 degrees for two minutes.\n", encoding="utf-8")
    (folder / "notes" / "boats.md").write_text("# Boats\n\nA catamaran has two hulls.\n\n## Sails\n\n"
                                               "A junk rig has battened sails.\n", encoding="utf-8")
    (folder / "zebra.html").write_text("<html><head><title>Zebra</title><script>var hidden = 'okapi';</script>"
                                       "</head><body><p>The zebra parser reads striped tables.</p></body></html>")
    (folder / "moon.pdf").write_bytes(pdf_with_text(["The lunar rover drove 36 kilometres.", "Apollo 17."]))
    (folder / "zh.md").write_text("# 联网搜索\n\n联网搜索会把问题变成查询，并列出带编号的来源。\n", encoding="utf-8")
    (folder / "picture.png").write_bytes(b"not a document")
    return folder


def test_sqlite_here_has_fts5():
    assert fts5_available()


@pytest.mark.parametrize("question, file, words", [
    ("How hot should green tea be?", "library/tea.txt", "80 degrees"),
    ("how many hulls does a catamaran have", "library/notes/boats.md — Boats", "two hulls"),
    ("what rig has battened sails?", "library/notes/boats.md — Sails", "junk rig"),
    ("What reads striped tables?", "library/zebra.html", "zebra parser"),
    ("How far did the lunar rover drive?", "library/moon.pdf", "36 kilometres"),
    ("联网搜索是什么？", "library/zh.md — 联网搜索", "带编号的来源"),
])
def test_each_kind_of_document_is_found_by_what_it_says(library, question, file, words):
    index = LocalIndex()
    assert index.add_folder(library, 1_000_000) == 6            # the picture is not a document
    found = index.search(question, 3)
    assert found[0].title == file and words in found[0].text and found[0].kind == "document"


def test_what_a_page_hides_is_not_indexed_and_unknown_words_find_nothing(library):
    index = LocalIndex()
    index.add_folder(library, 1_000_000)
    assert index.search("okapi", 3) == [] and index.search("xylophone quartz", 3) == []
    assert html_text((library / "zebra.html").read_text()) == ("Zebra", "The zebra parser reads striped tables.")


def test_a_document_too_large_or_of_another_kind_is_refused_by_name(library):
    with pytest.raises(ValueError, match="'tea.txt' is 52 bytes; the limit is 10"):
        read_document(library / "tea.txt", 10)
    with pytest.raises(ValueError, match="'picture.png' is not a document.*.pdf"):
        read_document(library / "picture.png", 1000)


def test_a_question_becomes_the_words_that_carry_it():
    assert make_query("What is the Inspector tab?") == "inspector tab"
    assert make_query("联网搜索是什么？") == "联网搜索"
    assert fts_match("联网搜索是什么？") == '"联 网" OR "网 搜" OR "搜 索"'
    assert make_query("What is it?") == "What is it?"          # nothing but stop words: the question itself


@pytest.mark.parametrize("url, words", [
    ("file:///etc/passwd", "only http and https"), ("ftp://example.org/x", "only http and https"),
    ("http://127.0.0.1:9/", "private or local address"), ("http://localhost:9/", "private or local address"),
    ("http://[::1]:9/", "private or local address"), ("http://10.1.2.3/", "private or local address"),
    ("http://169.254.169.254/latest/meta-data", "private or local address"),
    ("http://[::ffff:127.0.0.1]/", "private or local address"),
])
def test_fetches_keep_to_public_http_addresses(url, words):
    with pytest.raises(FetchError, match=words):
        fetch(url, FetchPolicy(timeout_s=1))


def test_the_connected_address_is_checked_too_so_a_rebound_name_is_refused():
    with serve(searxng_route([])) as (base, seen):
        connection = _GuardedHTTP("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=2)
        connection.policy = FetchPolicy()
        with pytest.raises(FetchError, match="connected to a private or local address"):
            connection.connect()
        assert seen == []                                       # nothing was sent


def test_fetches_end_at_the_time_limit_and_stop_at_the_byte_limit():
    with serve(searxng_route([])) as (base, _):
        started = time.monotonic()
        with pytest.raises(FetchError, match="no answer within 1.5 s"):
            fetch(base + "/slow", LOCAL)
        assert time.monotonic() - started < SLOW_S - 0.5
        big = fetch(base + "/big", LOCAL)
        assert big.truncated and len(big.data) == LOCAL.max_bytes
        assert b"striped tables" in fetch(base + "/redirect", LOCAL).data
        with pytest.raises(FetchError, match="only http and https"):
            fetch(base + "/redirect-to-file", LOCAL)


def test_searxng_results_are_fetched_and_give_their_best_passage_or_their_snippet():
    with serve(searxng_route(["/pages/zebra", "/slow", "/pages/okapi"])) as (base, seen):
        started = time.monotonic()
        found = SearxngSearch(base, LOCAL).search(make_query("What does the zebra parser do?"), 3)
        assert time.monotonic() - started < SLOW_S              # the pages are fetched at once, the slow one cut
    asked = next(r for r in seen if r["path"] == "/search")
    assert asked["query"] == {"q": ["zebra parser"], "format": ["json"]}
    assert [s.title for s in found] == ["Zebra parser handbook", "slow", "Okapi team"]
    assert [s.address for s in found] == [base + "/pages/zebra", base + "/slow", base + "/pages/okapi"]
    assert "striped tables" in found[0].text and "secret" not in found[0].text
    assert found[1].text == "snippet of /slow" and "giraffe linter" in found[2].text


def test_a_private_searxng_needs_the_flag_and_a_failing_one_leaves_a_notice():
    with serve(searxng_route(["/pages/zebra"])) as (base, _):
        _, sources, notices = Searcher(SearchConfig(url=base), 10**6).find("zebra parser?", [], web=True)
        assert sources == [] and "private or local address" in notices[0] and "--search-allow-private" in notices[0]
        allowed = Searcher(SearchConfig(url=base, allow_private=True, timeout_s=1.5), 10**6)
        assert allowed.find("zebra parser?", [], web=True)[1][0].title == "Zebra parser handbook"
    with serve(lambda handler, request: (403, "text/plain", b"forbidden")) as (base, _):
        _, sources, notices = Searcher(SearchConfig(url=base, allow_private=True), 10**6).find("x y", [], True)
        assert sources == [] and "search.formats" in notices[0]


def test_uploaded_documents_and_the_web_take_turns_in_the_numbering(library):
    with serve(searxng_route(["/pages/zebra", "/pages/okapi"])) as (base, _):
        searcher = Searcher(SearchConfig(url=base, allow_private=True, timeout_s=1.5, results=3), 10**6)
        query, sources, notices = searcher.find("who keeps the zebra parser?", [str(library / "zebra.html")], True)
    assert query == "keeps zebra parser" and notices == []
    assert [s.title for s in sources] == ["zebra.html", "Zebra parser handbook", "Okapi team"]


def test_sources_shrink_to_fit_and_the_answer_lists_them_with_working_links():
    long = "filler words " * 60 + "The zebra parser reads striped tables. " + "more filler " * 60
    sources = [Source(0, "Zebra handbook", "https://example.org/zebra", long),
               Source(0, "notes.md", "", "The okapi keeps the zebra parser. " * 10, "document")]
    fitted = fit_sources(sources, "what reads striped tables?", lambda turn: len(turn) < 700)
    assert [s.number for s in fitted] == [1, 2]
    assert "zebra parser reads striped tables" in fitted[0].text and len(sources_turn(fitted, "q")) < 700
    assert fit_sources(sources, "q", lambda turn: len(turn) < 150) == []
    short = [Source(0, "a.md", "", "Short.", "document")]                 # shorter than a trimmed passage
    assert fit_sources(short, "q", lambda turn: True) == [Source(1, "a.md", "", "Short.", "document")]
    shown = with_sources("It reads striped tables [1], kept by the okapi [2] [7].", fitted)
    assert shown.startswith("It reads striped tables [[1]](<https://example.org/zebra>), kept by the okapi [2] [7].")
    assert "[1] [Zebra handbook](<https://example.org/zebra>) — https://example.org/zebra" in shown
    assert "[2] **notes.md** — “" in shown and "The okapi keeps the zebra parser." in shown
