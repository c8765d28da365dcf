"""End to end through gradio_client: the launched studio (python app.py, default profile) answers each named
endpoint the way a user would expect from the trained built-in models."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from PIL import Image

from modules.training.evaluate import parse_caption, scene_labels
from modules.training.examples import EXAMPLE_PICTURES, EXAMPLE_SOUNDS
from modules.world.sounds import describe_en, describe_zh
from tests.e2e_server import (ROOT, has_chinese, studio_client, studio_log, studio_url,  # noqa: F401
                              world_picture, world_sound)

EXAMPLES = ROOT / "assets" / "examples"

# endpoint -> the parameter names, in order, as docs/api.md documents them
PARAMETERS = {
    "/chat": ["message", "history", "temperature", "top_p", "max_new_tokens", "seed", "search", "thinking", "speak",
              "voice"],
    "/describe_image": ["image", "question", "temperature", "top_p", "max_new_tokens", "seed", "language"],
    "/generate_image": ["prompt", "steps", "guidance", "seed", "count"],
    "/describe_audio": ["audio", "question", "temperature", "top_p", "max_new_tokens", "seed", "language"],
    "/inspect": [],
}


@pytest.fixture(scope="module")
def client(studio_url) -> Client:  # noqa: F811
    return studio_client(studio_url)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    return {"picture": world_picture(folder / "red-circle-left.png"),
            "sound": world_sound(folder / "three-high-beeps.wav", count=3)}


def ask(client: Client, text: str, files: tuple = (), **settings) -> dict:
    """/chat's whole reply: {"text": the answer, "files": the pictures drawn for it}."""
    return client.predict(message={"text": text, "files": [handle_file(str(f)) for f in files]},
                          api_name="/chat", **settings)


def chat(client: Client, text: str, files: tuple = (), **settings) -> str:
    reply = ask(client, text, files, **settings)
    assert reply["files"] == [], f"{text!r} drew pictures: {reply}"
    return reply["text"]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def test_the_five_endpoints_take_the_documented_parameters(client):
    api = client.view_api(return_format="dict", print_info=False)
    named = {name: [p["parameter_name"] for p in spec["parameters"]] for name, spec in api["named_endpoints"].items()}
    assert named == PARAMETERS
    assert not api["unnamed_endpoints"]


def test_a_world_picture_is_described_by_colour_shape_and_place(client, media):
    answer = client.predict(image=handle_file(str(media["picture"])), question="", api_name="/describe_image")
    assert {"red", "circle", "left"} <= set(words(answer)), answer


@pytest.mark.parametrize("name", sorted(EXAMPLE_PICTURES))
@pytest.mark.parametrize("question, lang", [("", "en"), ("请描述这张图片。", "zh")])
def test_each_example_picture_is_described_with_every_object_right(client, name, question, lang):
    """The pictures a visitor clicks first: every object's colour, shape, size and place, none missing or extra."""
    answer = client.predict(image=handle_file(str(EXAMPLES / f"{name}.png")), question=question,
                            api_name="/describe_image")
    assert parse_caption(answer, lang) == scene_labels(EXAMPLE_PICTURES[name]), answer


def test_a_question_in_chinese_about_a_picture_is_answered_in_chinese(client, media):
    answer = client.predict(image=handle_file(str(media["picture"])), question="图片里有什么？",
                            api_name="/describe_image")
    assert has_chinese(answer) and "红色" in answer and "圆形" in answer, answer


def test_a_picture_attached_in_the_chat_is_read(client, media):
    answer = chat(client, "what color is the circle?", [media["picture"]])
    assert "red" in words(answer), answer
    trace = client.predict(api_name="/inspect")
    assert trace["route"] == "describe_image", trace.get("reason")


def test_a_world_sound_is_described_by_count_and_kind(client, media):
    answer = client.predict(audio=handle_file(str(media["sound"])), question="", api_name="/describe_audio")
    assert "three" in words(answer) and "beeps" in words(answer), answer


def beeps_in_hiss(path: Path, count: int, rate: int = 22_050) -> Path:
    """A recording made with numpy, not the world's synthesiser: `count` beeps of 0.1 s at 880 Hz, 0.15 s apart,
    after 2.5 s and before 2 s of hiss 28 dB below the beeps, as a phone in a quiet room records them."""
    beep = 0.5 * np.sin(2 * np.pi * 880.0 * np.arange(int(0.1 * rate)) / rate)
    gap = np.zeros(int(0.15 * rate))
    body = np.concatenate([part for _ in range(count) for part in (beep, gap)][:-1])
    wave = np.concatenate([np.zeros(int(2.5 * rate)), body, np.zeros(2 * rate)])
    wave = wave + np.random.default_rng(count).standard_normal(len(wave)) * 0.5 * 10 ** (-28 / 20)
    sf.write(path, wave.astype(np.float32), rate)
    return path


