"""Thoughts written in a model family's own markers (Gemma 4: `<|channel>thought\n … <channel|>`) rewritten as the
<think> … </think> the studio splits (modules.reasoning), from the answer's token ids as they stream."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .reasoning import THINK_END, THINK_START


@dataclass(frozen=True)
class ThoughtMarkers:
    """How a family marks its thoughts: the special tokens that open and close them, and the channel's name that
    follows the opening token."""

    open_token: str
    close_token: str
    channel: str = ""          # text right after open_token, not part of the thoughts ("thought\n")


# By the checkpoint's model_type, as transformers' serving code parses these families' replies. Families that write
# <think> themselves (DeepSeek-R1, Qwen3) need nothing here.
THOUGHT_MARKERS: dict[str, ThoughtMarkers] = {
    "gemma4": ThoughtMarkers("<|channel>", "<channel|>", "thought\n"),
}


def markers_for(model_type: str | None, tokenizer: Any) -> ThoughtMarkers | None:
    """The family's markers when its tokenizer has both as tokens of their own, else None."""
    markers = THOUGHT_MARKERS.get(model_type or "")
    if markers is None:
        return None
    vocabulary = tokenizer.get_vocab()
    return markers if markers.open_token in vocabulary and markers.close_token in vocabulary else None


def shown_reply(tokenizer: Any, answer: list[int], markers: ThoughtMarkers | None) -> str:
    """The answer's ids so far as text, special tokens left out and the family's thoughts as <think> … </think>.
    While streaming, a half-written channel name ("thou") is held back rather than shown as a thought."""
    def text(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=True)

    if markers is None:
        return text(answer)
    open_id, close_id = tokenizer.convert_tokens_to_ids([markers.open_token, markers.close_token])
    if open_id not in answer:
        return text(answer)
    start = answer.index(open_id)
    end = answer.index(close_id, start) if close_id in answer[start:] else None
    thoughts = text(answer[start + 1: end])
    if markers.channel.startswith(thoughts):            # the channel's name, or a part of it, so far
        thoughts = ""
    thoughts = thoughts.removeprefix(markers.channel)
    reply = text(answer[:start]) + THINK_START + thoughts
    return reply if end is None else reply + THINK_END + text(answer[end + 1:])
