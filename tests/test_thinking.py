"""The Think / 深度思考 switch: it changes the prompt a checkpoint's chat template renders (Qwen3's enable_thinking,
DeepSeek-V3.1's thinking, an answer opened with <think>), is off and says why where the model cannot think (the
built-in model), reaches an engine behind the openai backend as DeepSeek's thinking parameter, and comes back
through /chat (the answer after <think>…</think>), /v1 (reasoning_content, reasoning_tokens) and the Inspector."""
from __future__ import annotations

from pathlib import Path

import pytest

from modules.config import ConfigError, load_config
from modules.contracts import GenerationSettings
from modules.thinking import ThinkingControl, resolve, template_variable
from tests.stub_servers import openai_engine_route, serve
from tests.tiny_checkpoints import (DEEPSEEK_TEMPLATE, DEEPSEEK_V31_THINKING_TEMPLATE, QWEN3_THINKING_TEMPLATE,
                                    tiny_suite, with_chat_template, write_profiles)

SHORT = GenerationSettings(max_new_tokens=8)
THINKING = GenerationSettings(max_new_tokens=8, thinking=True)
TURN = [{"role": "user", "content": "how many shapes are not red?"}]
THOUGHT = "Two circles are red, one star is blue: one shape is not red."
ANSWER = "One."


def pipeline_of(folder: Path, language_model: dict):
    from modules.pipeline import Pipeline

    profiles = write_profiles(folder / "spaces.yaml", {"p": {"language_model": language_model, "device": "cpu"}})
    return Pipeline(load_config(["--config", str(profiles)], {}))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """The tiny DeepSeek-V3 checkpoint under three chat templates: Qwen3's, DeepSeek-V3.1's, one with no control."""
    plain = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite", ("language_model",))["language_model"]
    base = tmp_path_factory.getbasetemp()
    return {"qwen3": with_chat_template(plain, base / "lm-qwen3-thinking", QWEN3_THINKING_TEMPLATE),
            "v3.1": with_chat_template(plain, base / "lm-v31-thinking", DEEPSEEK_V31_THINKING_TEMPLATE),
            "plain": plain}


# ---- the profile's word and the chat template ----------------------------------------------------------------

def test_the_control_is_read_from_the_template_text():
    assert template_variable(QWEN3_THINKING_TEMPLATE) == "enable_thinking"
    assert template_variable(DEEPSEEK_V31_THINKING_TEMPLATE) == "thinking"
    assert template_variable(DEEPSEEK_TEMPLATE) is None
    assert resolve(None, DEEPSEEK_TEMPLATE) == ThinkingControl("none", why_not="no_control")
    assert resolve(None, DEEPSEEK_TEMPLATE + "{% if add_generation_prompt %}<think>\n{% endif %}").mode == "tags"
    assert resolve("none", QWEN3_THINKING_TEMPLATE) == ThinkingControl("none", why_not="declared")
    assert resolve("template", DEEPSEEK_TEMPLATE).why_not == "template_missing"


@pytest.mark.parametrize("value, backend, words", [
    ("maybe", {}, ["'maybe' is not valid", "template, tags, none"]),
    ("tags", {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}, ["openai backend", "template, none"]),
])
def test_a_bad_thinking_value_names_itself_and_the_choices(tmp_path, value, backend, words):
    lm = {"source": "org/lm", **backend, "thinking": value}
    profiles = write_profiles(tmp_path / "spaces.yaml", {"p": {"language_model": lm}})
    with pytest.raises(ConfigError) as raised:
        load_config(["--config", str(profiles)], {})
    assert "language_model.thinking" in str(raised.value) and all(w in str(raised.value) for w in words)


# ---- the rendered prompt --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, declared, on_end, off_end", [
    ("qwen3", None, "<|im_start|>assistant\n", "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
    ("v3.1", None, "<｜Assistant｜><think>", "<｜Assistant｜></think>"),
    ("plain", "tags", "<｜Assistant｜><think>\n", "<｜Assistant｜>"),
])
def test_the_switch_changes_the_prompt_the_template_renders(tmp_path, checkpoints, name, declared, on_end, off_end):
    options = {"thinking": declared} if declared else {}
    lm = pipeline_of(tmp_path, {"source": str(checkpoints[name]), **options}).components.get("language_model")
    on, off = lm.prompt_text(TURN, thinking=True), lm.prompt_text(TURN, thinking=False)
    assert on.endswith(on_end) and off.endswith(off_end), (on, off)
    assert TURN[0]["content"] in on and on != off


