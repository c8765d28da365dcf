"""Documents as plain text and passages: txt, md, html (the standard library's html.parser) and pdf (pypdf), cut
into chunks of about CHUNK_CHARS characters along paragraphs, each with the heading it sits under."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
CHUNK_CHARS = 700             # a passage: a few paragraphs, small enough for a small model's context
_SKIPPED_TAGS = {"script", "style", "noscript", "template", "svg", "head"}
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table",
               "pre", "blockquote", "header", "footer", "ul", "ol", "dd", "dt"}


class DocumentError(ValueError):
    """A document that cannot be read: the message names the file and why."""


@dataclass(frozen=True)
class Chunk:
    heading: str                  # the section the passage sits under ("" before the first heading)
    text: str


class _PageText(HTMLParser):
    """Collects a page's title and visible text, one line per block element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title, self.lines, self._skipping, self._in_title, self._line = "", [], 0, False, []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in _BLOCK_TAGS:
            self._end_line(blank=tag in ("p", "h1", "h2", "h3", "h4", "section", "article"))
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self._line.append("#" * int(tag[1]) + " ")

    def handle_endtag(self, tag):
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCK_TAGS:
            self._end_line(blank=tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6"))

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self._line.append(data)

    def _end_line(self, blank: bool) -> None:
        line = " ".join("".join(self._line).split())
        if line.strip("# "):
            self.lines.append(line)
        if blank and self.lines and self.lines[-1]:
            self.lines.append("")
        self._line = []

    def text(self) -> str:
        self._end_line(blank=False)
        return "\n".join(self.lines).strip()


def html_text(markup: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page; headings kept as Markdown '#' lines so chunks know their section."""
    parser = _PageText()
    parser.feed(markup)
    parser.close()
    return " ".join(parser.title.split()), parser.text()


def pdf_text(data: bytes, name: str) -> str:
    """The text of every page of a PDF, pages apart by a blank line."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(f"'{name}' is an encrypted PDF; send it without a password")
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise DocumentError(f"'{name}' could not be read as a PDF ({error})") from None


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else Latin-1, which never fails."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_document(path: str | Path, max_bytes: int) -> str:
    """The text of a txt, md, html or pdf file; DocumentError naming the file for any other kind or a bad file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        raise DocumentError(f"'{path.name}' is not a document we read; documents: {', '.join(DOCUMENT_SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(f"'{path.name}' is {size:,} bytes; the limit is {max_bytes:,}")
        data = path.read_bytes()
    except OSError as error:
        raise DocumentError(f"'{path.name}' could not be read ({error.strerror or error})") from None
    if suffix == ".pdf":
        return pdf_text(data, path.name)
    text = decode_text(data)
    return html_text(text)[1] if suffix in (".html", ".htm") else text


def chunks(text: str, size: int = CHUNK_CHARS) -> list[Chunk]:
    """Paragraphs packed into passages of at most about `size` characters; a longer paragraph is cut at sentence
    or word ends. Markdown headings start a new passage and name the ones under them."""
    passages, heading, current = [], "", []

    def close() -> None:
        body = "\n".join(current).strip()
        if body:
            passages.append(Chunk(heading, body))
        current.clear()

    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        first = paragraph.splitlines()[0] if paragraph else ""
        if re.match(r"^#{1,6}\s", first):
            close()
            heading = first.lstrip("#").strip()
            paragraph = paragraph[len(first):].strip()
        for piece in _pieces(paragraph, size):
            if current and sum(len(p) + 1 for p in current) + len(piece) > size:
                close()
            current.append(piece)
    close()
    return passages


def _pieces(paragraph: str, size: int) -> list[str]:
    """A paragraph as pieces of at most `size` characters, cut after a sentence where it can be, else a word."""
    pieces = []
    while len(paragraph) > size:
        window = paragraph[:size]
        cut = max(window.rfind(". "), window.rfind("。"), window.rfind("\n"))
        cut = cut + 1 if cut > size // 3 else (window.rfind(" ") if window.rfind(" ") > size // 3 else size)
        pieces.append(paragraph[:cut].strip())
        paragraph = paragraph[cut:].strip()
    return pieces + ([paragraph] if paragraph else [])
