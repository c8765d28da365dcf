"""Decoding and validating uploaded pictures and sounds: limits, conversions to one plain form, clear errors."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageOps
from scipy.signal import resample_poly

from modules.contracts import InputError

_MB = 1024 * 1024
# Formats we decode; anything else (EPS, ICO, PSD, …) is refused rather than handed to a rarely used plugin.
_PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_PICTURE_KINDS = "PNG, JPEG, WebP, GIF, BMP, TIFF"
_SOUND_KINDS = "WAV, FLAC, OGG, MP3"
# What PIL raises on damaged or mislabelled data, depending on the plugin.
_PIL_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)


@dataclass(frozen=True)
class MediaLimits:
    """What an upload may be; the defaults suit a public Space."""

    max_file_bytes: int = 20 * _MB          # a bigger upload is refused before it is decoded
    max_image_pixels: int = 40_000_000      # width*height above this is refused (decompression bombs)
    min_image_side: int = 8                 # smaller pictures are refused as too small to see anything
    max_audio_seconds: float = 30.0         # longer sounds are refused (message says the length and the limit)
    min_audio_seconds: float = 0.1          # shorter sounds carry nothing to describe
    sample_rate: int = 16_000               # the rate sounds are converted to (what the audio encoder expects)


def display_name(path: str | os.PathLike | None) -> str:
    """The file's base name for messages: never the full server path."""
    if path is None:
        return "(no file)"
    return Path(os.fspath(path)).name or os.fspath(path)


# ---------------------------------------------------------------------------------------------- files


def _checked_file(path: str | os.PathLike | None, limits: MediaLimits, kind: str) -> Path:
    """The path of an existing, non-empty regular file within the size limit; InputError otherwise."""
    if path is None:
        raise InputError(f"No {kind} was given; please upload one.")
    name = display_name(path)
    file = Path(os.fspath(path))
    if file.is_dir():
        raise InputError(f"'{name}' is a folder, not a {kind} file.")
    if not file.is_file():
        raise InputError(f"'{name}' could not be found; please upload it again.")
    size = file.stat().st_size
    if size == 0:
        raise InputError(f"'{name}' is empty (0 bytes); please upload the {kind} again.")
    if size > limits.max_file_bytes:
        raise InputError(
            f"'{name}' is {size / _MB:.1f} MB; the largest file accepted is {limits.max_file_bytes / _MB:g} MB."
        )
    return file


# ---------------------------------------------------------------------------------------------- pictures


def load_image(path: str | os.PathLike, limits: MediaLimits = MediaLimits()) -> Image.Image:
    """An uploaded picture as an RGB image: first frame, EXIF orientation applied, transparency on white."""
    file = _checked_file(path, limits, "picture")
    name = display_name(file)
    try:
        with Image.open(file, formats=_PICTURE_FORMATS) as picture:
            _check_picture_size(picture.size, name, limits)   # from the header, before any pixel is decoded
            picture.load()                                    # first frame only
            upright = _upright(picture)
            return _to_rgb(upright)
    except InputError:   # our own refusal (a ValueError) passes through unchanged
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL's own guard (Image.MAX_IMAGE_PIXELS) fired while reading the header.
        raise InputError(
            f"'{name}' has far too many pixels; the most accepted is {limits.max_image_pixels:,} pixels."
        ) from exc
    except _PIL_DECODE_ERRORS as exc:
        raise InputError(
            f"'{name}' is not a picture we can read ({_PICTURE_KINDS}); "
            "it may be damaged, cut short, or a different kind of file."
        ) from exc


def _check_picture_size(size: tuple[int, int], name: str, limits: MediaLimits) -> None:
    width, height = size
    if width * height > limits.max_image_pixels:
        raise InputError(
            f"'{name}' is {width}×{height} pixels ({width * height:,}); "
            f"the most accepted is {limits.max_image_pixels:,} pixels."
        )
    if min(width, height) < limits.min_image_side:
        side = limits.min_image_side
        raise InputError(
            f"'{name}' is {width}×{height} pixels, too small to see anything; "
            f"pictures must be at least {side}×{side} pixels."
        )