@pytest.mark.parametrize("count, word", [(2, "two"), (3, "three")])
def test_beeps_after_seconds_of_hiss_are_counted(client, tmp_path, count, word):
    """The hiss in front is silence, not sound: kept, it squeezed the beeps into a few time tokens ("one beep")."""
    answer = client.predict(audio=handle_file(str(beeps_in_hiss(tmp_path / "hiss.wav", count))),
                            question="How many beeps are there?", api_name="/describe_audio")
    assert word in words(answer), answer


def test_on_a_chinese_page_an_empty_question_is_answered_in_chinese(client, media):
    """A visitor who switched the page to 中文 and asks nothing gets the description in Chinese, not English."""
    picture = client.predict(image=handle_file(str(media["picture"])), question="", language="中文",
                             api_name="/describe_image")
    assert has_chinese(picture) and "红色" in picture and "圆形" in picture, picture
    sound = client.predict(audio=handle_file(str(media["sound"])), question="", language="中文",
                           api_name="/describe_audio")
    assert has_chinese(sound) and "蜂鸣" in sound, sound


def test_a_world_sound_is_counted_in_chinese(client, media):
    answer = client.predict(audio=handle_file(str(media["sound"])), question="描述这段声音。",
                            api_name="/describe_audio")
    assert has_chinese(answer) and "三声" in answer and "蜂鸣" in answer, answer


def example_sound_cases() -> list:
    return [pytest.param(name, question, describe, id=f"{lang}-{name}") for name in sorted(EXAMPLE_SOUNDS)
            for lang, question, describe in [("en", "", describe_en), ("zh", "描述这段声音。", describe_zh)]]


@pytest.mark.parametrize("name, question, describe", example_sound_cases())
def test_each_example_sound_is_described_exactly(client, name, question, describe):
    """The sounds a visitor clicks first: kind, pitch, timbre and the number of beeps."""
    answer = client.predict(audio=handle_file(str(EXAMPLES / f"{name}.wav")), question=question,
                            api_name="/describe_audio")
    assert describe(EXAMPLE_SOUNDS[name]).lower() in answer.lower(), answer


KIND_WORDS_ZH = {"beeps": "蜂鸣", "tone": "长音", "rising": "上升", "falling": "下降", "noise": "噪声"}


@pytest.mark.parametrize("name", sorted(EXAMPLE_SOUNDS))
def test_what_sound_is_this_in_chinese_names_the_examples_kind(client, name):
    """"这是什么声音？", a wording held out of training: the answer is in Chinese and names the kind of sound (the
    shipped weights answer it with the kind alone, "这是蜂鸣声。", not the whole description)."""
    answer = client.predict(audio=handle_file(str(EXAMPLES / f"{name}.wav")), question="这是什么声音？",
                            api_name="/describe_audio")
    assert has_chinese(answer) and KIND_WORDS_ZH[EXAMPLE_SOUNDS[name].kind] in answer, answer


def test_hello_is_answered_in_english(client):
    answer = chat(client, "hello")
    assert len(words(answer)) >= 2 and not has_chinese(answer), answer


def test_nihao_is_answered_in_chinese(client):
    answer = chat(client, "你好")
    assert has_chinese(answer), answer


def largest_blob_colour(path: str) -> tuple[np.ndarray, int]:
    """Mean RGB of the largest connected region that differs from the background (the border's median colour),
    and its size in pixels."""
    from scipy import ndimage

    with Image.open(path) as picture:
        rgb = np.asarray(picture.convert("RGB"), dtype=np.int32)              # (H, W, 3)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])      # (2H + 2W, 3)
    background = np.median(border, axis=0)                                 # (3,)
    labels, count = ndimage.label(np.abs(rgb - background).sum(axis=-1) > 90)   # (H, W), regions 1..count
    if count == 0:
        return background, 0
    sizes = np.bincount(labels.ravel())[1:]                                # (count,)
    return rgb[labels == 1 + sizes.argmax()].mean(axis=0), int(sizes.max())


def test_a_drawing_asked_for_in_the_chat_comes_back_as_a_png_file(client):
    """/chat returns {"text", "files"}: the picture it drew is a file the caller receives, not only words."""
    reply = ask(client, "draw a red circle", seed=7)
    trace = client.predict(api_name="/inspect")
    assert trace["route"] == "draw", trace
    assert reply["text"].strip() and len(reply["files"]) == 1, reply
    path = reply["files"][0]
    with Image.open(path) as picture:
        assert picture.format == "PNG", picture.format
        assert dict(picture.text).get("prompt") == "draw a red circle" and picture.text.get("seed") == "7"
        area = picture.width * picture.height
    (r, g, b), size = largest_blob_colour(path)
    assert size >= area // 100, f"{path}: no shape on the background (largest region {size} of {area} pixels)"
    assert r > 150 and r > g + 60 and r > b + 60, f"{path}: the largest shape is not reddish: RGB {r:.0f} {g:.0f} {b:.0f}"


def red_region_cells(path: str, grid: int = 16) -> int:
    """Cells of a grid×grid box-averaged copy that are clearly red (R > 150, G < 100, B < 100): a red shape
    fills several, while scattered reddish noise pixels average out to grey and fill none."""
    with Image.open(path) as picture:
        cells = np.asarray(picture.convert("RGB").resize((grid, grid), Image.Resampling.BOX), dtype=np.int32)
    r, g, b = cells[..., 0], cells[..., 1], cells[..., 2]                 # (grid, grid) each
    return int(((r > 150) & (g < 100) & (b < 100)).sum())


