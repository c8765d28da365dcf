"""End to end through gradio_client: bad input is refused with a message that names the problem, odd but valid
media is accepted, and after every refusal the launched studio still answers a normal request."""
from __future__ import annotations

import http.client
import json
import re
import struct
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from modules.config import load_config
from tests.e2e_server import (ROOT, skip_unless_models, studio_argv, studio_client, studio_url,  # noqa: F401
                              world_beeps, world_picture)

HELLO = {"text": "hello", "files": []}
HELLO_TOKENS = 24          # enough for a greeting; keeps the check after each refusal short
ANSWER_TOKENS = 64         # enough for a description of one world picture or sound


@pytest.fixture(scope="module")
def limits():
    return load_config(studio_argv(), environ={}).limits


@pytest.fixture(scope="module")
def client(studio_url):  # noqa: F811
    return studio_client(studio_url)


@pytest.fixture(scope="module")
def baseline(client) -> str:
    """The studio's greedy answer to "hello" before any bad input: every later check must get the same."""
    answer = client.predict(message=HELLO, max_new_tokens=HELLO_TOKENS, api_name="/chat")["text"]
    assert answer.strip(), "the studio gave an empty answer to 'hello'"
    return answer


@pytest.fixture
def still_serves(client, baseline):
    """Use after a refusal: a normal request is answered, exactly as before the bad one."""
    def check() -> None:
        answer = client.predict(message=HELLO, max_new_tokens=HELLO_TOKENS, api_name="/chat")["text"]
        assert answer == baseline, f"after the bad request 'hello' got {answer!r}, before it {baseline!r}"
    return check


def refused(call, *patterns: str) -> str:
    """Run `call`, which must be refused with a gr.Error whose message matches every pattern."""
    with pytest.raises(AppError) as caught:
        call()
    message = str(caught.value)
    assert "verbose error reporting" not in message, "refused without saying why (an unexpected server error)"
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in the message: {message!r}"
    assert "/tmp/" not in message and str(ROOT) not in message, f"the message shows a server path: {message!r}"
    return message


# ---------------------------------------------------------------------------------------------- media makers