def test_a_template_without_a_control_cannot_think_and_renders_the_same_prompt(tmp_path, checkpoints):
    pipeline = pipeline_of(tmp_path, {"source": str(checkpoints["plain"])})
    lm = pipeline.components.get("language_model")
    assert lm.prompt_text(TURN, thinking=True) == lm.prompt_text(TURN, thinking=False)
    assert pipeline.thinking() == ThinkingControl("none", why_not="no_control")


def test_a_v31_model_asked_to_think_writes_thoughts_and_the_inspector_counts_them(tmp_path, checkpoints):
    """Its template opens <think> in the prompt: what the (random) model writes is thought, not answer."""
    from modules.ui.charts import stats_markdown

    pipeline = pipeline_of(tmp_path, {"source": str(checkpoints["v3.1"])})
    thought = list(pipeline.chat(TURN[0]["content"], [], [], THINKING))[-1]
    assert thought.thinking and thought.text == ""
    trace = thought.trace
    assert trace["thinking_tokens"] == trace["answer_tokens"] == 8 and trace["reply_tokens"] == 0
    assert "| Thinking | 8 tokens · " in stats_markdown(trace, "")
    plain = list(pipeline.chat(TURN[0]["content"], [], [], SHORT))[-1]
    assert plain.thinking == "" and plain.text and plain.trace["thinking_tokens"] == 0
    assert "Thinking" not in stats_markdown(plain.trace, "")


def test_the_next_turns_prompt_leaves_the_thoughts_out(tmp_path, checkpoints, monkeypatch):
    from modules.ui.history import pipeline_history

    """The DeepSeek-V3.1-style template renders an assistant turn as it is given: the studio takes the thoughts out."""
    pipeline = pipeline_of(tmp_path, {"source": str(checkpoints["v3.1"])})
    lm, prompts = pipeline.components.get("language_model"), []
    stream = lm.stream
    monkeypatch.setattr(lm, "stream", lambda messages, settings, *a, **k: prompts.append(
        lm.prompt_text(messages, settings.thinking)) or stream(messages, settings, *a, **k))
    as_api = [TURN[0], {"role": "assistant", "content": f"<think>{THOUGHT}</think>{ANSWER}"}]
    as_chatbot = pipeline_history([TURN[0], {"role": "assistant", "content": THOUGHT,
                                             "metadata": {"title": "💭 Thought", "status": "done"}},
                                   {"role": "assistant", "content": ANSWER}])
    for history in (as_api, as_chatbot):
        list(pipeline.chat("and how many are red?", [], history, THINKING))
        assert ANSWER in prompts[-1] and "Two circles" not in prompts[-1], prompts[-1]


# ---- the built-in model, and a model that cannot think ---------------------------------------------------------

def test_the_mini_profiles_switch_is_off_with_its_reason_in_both_languages():
    import gradio as gr

    from modules.pipeline import Pipeline
    from modules.ui import build_studio
    from modules.ui.texts import Relabeler
    from modules.ui.think_switch import think_switch

    config = load_config(["--profile", "mini"], {})
    pipeline = Pipeline(config)
    assert pipeline.thinking() == ThinkingControl("none", why_not="declared")      # known before it loads
    switches = [c["props"] for c in build_studio(pipeline, config).get_config_file()["components"]
                if c["props"].get("elem_id") == "chat-think"]
    assert [(s["interactive"], s["value"], s["label"]) for s in switches] == [(False, False, "🧠 Think")]
    assert switches[0]["info"] == "This model has not learnt to think yet (its profile says thinking: none)."
    texts = Relabeler()
    with gr.Blocks():
        think_switch(texts, pipeline.thinking)
    chinese = texts.updates("中文")[0]
    assert chinese["label"] == "🧠 深度思考" and chinese["info"] == "这个模型还没有学会思考（其配置为 thinking: none）。"


def test_a_model_that_can_think_gets_a_live_switch_and_one_still_loading_is_followed():
    import gradio as gr

    from modules.ui.texts import Relabeler
    from modules.ui.think_switch import think_switch

    states = [ThinkingControl("none", why_not="loading")]
    with gr.Blocks() as demo:
        think_switch(Relabeler(), lambda: states[-1])
    config = demo.get_config_file()
    switch = next(c["props"] for c in config["components"] if c["props"].get("elem_id") == "chat-think")
    timer = next(c["props"] for c in config["components"] if c["type"] == "timer")
    assert switch["interactive"] is False and timer["active"] is True
    states.append(ThinkingControl("template", "enable_thinking"))
    tick = next(d for d in config["dependencies"] if d["targets"][0][1] == "tick")
    update, poll = demo.fns[tick["id"]].fn()
    assert update["interactive"] is True and update["info"] is None and poll.active is False


