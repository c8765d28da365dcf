"""The text bridge: for a language model without a trained projector, a picture reaches it as CoCa's caption and
zero-shot tags, a sound as CLAP's zero-shot tags over the shipped sound-event list, written into the user's turn."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from modules.config import load_config
from modules.contracts import GenerationSettings
from modules.text_bridge import LABEL_FILES, MediaContext, TextBridge, read_labels, uses_text_bridge
from tests.tiny_checkpoints import IMAGE_LABELS, SOUND_LABELS, labels_files, tiny_suite, write_media, write_profiles

SHORT = GenerationSettings(max_new_tokens=6)


def test_the_shipped_label_lists_are_long_clean_and_unique():
    sounds, pictures = read_labels(LABEL_FILES["audio"]), read_labels(LABEL_FILES["image"])
    assert len(sounds) >= 300 and len(pictures) >= 200
    raw = [line.strip() for line in LABEL_FILES["audio"].read_text(encoding="utf-8").splitlines()
           if line.strip() and not line.startswith("#")]
    assert len(raw) == len(set(raw)) == len(sounds)                     # no duplicate events in the file
    assert {"dog barking", "speech", "siren", "rain", "music", "applause"} <= set(sounds)


def test_a_report_reads_as_structured_context_before_the_question():
    bridge = TextBridge(["dog"], ["rain"])
    picture = MediaContext("image", "a dog on the grass", [("dog", 0.62), ("grass", 0.2)])
    turn = bridge.turn(picture, "")
    assert turn.splitlines()[1:3] == ["caption: a dog on the grass",
                                      "labels (zero-shot, with confidence): dog 62%, grass 20%"]
    assert turn.endswith("\n\nDescribe this picture.")
    sound = bridge.turn(MediaContext("audio", None, [("rain", 0.5)]), "雨吗？")
    assert "caption" not in sound and "sound events (zero-shot, with confidence): rain 50%" in sound
    assert sound.endswith("雨吗？")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from modules.pipeline import Pipeline

    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    labels = labels_files(tmp_path_factory.mktemp("labels"))
    path = write_profiles(tmp_path_factory.mktemp("profiles") / "spaces.yaml", {"hub-cpu": {
        **{role: {"source": str(folder)} for role, folder in suite.items()},
        "bridge": {"kind": "text", "image_labels": str(labels["image"]), "sound_labels": str(labels["audio"]),
                   "top_k": 3},
        "device": "cpu"}})
    return Pipeline(load_config(["--config", str(path)], {}))


@pytest.fixture
def heard(pipeline, monkeypatch):
    """The user turns the language model receives, in order."""
    lm = pipeline.components.get("language_model")
    turns, stream = [], lm.stream

    def listening(messages, *args, **kwargs):
        turns.append(messages[-1]["content"])
        return stream(messages, *args, **kwargs)

    monkeypatch.setattr(lm, "stream", listening)
    return turns


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return write_media(tmp_path_factory.mktemp("media"), (220, 30, 30), hertz=880, samples=24_000)


def test_a_picture_reaches_the_model_as_its_caption_and_tags(pipeline, heard, media):
    encoder = pipeline.components.get("image_encoder")
    picture = Image.open(media["picture"]).convert("RGB")
    caption, tags = encoder.caption(picture), encoder.tags(picture, IMAGE_LABELS, k=3)

    answer = list(pipeline.describe_image(str(media["picture"]), "What is it?", SHORT))[-1]
    turn = heard[-1]
    assert f"caption: {caption}" in turn
    assert "labels (zero-shot, with confidence): " + ", ".join(f"{l} {p:.0%}" for l, p in tags) in turn
    assert turn.endswith("\n\nWhat is it?") and "<|image|>" not in turn
    assert pipeline.last_trace()["question"] == "What is it?"          # the Inspector shows what the person asked
    # the answer is the model's answer to exactly that turn, not to the question alone
    assert answer == list(pipeline.chat(turn, None, [], SHORT))[-1].text
    assert answer != list(pipeline.chat("What is it?", None, [], SHORT))[-1].text


def test_a_picture_attached_in_the_chat_takes_the_same_path(pipeline, heard, media):
    events = list(pipeline.chat("", [str(media["picture"])], [], SHORT))
    assert events[-1].route == "describe_image"
    assert heard[-1].endswith("\n\nDescribe this picture.") and "caption: " in heard[-1]


def test_a_sound_reaches_the_model_as_sound_event_tags(pipeline, heard, media):
    from modules.media import MediaLimits, load_audio

    encoder = pipeline.components.get("audio_encoder")
    samples = load_audio(media["sound"], MediaLimits(sample_rate=encoder.model_rate))
    tags = encoder.tags(encoder.encode(samples, encoder.model_rate), SOUND_LABELS, k=3)

    answer = list(pipeline.describe_audio(str(media["sound"]), "", SHORT))[-1]
    turn = heard[-1]
    assert "sound events (zero-shot, with confidence): " + ", ".join(f"{l} {p:.0%}" for l, p in tags) in turn
    assert turn.endswith("\n\nDescribe this sound.") and "caption" not in turn
    assert answer == list(pipeline.chat(turn, None, [], SHORT))[-1].text


class _LM:
    def __init__(self, markers: bool):
        self.markers = markers

    def supports_media(self, kind):
        return self.markers


class _Components:
    def __init__(self, config):
        self.config = config

    def get(self, role):
        return object()                                    # a bridge with no trained_kinds: both kinds


@pytest.mark.parametrize("bridge, markers, text", [
    ({"source": "models/bridge", "kind": "prefix"}, True, False),   # projector weights + markers: the prefix
    ({"source": "models/bridge", "kind": "prefix"}, False, True),   # a hub chat model has no marker to fill
    ({"kind": "text"}, True, True),                                 # asked for in the profile
    (None, True, True),                                             # no projector at all
])
def test_the_prefix_bridge_is_used_only_where_it_can_be(tmp_path, bridge, markers, text):
    profile = {"language_model": {"source": "org/lm"}, **({"bridge": bridge} if bridge else {})}
    config = load_config(["--config", str(write_profiles(tmp_path / "p.yaml", {"p": profile}))], {})
    assert uses_text_bridge(_Components(config), _LM(markers), "image") is text
