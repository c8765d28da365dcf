"""Which of the world's two languages a text is written in."""
from __future__ import annotations

import re


def language_of(text: str) -> str:
    """'zh' when the text has any CJK character, else 'en'."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def foreign_in(text: str, language: str, names: set[str] = frozenset()) -> list[str]:
    """What in the text is not in the language: for 'en', its CJK characters (with CJK and full-width
    punctuation); for 'zh', its Latin words (letters, digits, hyphens) other than the names given. Empty: the text
    stays in the language from its first character to its last."""
    if language == "en":
        return re.findall(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", text)
    words = re.findall(r"[A-Za-z0-9-]+", text)
    return [w for w in words if re.search(r"[A-Za-z]", w) and w not in names]
