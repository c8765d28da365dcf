"""A spoken answer (modules.native_lm.Speech) as the bytes of one audio format: a WAV file for the chat and for
/chat, and for /v1 whichever of OpenAI's output formats the installed libsndfile writes (wav, flac, mp3, opus) or
raw 16-bit PCM (pcm16)."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AudioFormat:
    """How one format is written: soundfile's container and subtype, or raw samples (container None)."""

    container: str | None
    subtype: str
    mime: str


# OpenAI's names for the output formats of chat completions, in the order its documentation lists them; aac is
# not here because libsndfile cannot write it.
FORMATS = {"wav": AudioFormat("WAV", "PCM_16", "audio/wav"),
           "mp3": AudioFormat("MP3", "MPEG_LAYER_III", "audio/mpeg"),
           "flac": AudioFormat("FLAC", "PCM_16", "audio/flac"),
           "opus": AudioFormat("OGG", "OPUS", "audio/ogg"),
           "pcm16": AudioFormat(None, "PCM_16", "audio/pcm")}


def available_formats() -> list[str]:
    """The format names this machine's soundfile can write (pcm16 and wav always)."""
    import soundfile as sf

    writable = sf.available_formats()
    return [name for name, fmt in FORMATS.items()
            if fmt.container is None or (fmt.container in writable and fmt.subtype in sf.available_subtypes(
                fmt.container))]


def pcm16(samples: np.ndarray) -> bytes:
    """float samples in [-1, 1] (samples,) -> little-endian signed 16-bit PCM, 2 bytes a sample."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (np.round(clipped * 32767.0).astype("<i2")).tobytes()


def encode_speech(speech, name: str = "wav") -> bytes:
    """The spoken answer in format `name` (a key of FORMATS); ValueError naming the valid ones otherwise."""
    import soundfile as sf

    if name not in FORMATS:
        raise ValueError(f"audio format {name!r} is not one this studio writes; valid formats: "
                         f"{', '.join(available_formats())}")
    fmt = FORMATS[name]
    if fmt.container is None:
        return pcm16(speech.samples)
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(speech.samples, dtype=np.float32), speech.sample_rate, format=fmt.container,
             subtype=fmt.subtype)
    return buffer.getvalue()