def test_generate_image_returns_pngs_with_prompt_seed_and_a_red_shape(client):
    gallery = client.predict(prompt="draw a red circle", steps=12, guidance=3.0, seed=1234, count=2,
                             api_name="/generate_image")
    assert len(gallery) == 2, gallery
    seeds = []
    for item in gallery:
        path = item["image"]
        assert Path(path).is_file(), path
        with Image.open(path) as picture:
            assert picture.format == "PNG", picture.format
            text = dict(picture.text)                          # tEXt / iTXt chunks
        assert text.get("prompt") == "draw a red circle", text
        seeds.append(int(text["seed"]))
        assert str(text["seed"]) in (item.get("caption") or ""), item
        red = red_region_cells(path)
        assert red >= 3, f"{path}: no red region (only {red} of 256 cells are red)"
    assert seeds == [1234, 1235]


DRAW_REQUESTS = [("draw a red star", "red", "star"), ("a blue triangle", "blue", "triangle"),
                 ("draw a green circle", "green", "circle"), ("a yellow square", "yellow", "square"),
                 ("画一个橙色星形", "orange", "star"), ("请画一个紫色的三角形", "purple", "triangle"),
                 ("帮我画一个蓝色圆形", "blue", "circle"), ("画一个红色的正方形", "red", "square")]


def test_each_drawing_shows_the_asked_colour_and_shape_in_both_languages(client):
    """Judged as eval judges drawings: the picture encoder's best single-object caption, and the pixels' colour."""
    import torch

    from modules.encoders.image import ImageEncoder
    from modules.training.evaluate import SingleObjectJudge, color_present
    judge = SingleObjectJudge(ImageEncoder.load(f"local-dir:{ROOT / 'assets' / 'mini' / 'image_encoder'}",
                                                torch.device("cpu"), torch.float32))
    wrong = []
    for k, (prompt, colour, shape) in enumerate(DRAW_REQUESTS):
        item = client.predict(prompt=prompt, steps=12, guidance=3.0, seed=100 + k, count=1,
                              api_name="/generate_image")[0]
        with Image.open(item["image"]) as picture:
            picture = picture.convert("RGB")
        seen = judge.read(picture)
        if (seen.color, seen.shape) != (colour, shape) or not color_present(picture, colour):
            wrong.append(f"{prompt!r} looks like a {seen.color} {seen.shape}")
    assert len(wrong) <= 1, wrong


def test_inspect_shows_the_last_answers_route_experts_and_timings(client):
    answer = chat(client, "hello")
    trace = client.predict(api_name="/inspect")
    assert trace["route"] == "chat" and trace["reason"], trace
    assert trace["question"] == "hello" and trace["answer"] == answer
    assert trace["prompt_tokens"] > 0 and trace["answer_tokens"] > 0
    assert trace["params_total"] > trace["params_active"] > 0
    assert trace["ttft_s"] > 0 and trace["ms_per_token"] >= 0
    experts, load = trace["experts"], trace["expert_load"]
    assert len(experts) == trace["answer_tokens"]                # one entry per generated token
    layers, num_experts = len(trace["moe_layers"]), trace["num_experts"]
    assert layers > 0 and all(len(per_token) == layers for per_token in experts)
    assert all(ids and all(0 <= e < num_experts for e in ids) for per_token in experts for ids in per_token)
    assert len(load) == layers and all(len(row) == num_experts for row in load)
    for layer in range(layers):                                  # the load counts exactly the recorded choices
        assert sum(load[layer]) == sum(len(per_token[layer]) for per_token in experts)


READY = re.compile(r"OmniMoE Studio is ready on (http://\S+) \(profile \S+, device \S+\)")
LOADED = re.compile(r"Every model is loaded in [0-9.]+ s: language_model, image_encoder, audio_encoder, bridge, "
                    r"image_decoder")
PROGRESS_BAR = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")      # tqdm's, while the libraries read the weights


def test_the_log_says_where_and_when_the_studio_is_ready_and_nothing_else(client, studio_url):  # noqa: F811
    """Start-up prints two lines: the page is up (where, which profile, which device), every model is loaded. Beside
    the libraries' progress bars nothing else: no warnings, no hint to set share=True in launch() (the studio has
    --share); serving every request of this module added nothing either (the test runs last)."""
    deadline = time.monotonic() + 120
    while not LOADED.search(studio_log(studio_url)) and time.monotonic() < deadline:
        time.sleep(1)
    lines = [line for line in studio_log(studio_url).splitlines() if line.strip()]
    assert lines and (ready := READY.fullmatch(lines[0])), lines[:5]
    assert ready.group(1) == studio_url
    said = [line for line in lines if not PROGRESS_BAR.search(line)]
    assert said[1:] and LOADED.fullmatch(said[1]), said[:5]
    assert len(said) == 2, "the studio printed more than its two lines:\n" + "\n".join(said[:40])
