"""A model's reply split into its thinking (between <think> and </think>, as DeepSeek-R1 writes it) and its answer."""
from __future__ import annotations

from dataclasses import dataclass

THINK_START, THINK_END = "<think>", "</think>"
THINKING_OPENER = THINK_START + "\n"      # what opens the answer of a model asked to think in its own tags


def open_thinking(prompt: str) -> str:
    """A rendered chat prompt (ending where the answer starts) asking a model that writes <think> itself to think:
    the answer opened with <think> and a new line, as DeepSeek-R1's template opens it. The think stage
    (modules/training/train_thinking.py) trains on this prompt and the studio's `thinking: tags` sends it, so that
    the model is asked the way it learnt."""
    return prompt + THINKING_OPENER


@dataclass(frozen=True)
class Reply:
    """What a reply says so far: the thinking, and the answer after it."""

    thinking: str          # "" when the model did not think
    answer: str
    thinking_done: bool    # False while the model is still inside <think>


def split_reply(text: str, final: bool = False) -> Reply:
    """Split a whole (final) or partly streamed reply. A reply that does not open with <think> is all answer; one
    that opened it and has not closed it is all thinking. While streaming, a half-written tag is held back."""
    stripped = text.lstrip()
    if not stripped.startswith(THINK_START):
        if not final and stripped and THINK_START.startswith(stripped):   # "<th" may still become "<think>"
            return Reply("", "", False)
        return Reply("", text, True)
    body = stripped[len(THINK_START):]
    thinking, closed, answer = body.partition(THINK_END)
    if not closed:
        return Reply(thinking.strip() if final else _without_partial_tag(thinking), "", final)
    return Reply(thinking.strip(), answer.lstrip(), True)


def _without_partial_tag(thinking: str) -> str:
    """Thinking streamed so far, without a trailing prefix of </think> (e.g. "...</thi")."""
    for cut in range(len(THINK_END) - 1, 0, -1):
        if thinking.endswith(THINK_END[:cut]):
            return thinking[:-cut]
    return thinking


def join_reply(thinking: str, answer: str) -> str:
    """The reply as the model writes it, from thinking and answer streamed apart (an OpenAI-style server's
    reasoning_content and content): split_reply(join_reply(t, a)) gives them back."""
    if not thinking:
        return answer
    return f"{THINK_START}{thinking}" + (f"{THINK_END}{answer}" if answer else "")