def png_bytes(picture: Image.Image) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(path: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A tiny PNG whose IHDR claims width×height (its CRC fixed, so the header is valid)."""
    data = bytearray(png_bytes(Image.new("RGB", (8, 8), "white")))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)   # CRC over type + fields
    path.write_bytes(bytes(data))
    return path


def corrupt_png(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return path


def truncated_png(path: Path) -> Path:
    whole = png_bytes(Image.open(world_picture(path)).convert("RGB"))
    path.write_bytes(whole[: len(whole) // 2])
    return path


def zero_byte_png(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def text_file(path: Path) -> Path:
    path.write_text("This is a shopping list, not a picture.\nmilk\nbread\n", encoding="utf-8")
    return path


def one_pixel_png(path: Path) -> Path:
    Image.new("RGB", (1, 1), "red").save(path)
    return path


def animated_gif(path: Path) -> Path:
    first = Image.open(world_picture(path.with_suffix(".first.png"))).convert("RGB")
    second = Image.open(world_picture(path.with_suffix(".second.png"), (("blue", "square", "small", "right"),)))
    first.save(path, save_all=True, append_images=[second.convert("RGB")], duration=200, loop=0)
    return path


def grayscale_png(path: Path) -> Path:
    Image.open(world_picture(path)).convert("L").save(path)
    return path


def sixteen_bit_png(path: Path) -> Path:
    grey = np.asarray(Image.open(world_picture(path)).convert("L"), dtype=np.uint16) * 257   # (H, W), 0..65535
    Image.fromarray(grey).save(path)                                                      # mode I;16
    assert Image.open(path).mode.startswith("I;16")
    return path


def cmyk_jpeg(path: Path) -> Path:
    Image.open(world_picture(path.with_suffix(".png"))).convert("CMYK").save(path, format="JPEG", quality=95)
    return path


def transparent_png(path: Path) -> Path:
    """The red circle, opaque, on a fully transparent background whose hidden colour is black."""
    rgb = np.asarray(Image.open(world_picture(path.with_suffix(".src.png"))).convert("RGB"))   # (H, W, 3)
    background = (np.abs(rgb.astype(int) - 250).sum(axis=2) < 30)                               # (H, W)
    rgba = np.dstack([np.where(background[..., None], 0, rgb), np.where(background, 0, 255)]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    sf.write(path, samples, rate)
    return path


# ---------------------------------------------------------------------------------------------- pictures


def ask_picture(client, route: str, path: Path, question: str = ""):
    if route == "describe_image":
        return client.predict(image=handle_file(str(path)), question=question, max_new_tokens=ANSWER_TOKENS,
                              api_name="/describe_image")
    return client.predict(message={"text": question, "files": [handle_file(str(path))]},
                          max_new_tokens=ANSWER_TOKENS, api_name="/chat")["text"]


PICTURE_ROUTES = ["describe_image", "chat"]

BAD_PICTURES = {   # case -> (file name, maker, patterns the refusal must match)
    "corrupt": ("corrupt.png", corrupt_png, [r"corrupt\.png", r"(?i)not a picture|damaged|cannot read"]),
    "truncated": ("truncated.png", truncated_png, [r"truncated\.png", r"(?i)not a picture|damaged|cut short"]),
    "zero-byte": ("empty.png", zero_byte_png, [r"empty\.png", r"(?i)empty|0 bytes"]),
    "not-a-picture": ("notes.bin", text_file, [r"notes\.bin", r"(?i)not a picture|neither a picture"]),
    "1x1": ("dot.png", one_pixel_png, [r"1×1", r"(?i)too small|at least"]),
}


@pytest.mark.parametrize("route", PICTURE_ROUTES)
@pytest.mark.parametrize("case", sorted(BAD_PICTURES))
def test_a_bad_picture_is_refused_by_name(client, still_serves, tmp_path, route, case):
    name, make, patterns = BAD_PICTURES[case]
    path = make(tmp_path / name)
    refused(lambda: ask_picture(client, route, path), *patterns)
    still_serves()


@pytest.mark.parametrize("route", PICTURE_ROUTES)
def test_a_20000_by_20000_picture_is_refused_quickly(client, still_serves, tmp_path, limits, route):
    path = huge_png(tmp_path / "huge.png")
    started = time.monotonic()
    refused(lambda: ask_picture(client, route, path), r"(?i)20000×20000|too many pixels",
            f"{limits.max_image_pixels:,}")
    assert time.monotonic() - started < 20, "refusing a picture bomb should not take long"
    still_serves()


SHAPES = ("circle", "square", "triangle", "star")
ODD_PICTURES = {   # valid pictures in unusual forms: accepted and described (case -> maker, file name, words expected)
    "animated-gif": (animated_gif, "anim.gif", ["red", "circle"]),
    "cmyk-jpeg": (cmyk_jpeg, "print.jpg", ["red", "circle"]),
    "transparent": (transparent_png, "cutout.png", ["red", "circle"]),
    # the world has no grey shapes: a description of some shape is all that can be asked of a grey picture
    "grayscale": (grayscale_png, "grey.png", []),
    "16-bit": (sixteen_bit_png, "deep.png", []),
}


@pytest.mark.parametrize("route", PICTURE_ROUTES)
@pytest.mark.parametrize("case", sorted(ODD_PICTURES))
def test_an_unusual_but_valid_picture_is_accepted_and_described(client, tmp_path, route, case):
    make, name, expected = ODD_PICTURES[case]
    answer = ask_picture(client, route, make(tmp_path / name))
    found = set(re.findall(r"[a-z]+", answer.lower()))
    assert found & set(SHAPES), f"{case}: no shape named in {answer!r}"
    assert set(expected) <= found, f"{case}: {answer!r}"


def test_a_16_bit_picture_is_seen_like_its_8_bit_version(client, tmp_path):
    """16-bit grey must be scaled to 8 bits, not clipped (clipping turns the whole picture white)."""
    eight = ask_picture(client, "describe_image", grayscale_png(tmp_path / "grey.png"))
    sixteen = ask_picture(client, "describe_image", sixteen_bit_png(tmp_path / "deep.png"))
    assert sixteen == eight


# ---------------------------------------------------------------------------------------------- sounds


def describe_sound(client, path: Path):
    return client.predict(audio=handle_file(str(path)), question="", max_new_tokens=ANSWER_TOKENS,
                          api_name="/describe_audio")


def test_a_zero_length_sound_is_refused(client, still_serves, tmp_path):
    path = wav(tmp_path / "nothing.wav", np.zeros(0, dtype=np.float32), 16_000)
    refused(lambda: describe_sound(client, path), r"nothing\.wav", r"(?i)no sound|0 seconds|empty")
    still_serves()


def test_a_silent_sound_is_accepted(client, tmp_path):
    answer = describe_sound(client, wav(tmp_path / "silence.wav", np.zeros(32_000, dtype=np.float32), 16_000))
    assert answer.strip(), "a silent sound got an empty answer"


@pytest.mark.parametrize("rate, channels", [(16_000, 2), (8_000, 1), (48_000, 1)], ids=["stereo", "8kHz", "48kHz"])
def test_sounds_of_other_rates_and_channels_are_converted_and_described(client, tmp_path, rate, channels):
    samples = world_beeps(3, rate=rate)                                   # (samples,)
    if channels == 2:
        samples = np.stack([samples, samples * 0.8], axis=1)            # (samples, 2)
    answer = describe_sound(client, wav(tmp_path / f"beeps-{rate}-{channels}.wav", samples, rate))
    assert "beep" in answer.lower(), answer


def test_an_over_long_sound_is_refused_naming_the_limit(client, still_serves, tmp_path, limits):
    beeps = world_beeps(3)
    samples = np.concatenate([beeps, np.zeros(31 * 16_000 - len(beeps), dtype=np.float32)])   # 31 s
    path = wav(tmp_path / "long.wav", samples, 16_000)
    limit = f"{limits.max_audio_seconds:g}"
    refused(lambda: describe_sound(client, path), r"long\.wav", r"\b31\b", rf"\b{limit}\b", r"(?i)seconds")
    still_serves()


def test_a_picture_given_as_a_sound_is_refused(client, still_serves, tmp_path):
    path = world_picture(tmp_path / "picture.png")
    refused(lambda: describe_sound(client, path), r"picture\.png", r"(?i)not a sound")
    still_serves()


# ---------------------------------------------------------------------------------------------- text and settings


@pytest.mark.parametrize("text", ["", "   \n\t  "], ids=["empty", "whitespace"])
def test_an_empty_message_is_refused(client, still_serves, text):
    refused(lambda: client.predict(message={"text": text, "files": []}, api_name="/chat"),
            r"(?i)type a message|empty")
    still_serves()


def call_escaped(url: str, api_name: str, data: list) -> tuple[str, str]:
    """(event, data) of a call through Gradio's HTTP API with the JSON written by hand: gradio_client (httpx)
    cannot send a lone surrogate at all, a browser or another client can, as a \\uD800 escape."""
    body = json.dumps({"data": data}, ensure_ascii=True).encode()
    request = urllib.request.Request(f"{url}/gradio_api/call/{api_name}", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}/gradio_api/call/{api_name}/{event_id}", timeout=120) as response:
        events = re.findall(r"event: (\w+)\ndata: (.*)", response.read().decode())
    return events[-1]


@pytest.mark.parametrize("api_name, data", [
    ("chat", [{"text": "hi \ud800 there", "files": []}, [], 0.0, 0.9, 8, -1, False, False, False, ""]),
    ("chat", [{"text": "hi", "files": []}, [{"role": "user", "content": "ok"},
                                            {"role": "assistant", "content": "sure\udfff"}],
              0.0, 0.9, 8, -1, False, False, False, ""]),
    ("generate_image", ["a red \ud83d circle", 2, 3.0, 1, 1]),
], ids=["message", "history", "prompt"])
def test_a_lone_surrogate_is_refused_naming_the_problem(studio_url, still_serves, api_name, data):  # noqa: F811
    event, message = call_escaped(studio_url, api_name, data)
    assert event == "error", (event, message)
    assert re.search(r"not valid text \(a lone surrogate, U\+D[89A-F][0-9A-F]{2}, at position \d+\)", message), message
    still_serves()


def test_a_100000_character_message_is_refused_naming_its_length_and_the_limit(client, still_serves, limits):
    refused(lambda: client.predict(message={"text": "a" * 100_000, "files": []}, api_name="/chat"),
            r"100,000", f"{limits.max_text_chars:,}")
    still_serves()


SETTINGS = {   # case -> (api_name, keyword arguments, patterns)
    "temperature": ("/chat", {"message": HELLO, "temperature": 5}, [r"(?i)temperature", r"\b5\b"]),
    "top_p": ("/chat", {"message": HELLO, "top_p": 0}, [r"(?i)top.?p", r"\b0\b"]),
    "max_new_tokens": ("/chat", {"message": HELLO, "max_new_tokens": 100_000}, [r"(?i)max new tokens|max_new_tokens",
                                                                              r"100,?000"]),
    "steps": ("/generate_image", {"prompt": "draw a red circle", "steps": 0}, [r"(?i)steps", r"\b0\b"]),
    "count": ("/generate_image", {"prompt": "draw a red circle", "count": 99}, [r"(?i)count|number of pictures",
                                                                                r"\b99\b"]),
}


@pytest.mark.parametrize("case", list(SETTINGS))
def test_an_out_of_range_setting_is_refused_by_name(client, still_serves, case):
    api_name, kwargs, patterns = SETTINGS[case]
    refused(lambda: client.predict(api_name=api_name, **kwargs), *patterns)
    still_serves()


# ---------------------------------------------------------------------------------------------- files of the server


def raw_get(base_url: str, path: str) -> tuple[int, str]:
    """GET `path` exactly as written (no client-side normalisation of '..' or escapes)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


FILE_URLS = [
    "/gradio_api/file=/etc/passwd",
    "/gradio_api/file=../../etc/passwd",
    "/gradio_api/file=..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/file=/tmp/../etc/passwd",
    "/gradio_api/file=" + str(ROOT / "assets" / "examples") + "/../../../../../etc/passwd",
    "/file=/etc/passwd",
]


@pytest.mark.parametrize("path", FILE_URLS)
def test_the_server_does_not_hand_out_system_files(studio_url, still_serves, path):  # noqa: F811
    status, body = raw_get(studio_url, path)
    assert "root:" not in body, f"GET {path} -> {status} served /etc/passwd"
    still_serves()


@pytest.mark.parametrize("path", ["/gradio_api/file=app.py", "/gradio_api/file=" + str(ROOT / "app.py"),
                                  "/gradio_api/file=" + str(ROOT / "spaces.yaml")])
def test_the_server_does_not_hand_out_its_own_code_or_config(studio_url, path):  # noqa: F811
    status, body = raw_get(studio_url, path)
    assert "def main" not in body and "default_profile" not in body, f"GET {path} -> {status} served project files"


# ---------------------------------------------------------------------------------------------- stop


def test_a_request_after_a_stop_is_answered_normally():
    """Stop (the flag the Stop button sets) cuts an answer short; the next request is answered in full."""
    skip_unless_models()
    from modules.contracts import GenerationSettings
    from modules.pipeline import Pipeline

    pipeline = Pipeline(load_config(studio_argv(), environ={}))
    settings = GenerationSettings(max_new_tokens=64)
    full = list(pipeline.chat("hello", [], [], settings))[-1]
    full_tokens = pipeline.last_trace()["answer_tokens"]
    assert full_tokens >= 3, f"'hello' is answered in {full_tokens} tokens: too short to stop half-way"

    stop, events = threading.Event(), []
    for event in pipeline.chat("hello", [], [], settings, stop=stop):
        events.append(event)
        stop.set()                                              # Stop pressed as soon as the first words show
    trace = pipeline.last_trace()
    assert trace["stopped"] and trace["answer_tokens"] < full_tokens, trace
    assert events[-1].done and any("Stopped" in n for n in events[-1].notices), events[-1]
    assert len(events[-1].text) < len(full.text)

    again = list(pipeline.chat("hello", [], [], settings))[-1]
    assert again.text == full.text and not pipeline.last_trace()["stopped"]
