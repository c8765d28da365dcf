"""Plain values that cross the boundary between the pipeline and its callers (UI, API, tests)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


class InputError(ValueError):
    """A request a person can fix: the message says what is wrong and what is accepted."""


class FeatureUnavailable(RuntimeError):
    """A role needed for this request failed to load; the message names the role, the source and why."""


@dataclass(frozen=True)
class GenerationSettings:
    """How the language model samples an answer."""

    temperature: float = 0.0      # 0 = greedy (deterministic); up to 2.0
    top_p: float = 0.9            # nucleus mass kept, in (0, 1]
    max_new_tokens: int = 96      # answer length cap, 1 ..= the profile's limit
    seed: int | None = None       # fixed seed for reproducible sampling; None = random
    keep_language: bool = True    # the answer stays in the language of the last user message (language_guard)
    speak: bool = False           # also speak the answer (a checkpoint with a talker: Qwen3-Omni); off by default
    voice: str | None = None      # the talker's voice (e.g. Ethan); None = the checkpoint's first
    trace_experts: bool = True    # keep each token's routed experts for the Inspector (stats.experts); off = empty
    thinking: bool = False        # think before answering (深度思考), where the model can (modules.thinking)


@dataclass(frozen=True)
class DrawSettings:
    """How the image decoder draws."""

    steps: int = 12               # denoising steps, 1 ..= the profile's limit
    guidance: float = 3.0         # classifier-free guidance scale, 0 ..= 20
    seed: int | None = None       # None = random, reported back with each picture
    count: int = 1                # pictures per request, 1 ..= the profile's limit


@dataclass
class DrawnPicture:
    """One picture from the image decoder, with what made it."""

    image: Any                    # PIL.Image.Image, RGB
    prompt: str
    seed: int
    steps: int
    guidance: float


RouteName = Literal["chat", "describe_image", "describe_audio", "draw"]
MediaKind = Literal["image", "audio"]         # what the encoders read: a picture or a sound


@dataclass(frozen=True)
class Source:
    """One search result given to the language model, cited in its answer as [number]."""

    number: int                   # 1, 2, … in the order given to the model; 0 until numbered
    title: str                    # a page's title, or a document's file name (and section)
    address: str                  # a page's http(s) address; "" for a document
    text: str                     # the passage the model was given
    kind: Literal["page", "document"] = "page"


@dataclass
class ChatEvent:
    """One update of a streamed answer. `text` is the whole answer so far, not a delta; `thinking` is what the model
    wrote between <think> and </think> before it (so far), "" when it did not think."""

    text: str
    route: RouteName
    thinking: str = ""
    pictures: list[DrawnPicture] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)   # e.g. "history trimmed to fit the context"
    done: bool = False
    trace: dict = field(default_factory=dict)           # this answer's trace (tokens, experts); on the done event
    sources: list[Source] = field(default_factory=list)  # what search found and the model was given, numbered
    speech: Any = None            # the spoken answer (modules.native_lm.Speech: samples, sample_rate, voice); done event
    speech_piece: "SpeechPiece | None" = None   # the next piece of the spoken answer, as the talker makes it


@dataclass(frozen=True)
class SpeechPiece:
    """The next piece of a spoken answer while the talker speaks: the pieces in order join into the done event's
    speech."""

    samples: Any                  # float32 mono numpy array (samples,)
    sample_rate: int
    voice: str
    index: int                    # 0, 1, … in the order they are played
