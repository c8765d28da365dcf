"""A picture or a sound as OpenAI content parts, for a language model behind an OpenAI-compatible server whose
profile says it takes them (`modalities: [text, image, audio]`): the picture as an `image_url` part holding a PNG
data URI, the sound as an `input_audio` part holding a WAV, each checked against the studio's media limits first."""
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


def takes_content_parts(lm, kind: str) -> bool:
    """Whether the language model reads this kind of media itself, as content parts (remote models only)."""
    accepts = getattr(lm, "accepts_content_part", None)
    return bool(accepts and accepts(kind))
