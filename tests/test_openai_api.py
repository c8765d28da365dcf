"""The OpenAI-compatible routes, through the official openai client, on a studio launched as a user would
(`python app.py --config …`) whose checkpoints are tiny random ones named by hub id and read offline from a
Hugging Face cache; and a second studio whose language model is the first one, reached through those routes."""
from __future__ import annotations

import base64
import io
import json
import os
import tempfile
import threading
from pathlib import Path

import openai
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.e2e_server import start_studio, stop_studio, studio_client
from tests.tiny_checkpoints import HUB_IDS, put_in_hub_cache, tiny_suite, write_media, write_profiles

TOKENS = 12
MODEL = "omnimoe/hub-cpu"


@pytest.fixture(scope="module")
def hub_env(tmp_path_factory):
    """HF_HUB_CACHE with the tiny checkpoints under their hub ids, for the studios this module launches."""
    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    cache = tmp_path_factory.mktemp("hub-cache")
    for role, repo_id in HUB_IDS.items():
        put_in_hub_cache(suite[role], repo_id, cache)
    with pytest.MonkeyPatch.context() as patch:     # start_studio passes os.environ on to the studio
        patch.setenv("HF_HUB_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield suite


def launch(profiles: Path, profile: str):
    log = Path(tempfile.mkdtemp(prefix="omnimoe-api-")) / "studio.log"
    process, url = start_studio(log, ["--config", str(profiles), "--profile", profile])
    return process, url, log


@pytest.fixture(scope="module")
def studio(hub_env, tmp_path_factory):
    """Studio A: every role a hub id (DeepSeek-V3 LM, CoCa, CLAP, Stable Diffusion), pictures and sounds as words."""
    roles = {role: {"source": repo_id} for role, repo_id in HUB_IDS.items()}
    profiles = write_profiles(tmp_path_factory.mktemp("studio-a") / "spaces.yaml", {"hub-cpu": {
        **roles, "bridge": {"kind": "text"}, "device": "cpu", "limits": {"max_new_tokens": 32}}})
    process, url, log = launch(profiles, "hub-cpu")
    try:
        yield url
    finally:
        stop_studio(process)
        if os.environ.get("OMNIMOE_TEST_SHOW_LOG"):
            print(log.read_text(errors="replace")[-20000:])


@pytest.fixture(scope="module")
def client(studio) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{studio}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def gradio(studio):
    return studio_client(studio)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return write_media(tmp_path_factory.mktemp("media"), (30, 60, 220), hertz=660, samples=16_000)


def data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def ask(client: openai.OpenAI, content, **extra) -> str:
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}],
                                           temperature=0, max_tokens=TOKENS, **extra)
    return reply.choices[0].message.content


def ask_streamed(client: openai.OpenAI, content) -> tuple[str, list]:
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}],
                                                 temperature=0, max_tokens=TOKENS, stream=True,
                                                 stream_options={"include_usage": True}))
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


# ---- studio A ------------------------------------------------------------------------------------------------

def test_the_model_list_names_the_studio_and_its_context(client):
    models = list(client.models.list())
    assert [m.id for m in models] == [MODEL]
    assert models[0].max_model_len == 1024                         # the checkpoint's max_position_embeddings


def test_streamed_and_whole_answers_equal_the_chat_endpoints_answer(client, gradio):
    via_gradio = gradio.predict(message={"text": "hello there", "files": []}, history=[], temperature=0,
                                top_p=0.9, max_new_tokens=TOKENS, seed=0, api_name="/chat")["text"]
    whole = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello there"}],
                                           temperature=0, max_tokens=TOKENS)
    streamed, chunks = ask_streamed(client, "hello there")
    assert via_gradio and whole.choices[0].message.content == via_gradio == streamed
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3, "the answer came in one piece, not streamed"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"   # it ran to max_tokens
    assert whole.choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == TOKENS
    assert whole.usage.prompt_tokens > 0


def test_earlier_turns_are_part_of_the_conversation(client, gradio):
    history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "a picture of a dog"}]
    via_gradio = gradio.predict(message={"text": "and then?", "files": []}, history=history, temperature=0,
                                top_p=0.9, max_new_tokens=TOKENS, seed=0, api_name="/chat")["text"]
    reply = client.chat.completions.create(model=MODEL, temperature=0, max_tokens=TOKENS, messages=[
        {"role": "system", "content": "be brief"}, *history, {"role": "user", "content": "and then?"}])
    assert reply.choices[0].message.content == via_gradio


def test_a_data_url_picture_is_described_as_the_describe_endpoint_does(client, gradio, media):
    answer = ask(client, [{"type": "text", "text": "What is it?"},
                          {"type": "image_url", "image_url": {"url": data_url(media["picture"], "image/png")}}])
    assert gradio.predict(api_name="/inspect")["route"] == "describe_image"
    described = gradio.predict(image=handle_file(str(media["picture"])), question="What is it?", temperature=0,
                               top_p=0.9, max_new_tokens=TOKENS, seed=0, api_name="/describe_image")
    assert answer == described and answer != ask(client, "What is it?")