def _upright(picture: Image.Image) -> Image.Image:
    """The picture turned as its EXIF orientation says; unchanged when the EXIF data is missing or broken."""
    try:
        return ImageOps.exif_transpose(picture)
    except Exception:   # broken EXIF must not cost the person their picture
        return picture.copy()


def _to_rgb(picture: Image.Image) -> Image.Image:
    """Any PIL mode → RGB; high-bit-depth grey scaled to 8 bits; transparent areas composited onto white."""
    if picture.mode.startswith("I") or picture.mode == "F":
        picture = _grey_to_8_bit(picture)
    if not picture.has_transparency_data:
        return picture.convert("RGB")
    rgba = picture.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _grey_to_8_bit(picture: Image.Image) -> Image.Image:
    """I;16 / I / F grey → L, keeping relative brightness (PIL's own convert clips instead of scaling)."""
    values = np.nan_to_num(np.asarray(picture, dtype=np.float64))    # (H, W)
    peak = float(values.max())
    if picture.mode == "F":
        scale = 255.0 if peak <= 1.0 else 1.0          # floats in [0, 1] or already in [0, 255]
    elif picture.mode.startswith("I;16") or peak > 255:
        scale = 255.0 / 65535.0                        # 16-bit samples
    else:
        scale = 1.0                                    # 32-bit integers that hold 8-bit values
    grey = np.clip(np.round(values * scale), 0, 255).astype(np.uint8)   # (H, W)
    return Image.fromarray(grey)


# ---------------------------------------------------------------------------------------------- sounds


def load_audio(path: str | os.PathLike, limits: MediaLimits = MediaLimits()) -> np.ndarray:
    """An uploaded sound as float32 mono samples in [-1, 1] at limits.sample_rate, shape (samples,)."""
    file = _checked_file(path, limits, "sound")
    name = display_name(file)
    samples, rate = _read_sound(file, name, limits)           # (frames, channels), Hz
    _check_duration(len(samples) / rate, name, limits)       # the frames actually decoded
    if not np.isfinite(samples).all():
        raise InputError(
            f"'{name}' contains invalid samples (not-a-number or infinite values); please export it again."
        )
    mono = samples.mean(axis=1)                               # (frames,)
    resampled = _resample(mono, rate, limits.sample_rate)    # (samples,)
    return np.clip(resampled, -1.0, 1.0).astype(np.float32)


def _read_sound(file: Path, name: str, limits: MediaLimits) -> tuple[np.ndarray, int]:
    """Decoded samples, shape (frames, channels), float32 (integer PCM scaled to [-1, 1]), and their rate."""
    try:
        with sf.SoundFile(file) as sound:
            _check_duration(sound.frames / sound.samplerate, name, limits)   # from the header, before decoding
            return sound.read(dtype="float32", always_2d=True), sound.samplerate
    except InputError:   # our own refusal (a ValueError) passes through unchanged
        raise
    except (RuntimeError, ValueError, TypeError, OSError) as exc:   # sf.LibsndfileError is a RuntimeError
        raise InputError(
            f"'{name}' is not a sound we can read ({_SOUND_KINDS}); "
            "it may be damaged, cut short, or a different kind of file."
        ) from exc


def _check_duration(seconds: float, name: str, limits: MediaLimits) -> None:
    if seconds <= 0:
        raise InputError(f"'{name}' contains no sound (it is 0 seconds long).")
    if seconds > limits.max_audio_seconds:
        raise InputError(
            f"'{name}' is {_seconds(seconds)} seconds long; "
            f"sounds can be at most {_seconds(limits.max_audio_seconds)} seconds."
        )
    if seconds < limits.min_audio_seconds:
        raise InputError(
            f"'{name}' is only {_seconds(seconds)} seconds long; "
            f"sounds must be at least {_seconds(limits.min_audio_seconds)} seconds."
        )


def _seconds(value: float) -> str:
    """12.5 → '12.5', 30.0 → '30', 0.0525 → '0.05'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """(frames,) at rate → (frames * target_rate / rate,) at target_rate, by polyphase filtering."""
    if rate == target_rate:
        return samples
    common = gcd(rate, target_rate)
    return resample_poly(samples, target_rate // common, rate // common)