def test_thinking_asked_of_a_model_that_cannot_answers_normally_with_a_notice(tmp_path, checkpoints):
    pipeline = pipeline_of(tmp_path, {"source": str(checkpoints["plain"]), "thinking": "none"})
    asked = list(pipeline.chat(TURN[0]["content"], [], [], THINKING))[-1]
    plain = list(pipeline.chat(TURN[0]["content"], [], [], SHORT))[-1]
    assert asked.text == plain.text and asked.text and asked.thinking == ""
    assert any("answered without thinking" in n and "thinking: none" in n for n in asked.notices), asked.notices
    assert not any("thinking" in n for n in plain.notices)


# ---- an engine that thinks, behind the openai backend: /chat and /v1 -------------------------------------------

def thinking_engine(body: dict) -> str:
    """Thinks (inline <think>, as vLLM without a reasoning parser sends it) only when sent DeepSeek's switch."""
    asked = body.get("thinking") == {"type": "enabled"}
    return f"<think>{THOUGHT}</think>{ANSWER}" if asked else ANSWER


@pytest.fixture(scope="module")
def engine():
    with serve(openai_engine_route(thinking_engine)) as running:
        yield running


@pytest.fixture(scope="module")
def remote(tmp_path_factory, engine):
    folder = tmp_path_factory.mktemp("remote")
    return pipeline_of(folder, {"backend": "openai", "base_url": f"{engine[0]}/v1", "thinking": "template"})


def test_the_engine_is_sent_deepseeks_switch_and_its_thoughts_come_apart(remote, engine):
    seen = engine[1]
    final = list(remote.chat(TURN[0]["content"], [], [], THINKING))[-1]
    assert (final.thinking, final.text) == (THOUGHT, ANSWER)
    assert seen[-1]["body"]["thinking"] == {"type": "enabled"}
    plain = list(remote.chat(TURN[0]["content"], [], [], SHORT))[-1]
    assert (plain.thinking, plain.text) == ("", ANSWER) and seen[-1]["body"]["thinking"] == {"type": "disabled"}


def test_chat_endpoint_takes_thinking_and_the_answer_starts_with_the_thoughts(remote):
    from tests.e2e_server import studio_in_process

    with studio_in_process(remote) as client:
        thought = client.predict({"text": TURN[0]["content"], "files": []}, thinking=True, api_name="/chat")["text"]
        plain = client.predict({"text": TURN[0]["content"], "files": []}, api_name="/chat")["text"]
        inspected = client.predict(api_name="/inspect")
    assert thought == f"<think>{THOUGHT}</think>{ANSWER}" and plain == ANSWER
    assert inspected["thinking_tokens"] == 0 and inspected["thinking_asked"] is False     # the last answer's


@pytest.fixture(scope="module")
def web(remote):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.api import mount_api

    app = FastAPI()
    mount_api(app, remote, remote.config)
    return TestClient(app)


def ask(web, **body):
    return web.post("/v1/chat/completions", json={"messages": TURN, **body})


