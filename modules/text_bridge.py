"""The text bridge: a picture or a sound given to the language model as words, for checkpoints without a projector.

The image encoder's caption (CoCa) and zero-shot tags, or the audio encoder's zero-shot tags over a sound-event list
(assets/sound_labels.txt), are written into the user's turn as a short structured block before the question. Used
when the profile's bridge is `{kind: text}`, when it names no bridge, or when the language model has no
`<|image|>` / `<|audio|>` marker to hold a prefix (any hub chat model, or a remote one behind an OpenAI API).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
LABEL_FILES = {"image": ASSETS / "image_labels.txt", "audio": ASSETS / "sound_labels.txt"}
DEFAULT_QUESTION = {"image": "Describe this picture.", "audio": "Describe this sound."}
TEMPLATES = {"image": "a photo of {}.", "audio": "the sound of {}."}


def read_labels(path: str | Path) -> list[str]:
    """One label a line; blank lines and # comments skipped; duplicates dropped (first kept)."""
    labels = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        label = line.split("#", 1)[0].strip()
        if label and label not in labels:
            labels.append(label)
    if not labels:
        raise ValueError(f"{path}: no labels (one a line)")
    return labels


@dataclass
class MediaContext:
    """What the encoders say about one picture or sound."""

    kind: str                                               # "image" | "audio"
    caption: str | None = None                              # CoCa's caption; None when the encoder cannot caption
    tags: list[tuple[str, float]] = field(default_factory=list)   # (label, probability), best first

    def as_text(self) -> str:
        noun = "picture" if self.kind == "image" else "sound"
        model = "An image model" if self.kind == "image" else "An audio model"
        lines = [f"[{noun} attached; you cannot see or hear it yourself. {model} reports:]"]
        if self.caption:
            lines.append(f"caption: {self.caption}")
        if self.tags:
            what = "labels" if self.kind == "image" else "sound events"
            lines.append(f"{what} (zero-shot, with confidence): " +
                         ", ".join(f"{label} {probability:.0%}" for label, probability in self.tags))
        lines.append(f"[end of {noun} report]")
        return "\n".join(lines)


class TextBridge:
    kind = "text"

    def __init__(self, image_labels: list[str], sound_labels: list[str], top_k: int = 5,
                 templates: dict[str, str] | None = None):
        self.labels = {"image": image_labels, "audio": sound_labels}
        self.top_k = top_k
        self.templates = {**TEMPLATES, **(templates or {})}

    @classmethod
    def from_options(cls, options: dict | None = None, base: Path | None = None) -> "TextBridge":
        """Options of `bridge: {kind: text, …}`: image_labels / sound_labels (files), top_k, image_template,
        sound_template. Relative label files are read against `base` (the profiles file's folder)."""
        options = options or {}

        def labels(key: str, kind: str) -> list[str]:
            path = Path(options.get(key) or LABEL_FILES[kind]).expanduser()
            return read_labels(path if path.is_absolute() or base is None else base / path)

        templates = {kind: options[f"{name}_template"] for kind, name in (("image", "image"), ("audio", "sound"))
                     if options.get(f"{name}_template")}
        return cls(labels("image_labels", "image"), labels("sound_labels", "audio"), int(options.get("top_k", 5)),
                   templates)

    def describe_picture(self, encoder, image) -> MediaContext:
        encoded = encoder.encode(image)
        tags = encoder.tags(encoded, self.labels["image"], self.top_k, self.templates["image"])
        return MediaContext("image", encoder.caption(image) if getattr(encoder, "can_caption", False) else None, tags)

    def describe_sound(self, encoder, samples, rate: int, text_encoder=None) -> MediaContext:
        encoded = encoder.encode(samples, rate)
        return MediaContext("audio", None, encoder.tags(encoded, self.labels["audio"], self.top_k,
                                                        self.templates["audio"], text_encoder=text_encoder))

    def turn(self, context: MediaContext, question: str) -> str:
        """The user's turn: the report, then the question (a default one when the person asked nothing)."""
        return f"{context.as_text()}\n\n{question.strip() or DEFAULT_QUESTION[context.kind]}"


@lru_cache(maxsize=1)
def default_text_bridge() -> TextBridge:
    return TextBridge.from_options({})


def text_bridge_for(components) -> TextBridge:
    """The profile's text bridge when it configures one, else the default (shipped label lists)."""
    source = components.config.roles.get("bridge")
    if source is not None and source.kind == "text":
        return components.get("bridge")
    return default_text_bridge()


def uses_text_bridge(components, lm, kind: str) -> bool:
    """Words instead of a prefix: the bridge is `text` or absent, the LM has no marker to hold a prefix, or the
    projector was not trained for this kind (modules.training.projector trains pictures only)."""
    source = components.config.roles.get("bridge")
    if source is None or source.kind == "text" or not lm.supports_media(kind):
        return True
    bridge_config = getattr(getattr(components.get("bridge"), "model", None), "config", None)
    trained = getattr(bridge_config, "trained_kinds", None)      # a projector trained for pictures only
    return trained is not None and kind not in trained


def media_turn(components, kind: str, path: str, question: str, limits) -> str:
    """A picture or sound file + the question -> the user's turn for the language model, as text."""
    from .media import load_audio, load_image

    bridge = text_bridge_for(components)
    if kind == "image":
        context = bridge.describe_picture(components.get("image_encoder"), load_image(path, limits))
    else:
        encoder = components.get("audio_encoder")
        rate = int(getattr(encoder, "model_rate", encoder.sample_rate))      # CLAP hears 48 kHz: read at that
        samples = load_audio(path, dataclasses.replace(limits, sample_rate=rate))
        text_encoder = None if hasattr(encoder, "encode_texts") else components.get("image_encoder").encode_texts
        context = bridge.describe_sound(encoder, samples, rate, text_encoder)
    return bridge.turn(context, question or "")
