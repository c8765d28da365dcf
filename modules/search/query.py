"""A question turned into search terms: words that carry meaning (no question words, articles or particles), and
for Chinese, Japanese or Korean runs their character pairs; the same terms give an FTS5 MATCH expression."""
from __future__ import annotations

import re

MAX_TERMS = 16
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_WORD = re.compile(rf"[{CJK}]+|[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_CJK_RUN = re.compile(rf"^[{CJK}]+$")
STOP_WORDS = frozenset("""a an the is are was were be been being am do does did of to in on at by for with from
about as into and or but not no what which who whom whose when where why how that this these those there here it its
i me my we our you your he she they them their can could would should will shall may might must please tell explain
describe show give let us any some much many more most very just also than then so if up out over does""".split())
# particles and question words cut out of a CJK run before it is split into pairs
CJK_STOP = ("是什么", "什么", "怎么", "怎样", "如何", "为什么", "请问", "一下", "哪些", "哪个", "可以", "吗", "呢",
            "吧", "的", "了", "是", "在", "和", "与", "我", "你", "请", "个", "有")


def _cjk_pieces(run: str) -> list[str]:
    for stop in CJK_STOP:
        run = run.replace(stop, " ")
    return run.split()


def query_terms(question: str) -> list[str]:
    """Search terms of a question, in order, without repeats; CJK pieces stay whole (e.g. 联网搜索)."""
    terms: list[str] = []
    for word in _WORD.findall(question.lower()):
        pieces = _cjk_pieces(word) if _CJK_RUN.match(word) else [word]
        for piece in pieces:
            if piece not in STOP_WORDS and piece not in terms:
                terms.append(piece)
    return terms[:MAX_TERMS]


def make_query(question: str) -> str:
    """The query sent to a search engine: its terms joined, or the question itself when every word was a stop word."""
    terms = query_terms(question)
    return " ".join(terms) if terms else " ".join(question.split())[:200]


def spaced(text: str) -> str:
    """CJK characters apart by spaces, so the index's tokenizer sees each as a word (pairs then match as phrases)."""
    return re.sub(rf"([{CJK}])", r" \1 ", text)


def fts_match(question: str) -> str | None:
    """An FTS5 MATCH expression: any term (a CJK piece as its character pairs, each a phrase); None if none."""
    alternatives = []
    for term in query_terms(question) or _WORD.findall(question.lower()):
        if _CJK_RUN.match(term):
            pairs = [term[k:k + 2] for k in range(max(1, len(term) - 1))]
            alternatives += ['"' + " ".join(pair) + '"' for pair in pairs]
        else:
            alternatives.append('"' + term.replace('"', '""') + '"')
    return " OR ".join(dict.fromkeys(alternatives)) or None
