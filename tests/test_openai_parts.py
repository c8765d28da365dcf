"""`backend: openai` with `modalities`: a picture reaches the engine as an image_url part (a PNG data URI) and a
sound as an input_audio part (a WAV), checked against the studio's limits first; without them, as the text
bridge's words. The studio's own /v1 route takes the same parts, so one studio serves another natively."""
from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from modules.config import ConfigError, load_config
from modules.contracts import GenerationSettings, InputError
from tests.stub_servers import openai_engine_route, serve
from tests.tiny_checkpoints import tiny_suite, write_media, write_profiles

SHORT = GenerationSettings(max_new_tokens=6)


def _kinds(body: dict) -> list:
    content = body["messages"][-1]["content"]
    return [part["type"] for part in content] if isinstance(content, list) else ["words"]


def remote_pipeline(folder: Path, engine: str, roles: dict | None = None, **options):
    from modules.pipeline import Pipeline

    profiles = write_profiles(folder / "spaces.yaml", {"remote": {
        "language_model": {"backend": "openai", "base_url": f"{engine}/v1", **options},
        **(roles or {}), "device": "cpu", "limits": {"max_audio_seconds": 5}}})
    return Pipeline(load_config(["--config", str(profiles)], {}))


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return write_media(tmp_path_factory.mktemp("media"), (30, 160, 90), hertz=440, samples=16_000)


@pytest.fixture
def engine():
    with serve(openai_engine_route(lambda body: "I was sent " + " and ".join(_kinds(body)) + ".")) as running:
        yield running


def test_a_picture_and_a_sound_go_to_the_engine_as_content_parts(tmp_path, engine, media):
    base, seen = engine
    pipeline = remote_pipeline(tmp_path, base, modalities=["text", "image", "audio"])
    answer = list(pipeline.describe_image(str(media["picture"]), "What is it?", SHORT))[-1]
    assert answer == "I was sent text and image_url."
    text, picture = seen[-1]["body"]["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What is it?"}
    header, data = picture["image_url"]["url"].split(",", 1)
    assert header == "data:image/png;base64"
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
    assert np.array_equal(sent, np.asarray(Image.open(media["picture"]).convert("RGB")))

    events = list(pipeline.chat("", [str(media["sound"])], [], SHORT))
    assert events[-1].route == "describe_audio" and events[-1].text == "I was sent text and input_audio."
    text, sound = seen[-1]["body"]["messages"][-1]["content"]
    assert text["text"] == "Describe this sound." and sound["input_audio"]["format"] == "wav"
    samples, rate = sf.read(io.BytesIO(base64.b64decode(sound["input_audio"]["data"])))
    original, original_rate = sf.read(media["sound"])
    assert rate == 16_000 and abs(len(samples) / rate - len(original) / original_rate) < 0.01


def test_a_kind_the_profile_does_not_list_goes_as_words_through_the_text_bridge(tmp_path, engine, media):
    base, seen = engine
    suite = tiny_suite(tmp_path.parent / "tiny-hub-suite")
    pipeline = remote_pipeline(tmp_path, base, {"image_encoder": {"source": str(suite["image_encoder"])}},
                               modalities=["text", "audio"])
    answer = list(pipeline.describe_image(str(media["picture"]), "What is it?", SHORT))[-1]
    assert answer == "I was sent words."
    turn = seen[-1]["body"]["messages"][-1]["content"]
    assert turn.startswith("[picture attached;") and "caption: " in turn and turn.endswith("What is it?")


def test_a_picture_over_the_limits_is_refused_before_it_is_sent(tmp_path, engine):
    base, seen = engine
    long_sound = tmp_path / "long.wav"
    sf.write(long_sound, np.zeros(16_000 * 6, dtype="float32"), 16_000)
    pipeline = remote_pipeline(tmp_path, base, modalities=["text", "image", "audio"])
    with pytest.raises(InputError, match="5"):
        list(pipeline.describe_audio(str(long_sound), "", SHORT))
    assert not [r for r in seen if r["path"] == "/v1/chat/completions"]


def test_modalities_must_name_kinds_the_studio_knows(tmp_path):
    profiles = write_profiles(tmp_path / "p.yaml", {"p": {"language_model": {
        "backend": "openai", "base_url": "http://localhost:8000/v1", "modalities": ["text", "video"]}}})
    with pytest.raises(ConfigError, match=r"language_model.modalities: 'video' is not valid; valid choices: "
                                          r"text, image, audio"):
        load_config(["--config", str(profiles)], {})


@pytest.fixture(scope="module")
def studio_a(tmp_path_factory):
    """A studio on the tiny hub-format checkpoints, its /v1 routes served on 127.0.0.1 by uvicorn."""
    import uvicorn
    from fastapi import FastAPI

    from modules.api import mount_api
    from modules.pipeline import Pipeline

    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    profiles = write_profiles(tmp_path_factory.mktemp("a") / "spaces.yaml", {"a": {
        **{role: {"source": str(folder)} for role, folder in suite.items()}, "bridge": {"kind": "text"},
        "device": "cpu"}})
    config = load_config(["--config", str(profiles)], {})
    pipeline, app = Pipeline(config), FastAPI()
    mount_api(app, pipeline, config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield pipeline, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_second_studio_sends_its_picture_natively_to_the_first(studio_a, tmp_path, media):
    a, address = studio_a
    b = remote_pipeline(tmp_path, address, modalities=["text", "image", "audio"])
    via_b = list(b.describe_image(str(media["picture"]), "What is it?", SHORT))[-1]
    assert a.last_trace()["route"] == "describe_image"           # A read the picture itself
    assert via_b == list(a.describe_image(str(media["picture"]), "What is it?", SHORT))[-1]
    heard = list(b.chat("", [str(media["sound"])], [], SHORT))[-1]
    assert a.last_trace()["route"] == "describe_audio"
    assert heard.text == list(a.describe_audio(str(media["sound"]), "", SHORT))[-1]