def test_an_input_audio_part_is_heard_as_the_listen_endpoint_does(client, gradio, media):
    sound = base64.b64encode(media["sound"].read_bytes()).decode()
    answer = ask(client, [{"type": "input_audio", "input_audio": {"data": sound, "format": "wav"}}])
    assert gradio.predict(api_name="/inspect")["route"] == "describe_audio"
    heard = gradio.predict(audio=handle_file(str(media["sound"])), question="", temperature=0, top_p=0.9,
                           max_new_tokens=TOKENS, seed=0, api_name="/describe_audio")
    assert answer == heard


def test_a_stop_string_ends_the_answer_before_it(client):
    full = ask(client, "hello there")
    cut = next(k for k in range(3, len(full) - 2) if full.count(full[k:k + 2]) == 1 and full[k:k + 2].strip())
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello there"}],
                                           temperature=0, max_tokens=TOKENS, stop=[full[cut:cut + 2]])
    assert reply.choices[0].message.content == full[:cut] and reply.choices[0].finish_reason == "stop"


def test_a_drawing_request_returns_the_picture_inline(client):
    content = ask(client, "draw a red circle", seed=4)
    start = content.index("(data:image/png;base64,") + len("(data:image/png;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(content[start:content.index(")", start)])))
    assert picture.size == (256, 256) and "seed 4" in content


@pytest.mark.parametrize("request_args, error, words", [
    ({"model": "gpt-4o"}, openai.NotFoundError, [MODEL]),
    ({"messages": []}, openai.BadRequestError, ["messages"]),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
     openai.BadRequestError, ["last message"]),
    ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                 "image_url": {"url": "data:text/plain;base64,aGk="}}]}]},
     openai.BadRequestError, ["data: URL", "image/png"]),
    ({"messages": [{"role": "user", "content": "x" * 9000}]}, openai.BadRequestError, ["8,000"]),
    ({"n": 2}, openai.BadRequestError, ["n must be 1"]),
])
def test_bad_requests_get_openai_errors_that_say_what_is_wrong(client, request_args, error, words):
    args = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **request_args}
    with pytest.raises(error) as raised:
        client.chat.completions.create(**args)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_more_tokens_than_the_profile_allows_are_capped_not_refused(client):
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                           temperature=0, max_tokens=100_000)
    assert reply.usage.completion_tokens == 32 and reply.choices[0].finish_reason == "length"


# ---- studio B, whose language model is studio A --------------------------------------------------------------

@pytest.fixture(scope="module")
def chained(studio, hub_env, tmp_path_factory):
    """Studio B: `language_model: {backend: openai, base_url: A/v1}` (no model named: A's first), its own CoCa."""
    profiles = write_profiles(tmp_path_factory.mktemp("studio-b") / "spaces.yaml", {"chain": {
        "language_model": {"backend": "openai", "base_url": f"{studio}/v1"},
        "image_encoder": {"source": HUB_IDS["image_encoder"]}, "device": "cpu"}})
    process, url, log = launch(profiles, "chain")
    try:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    finally:
        stop_studio(process)


def test_a_second_studio_chats_through_the_first_ones_routes(chained, client):
    assert [m.id for m in chained.models.list()] == ["omnimoe/chain"]
    reply = chained.chat.completions.create(model="omnimoe/chain", temperature=0, max_tokens=TOKENS,
                                            messages=[{"role": "user", "content": "hello there"}])
    assert reply.choices[0].message.content == ask(client, "hello there")
    streamed = chained.chat.completions.create(model="omnimoe/chain", temperature=0, max_tokens=TOKENS,
                                               stream=True, messages=[{"role": "user", "content": "hello there"}])
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == \
        reply.choices[0].message.content


def test_the_second_studio_describes_a_picture_with_the_first_ones_model(chained, client, media):
    """B captions and tags the picture itself and sends words to A: the answer A gives to the same picture."""
    content = [{"type": "text", "text": "What is it?"},
               {"type": "image_url", "image_url": {"url": data_url(media["picture"], "image/png")}}]
    reply = chained.chat.completions.create(model="omnimoe/chain", temperature=0, max_tokens=TOKENS,
                                            messages=[{"role": "user", "content": content}])
    assert reply.choices[0].message.content == ask(client, content) != ask(client, "What is it?")


# ---- the routes in-process, on a stand-in pipeline -----------------------------------------------------------

