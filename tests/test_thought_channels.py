"""Gemma 4 writes its thoughts as <|channel>thought\n … <channel|>: the studio shows them as thoughts, folded above
the answer, while they stream and once done, and the Think switch drives the template's own enable_thinking."""
from __future__ import annotations

import pytest

from modules.contracts import GenerationSettings
from modules.reasoning import split_reply
from modules.thought_channels import THOUGHT_MARKERS, markers_for, shown_reply
from tests.test_native_models import native_pipeline
from tests.tiny_native import build_gemma4_moe, gemma_tokenizer

GEMMA = THOUGHT_MARKERS["gemma4"]
REPLY = "<|channel>thought\nTwo red circles and a star: three shapes.<channel|>Three."


def ids_of(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def test_a_gemma_reply_is_split_into_its_thoughts_and_its_answer():
    tok = gemma_tokenizer()
    reply = split_reply(shown_reply(tok, ids_of(tok, REPLY), markers_for("gemma4", tok)), final=True)
    assert reply.thinking == "Two red circles and a star: three shapes." and reply.answer == "Three."


def test_while_it_streams_no_marker_or_channel_name_shows_and_the_answer_waits_for_the_thoughts_to_end():
    tok = gemma_tokenizer()
    ids, markers = ids_of(tok, REPLY), markers_for("gemma4", tok)
    close = ids.index(tok.convert_tokens_to_ids(GEMMA.close_token))
    for end in range(1, len(ids) + 1):
        reply = split_reply(shown_reply(tok, ids[:end], markers))
        shown = reply.thinking + reply.answer
        assert "channel" not in shown and not shown.startswith("thou"), (end, reply)
        assert reply.thinking_done == (end > close) and (reply.answer == "") == (end <= close + 1), (end, reply)
        assert "Two red circles and a star: three shapes.".startswith(reply.thinking), (end, reply)


def test_a_reply_without_thoughts_and_a_family_without_markers_are_shown_as_written():
    tok = gemma_tokenizer()
    assert shown_reply(tok, ids_of(tok, "Three."), markers_for("gemma4", tok)) == "Three."
    assert markers_for("qwen3_omni_moe", tok) is None
    assert shown_reply(tok, ids_of(tok, REPLY), None) == "thought\nTwo red circles and a star: three shapes.Three."


class WritesTheReply:
    """generate() of a model that writes REPLY: the streamer gets the prompt, then each of REPLY's ids."""

    def __init__(self, tokenizer):
        self.ids = ids_of(tokenizer, REPLY)

    def __call__(self, input_ids, streamer, **_):
        import torch

        streamer.put(input_ids)
        for token in self.ids:
            streamer.put(torch.tensor([token]))
        streamer.end()


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gemma4-thinking")
    build_gemma4_moe(folder)
    pipeline = native_pipeline(folder, tmp_path_factory.mktemp("gemma4-profile"))
    return pipeline, pipeline.components.get("language_model")


def test_the_think_switch_asks_gemma_to_think_and_its_thoughts_come_back_apart_from_the_answer(gemma):
    pipeline, lm = gemma
    assert pipeline.thinking().can_think
    messages = [{"role": "user", "content": "How many shapes?"}]
    assert "<|think|>" in lm.prompt_text(messages, True) and "<|think|>" not in lm.prompt_text(messages, False)
    lm.text_model.generate = WritesTheReply(lm.tokenizer)
    events = list(pipeline.chat("How many shapes?", [], [], GenerationSettings(max_new_tokens=40, thinking=True)))
    assert events[-1].thinking == "Two red circles and a star: three shapes." and events[-1].text == "Three."
    assert all("channel" not in e.thinking + e.text for e in events)
