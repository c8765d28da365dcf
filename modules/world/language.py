"""Which of the world's two languages a text is written in."""
from __future__ import annotations


def language_of(text: str) -> str:
    """'zh' when the text has any CJK character, else 'en'."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
