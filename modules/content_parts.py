"""A picture or a sound as content parts of the user's turn, for a language model that reads them itself: OpenAI
content parts for a server whose profile says it takes them (`modalities: [text, image, audio]`: the picture as an
`image_url` part holding a PNG data URI, the sound as an `input_audio` part holding a WAV), or the decoded picture
and sound themselves for a native multimodal checkpoint, whose processor reads them. Each is checked against the
studio's media limits first."""
from __future__ import annotations

import base64
import io

from .media import MediaLimits, load_audio, load_image
from .text_bridge import DEFAULT_QUESTION


def picture_part(path: str, limits: MediaLimits) -> dict:
    buffer = io.BytesIO()
    load_image(path, limits).save(buffer, format="PNG")
    return {"type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}}


def sound_part(path: str, limits: MediaLimits) -> dict:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, load_audio(path, limits), limits.sample_rate, format="WAV", subtype="PCM_16")
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(buffer.getvalue()).decode(),
                                                   "format": "wav"}}


def media_parts(kind: str, path: str, question: str, limits: MediaLimits) -> list[dict]:
    """The user's turn as content parts: the question (a default one when none was asked), then the media."""
    media = picture_part(path, limits) if kind == "image" else sound_part(path, limits)
    return [{"type": "text", "text": question.strip() or DEFAULT_QUESTION[kind]}, media]


def native_parts(kind: str, path: str, question: str, limits: MediaLimits) -> list[dict]:
    """The user's turn for a checkpoint's own processor and chat template: the media first, then the question.
    A picture part holds a PIL RGB image, a sound part float32 mono samples at limits.sample_rate (16 kHz, the rate
    Qwen3-Omni's feature extractor reads)."""
    media = ({"type": "image", "image": load_image(path, limits)} if kind == "image"
             else {"type": "audio", "audio": load_audio(path, limits)})
    return [media, {"type": "text", "text": question.strip() or DEFAULT_QUESTION[kind]}]


def user_parts(lm, kind: str, path: str, question: str, limits: MediaLimits) -> list[dict]:
    """The turn as this language model takes it: the media themselves (native) or OpenAI content parts (remote)."""
    if getattr(lm, "reads_media_itself", False):
        return native_parts(kind, path, question, limits)
    return media_parts(kind, path, question, limits)


def takes_content_parts(lm, kind: str) -> bool:
    """Whether the language model reads this kind of media itself, as content parts (a native checkpoint, or a
    remote model whose profile says so)."""
    accepts = getattr(lm, "accepts_content_part", None)
    return bool(accepts and accepts(kind))