def test_v1_deepseek_reasoner_returns_reasoning_content_and_reasoning_tokens(web, engine):
    reply = ask(web, model="deepseek-reasoner").json()
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": ANSWER, "reasoning_content": THOUGHT}
    usage = reply["usage"]
    thought_pieces = -(-len(f"<think>{THOUGHT}</think>") // 7)   # the stub streams 7 characters a piece
    assert usage["completion_tokens_details"]["reasoning_tokens"] == thought_pieces < usage["completion_tokens"]
    assert engine[1][-1]["body"]["thinking"] == {"type": "enabled"}
    chat = ask(web, model="deepseek-chat").json()
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert chat["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    enabled = ask(web, thinking={"type": "enabled"}).json()       # the studio's own model name, or none
    assert enabled["choices"][0]["message"]["reasoning_content"] == THOUGHT
    off = ask(web, model="deepseek-reasoner", thinking={"type": "disabled"}).json()    # the parameter wins
    assert "reasoning_content" not in off["choices"][0]["message"]


@pytest.mark.parametrize("body, status, words", [
    ({"thinking": {"type": "maybe"}}, 400, ["'maybe'", "enabled", "disabled"]),
    ({"thinking": True}, 400, ["thinking must be", "enabled", "disabled"]),
    ({"model": "deepseek-coder"}, 404, ["deepseek-coder", "deepseek-reasoner", "deepseek-chat"]),
])
def test_v1_bad_thinking_requests_are_refused_naming_the_valid_choices(web, body, status, words):
    refused = ask(web, **body)
    assert refused.status_code == status
    message = refused.json()["error"]["message"]
    assert all(word in message for word in words), message


def test_chat_endpoint_asked_to_think_by_a_model_that_cannot_answers_with_an_info_notice(tmp_path, engine):
    from tests.e2e_server import studio_in_process

    cannot = pipeline_of(tmp_path, {"backend": "openai", "base_url": f"{engine[0]}/v1"})   # thinking not declared
    with studio_in_process(cannot) as client:
        job = client.submit({"text": TURN[0]["content"], "files": []}, thinking=True, api_name="/chat")
        answer = job.result()["text"]
    updates = job.communicator.updates                  # every status the client was sent, Info logs among them
    logs = [getattr(updates.get_nowait(), "log", None) for _ in range(updates.qsize())]
    assert answer == ANSWER and "thinking" not in engine[1][-1]["body"]
    assert any(log and log[1] == "info" and "answered without thinking" in log[0] for log in logs), logs


# ---- counting with thinking on ---------------------------------------------------------------------------------

def test_token_counts_and_history_trimming_count_the_prompt_the_model_reads_when_thinking():
    """With thinking on, a tags model's prompt ends in the <think> opening: the count that trims the history is the
    length of the ids the model is fed, thinking on or off."""
    from transformers import AutoTokenizer

    from modules.language_model import LanguageModel
    lm = LanguageModel.__new__(LanguageModel)
    lm.tokenizer = AutoTokenizer.from_pretrained(str(Path(__file__).resolve().parents[1] / "assets" / "mini"
                                                     / "language_model"))
    lm.thinking = ThinkingControl("tags")
    for on in (True, False):
        assert lm.count_tokens(TURN, thinking=on) == len(lm.prompt_ids(TURN, None, 0, thinking=on))
    assert lm.count_tokens(TURN, thinking=True) > lm.count_tokens(TURN, thinking=False)


class Usage:
    """A streamed usage chunk's fields, as the openai client reads them."""

    def __init__(self, completion: int, reasoning: int | None):
        self.prompt_tokens, self.completion_tokens = 10, completion
        self.completion_tokens_details = type("Details", (), {"reasoning_tokens": reasoning})()


@pytest.mark.parametrize("counted_by", ["server", "tokenizer", "nothing"])
def test_a_remote_models_thinking_is_counted_in_tokens_or_said_to_be_chunks(counted_by):
    """The thought streamed in 7-character chunks: its count is the server's reasoning_tokens, else the profile's
    tokenizer's, else the chunks, which the Inspector then names as chunks, not tokens."""
    from transformers import AutoTokenizer

    from modules.language_model import GenerationStats
    from modules.reasoning import join_reply, split_reply
    from modules.remote_lm import RemoteLanguageModel, _reasoning_tokens
    from modules.thinking import ThinkingClock
    from modules.ui.charts import stats_markdown
    tokenizer = AutoTokenizer.from_pretrained(str(Path(__file__).resolve().parents[1] / "assets" / "mini"
                                                  / "language_model"))
    remote = RemoteLanguageModel(None, "m", "http://127.0.0.1:9/v1", 4096,
                                 tokenizer=tokenizer if counted_by == "tokenizer" else None)
    written = join_reply(THOUGHT, ANSWER)
    stats, clock = GenerationStats(), ThinkingClock()
    for k in range(0, len(written), 7):                                   # the stub engine's pieces
        stats.tokens.append(written[k:k + 7])
        clock.saw(split_reply(written[:k + 7]), len(stats.tokens))
    thought_tokens = len(tokenizer.encode(THOUGHT, add_special_tokens=False))
    usage = Usage(40, 29) if counted_by == "server" else None
    stats.answer_tokens = usage.completion_tokens if usage else 0
    remote._count_reply(stats, written, _reasoning_tokens(usage) if usage else None)
    generated = len(stats.tokens) if stats.token_unit == "chunks" else stats.answer_tokens
    trace = {"thinking_asked": True, "token_unit": stats.token_unit,
             **clock.summary(split_reply(written, final=True), generated, stats.thinking_tokens)}
    shown = stats_markdown(trace, "")
    if counted_by == "server":
        assert (trace["thinking_tokens"], trace["reply_tokens"]) == (29, 11) and "chunks" not in shown
    elif counted_by == "tokenizer":
        assert trace["thinking_tokens"] == thought_tokens and "chunks" not in shown
        assert stats.answer_tokens == thought_tokens + len(tokenizer.encode(ANSWER, add_special_tokens=False))
    else:
        assert trace["thinking_tokens"] == clock.thinking_tokens and stats.token_unit == "chunks"
        assert f"| Thinking | {clock.thinking_tokens} chunks · " in shown and "not tokens" in shown