def test_with_a_login_the_routes_want_the_bearer_key(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.api import mount_api
    from modules.config import load_config
    from modules.contracts import ChatEvent, FeatureUnavailable

    class Pipe:
        class components:
            @staticmethod
            def get(role):
                raise FeatureUnavailable("off")

        @staticmethod
        def chat(text, files, history, settings, stop=None):
            yield ChatEvent(text="hel", route="chat")
            yield ChatEvent(text="hello", route="chat", done=True, trace={"prompt_tokens": 3, "answer_tokens": 2})

    path = write_profiles(tmp_path / "p.yaml", {"p": {"language_model": {"source": "org/lm"}}})
    config = load_config(["--config", str(path)], {"OMNIMOE_AUTH": "ada:lovelace"})
    app = FastAPI()
    mount_api(app, Pipe(), config)
    web = TestClient(app)
    body = {"model": "omnimoe/p", "messages": [{"role": "user", "content": "hi"}]}
    refused = web.post("/v1/chat/completions", json=body)
    assert refused.status_code == 401 and "Bearer user:password" in refused.json()["error"]["message"]
    assert web.get("/v1/models", headers={"Authorization": "Bearer ada:wrong"}).status_code == 401
    key = {"Authorization": "Bearer ada:lovelace"}
    assert web.get("/v1/models", headers=key).json()["data"][0]["id"] == "omnimoe/p"
    reply = web.post("/v1/chat/completions", json=body, headers=key).json()
    assert reply["choices"][0]["message"]["content"] == "hello" and reply["usage"]["total_tokens"] == 5
    local = {**body, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:7860/secret.png"}}]}]}
    refused = web.post("/v1/chat/completions", json=local, headers=key)     # never fetched from its own machine
    assert refused.status_code == 400 and "private or local address" in refused.json()["error"]["message"]


def test_the_models_thinking_comes_as_reasoning_content_apart_from_the_answer(tmp_path):
    """As DeepSeek's API does: message.reasoning_content, and delta.reasoning_content pieces before the content."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.api import mount_api
    from modules.config import load_config
    from modules.contracts import ChatEvent

    class Pipe:
        @staticmethod
        def chat(text, files, history, settings, stop=None):
            yield ChatEvent(text="", route="chat", thinking="A large")
            yield ChatEvent(text="", route="chat", thinking="A large red star.")
            yield ChatEvent(text="The star is red.", route="chat", thinking="A large red star.", done=True,
                            trace={"prompt_tokens": 3, "answer_tokens": 9})

    path = write_profiles(tmp_path / "p.yaml", {"p": {"language_model": {"source": "org/lm"}}})
    app = FastAPI()
    mount_api(app, Pipe(), load_config(["--config", str(path)], {}))
    web = TestClient(app)
    body = {"messages": [{"role": "user", "content": "What color is the star?"}]}
    message = web.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "The star is red.", "reasoning_content": "A large red star."}
    streamed = web.post("/v1/chat/completions", json={**body, "stream": True}).text
    deltas = [json.loads(line[len("data: "):])["choices"][0]["delta"] for line in streamed.splitlines()
              if line.startswith("data: {") and '"delta"' in line]
    thought = "".join(d.get("reasoning_content", "") for d in deltas)
    answer = "".join(d.get("content", "") for d in deltas)
    assert (thought, answer) == ("A large red star.", "The star is red.")
    first_answer = next(k for k, d in enumerate(deltas) if d.get("content"))
    assert all("reasoning_content" not in d for d in deltas[first_answer:])

    # a studio whose language model is this server reads the thinking back as its own model's
    from modules.contracts import GenerationSettings
    from modules.language_model import GenerationStats
    from modules.reasoning import split_reply
    from modules.remote_lm import RemoteLanguageModel
    remote = RemoteLanguageModel(openai.OpenAI(base_url="http://testserver/v1", api_key="none", http_client=web),
                                 "omnimoe/p", "http://testserver/v1", 4096)
    written = list(remote.stream(body["messages"], GenerationSettings(), GenerationStats()))
    assert split_reply(written[0]).answer == "" and split_reply(written[0]).thinking == "A large"
    reply = split_reply(written[-1], final=True)
    assert (reply.thinking, reply.answer) == ("A large red star.", "The star is red.")


def test_past_the_queue_size_a_request_is_refused_with_429_until_one_finishes(tmp_path):
    """--queue-size 1 and --concurrency 1: one request answering and one waiting fill the studio."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from modules.api import mount_api
    from modules.config import load_config
    from modules.contracts import ChatEvent

    release, started = threading.Event(), threading.Semaphore(0)

    class Pipe:
        @staticmethod
        def chat(text, files, history, settings, stop=None):
            started.release()
            yield ChatEvent(text="wait", route="chat")
            release.wait(30)
            yield ChatEvent(text="waited", route="chat", done=True, trace={"prompt_tokens": 1, "answer_tokens": 1})

    path = write_profiles(tmp_path / "p.yaml", {"p": {"language_model": {"source": "org/lm"}}})
    app = FastAPI()
    mount_api(app, Pipe(), load_config(["--config", str(path), "--queue-size", "1", "--concurrency", "1"], {}))
    web = TestClient(app)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    answers = []
    busy = [threading.Thread(target=lambda: answers.append(web.post("/v1/chat/completions", json=body)))
            for _ in range(2)]
    for thread in busy:
        thread.start()
    assert started.acquire(timeout=10) and started.acquire(timeout=10)
    refused = web.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429 and "--queue-size" in refused.json()["error"]["message"]
    release.set()
    for thread in busy:
        thread.join(30)
    assert [a.status_code for a in answers] == [200, 200]
    again = web.post("/v1/chat/completions", json=body)
    assert again.status_code == 200 and again.json()["choices"][0]["message"]["content"] == "waited"
