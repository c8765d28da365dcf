"""A second sound synthesiser, used only for evaluation: the world's sounds made by other code, at other lengths,
spacings, rates, channel counts, loudness and file formats than the training synthesiser."""
from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from ..world.sounds import KINDS, PITCHES, TIMBRES, Sound

RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
# file kind -> (soundfile format, subtype, suffix). libsndfile 1.1+ writes MP3 (MPEG layer III) itself.
SOUND_FORMATS: dict[str, tuple[str, str, str]] = {
    "wav": ("WAV", "PCM_16", ".wav"),
    "wav-float": ("WAV", "FLOAT", ".wav"),
    "flac": ("FLAC", "PCM_16", ".flac"),
    "ogg": ("OGG", "VORBIS", ".ogg"),
    "mp3": ("MP3", "MPEG_LAYER_III", ".mp3"),
}
SOUND_KINDS = tuple(KINDS)


@dataclass(frozen=True)
class OutsideSoundStyle:
    """The ranges a sound is drawn from. A beep is at most half as long as the shortest tone, so the two words
    never meet; the gap between beeps is never shorter than the shortest beep's own length."""

    total_seconds: tuple[float, float] = (0.3, 6.0)
    beep_seconds: tuple[float, float] = (0.05, 0.4)
    gap_seconds: tuple[float, float] = (0.05, 0.6)
    tone_seconds: tuple[float, float] = (0.8, 6.0)     # a tone shorter than this could pass for one beep
    sweep_seconds: tuple[float, float] = (0.5, 6.0)
    pitch_reach: float = 0.3                           # frequency up to this far (natural log) from the pitch
                                                       # word's either way: low 163-297 Hz, high 652-1,188 Hz (the
                                                       # words meet at ±0.347). Within ±4 % before: beeps at other
                                                       # frequencies, all counted "one", went unseen
    peak: tuple[float, float] = (0.03, 1.6)            # quiet to clipped (above 1 the wave is cut at ±1)
    hiss_below_db: tuple[float, float] = (25.0, 60.0)  # background hiss this far below the sound's peak
    stereo_share: float = 0.4


@dataclass
class MadeSound:
    samples: np.ndarray        # float32, (frames,) mono or (frames, 2) stereo, in [-1, 1]
    rate: int
    sound: Sound               # the words that describe it
    onsets: list[float]        # seconds at which each beep starts (beeps only)


# ---- waves ------------------------------------------------------------------------------------------------

def oscillator(phase: np.ndarray, timbre: str, frequency: np.ndarray | float, rate: int) -> np.ndarray:
    """pure: a sine; buzzy: a square built from its odd harmonics up to the rate's Nyquist limit."""
    if timbre == "pure":
        return np.sin(phase)
    if timbre != "buzzy":
        raise ValueError(f"unknown timbre {timbre!r}; valid: {', '.join(TIMBRES)}")
    wave = np.zeros_like(phase)
    for harmonic in kept_harmonics(float(np.max(frequency)), rate):
        wave += np.sin(harmonic * phase) / harmonic
    return wave * (4 / math.pi) * 0.7                       # a square's partial sums, at about the sine's loudness


def kept_harmonics(highest: float, rate: int) -> list[int]:
    """The odd harmonics of a square wave whose fundamental reaches `highest` Hz that stay under the rate's
    Nyquist limit (with room for the resampler's roll-off): 1 alone means the wave is a sine."""
    return [h for h in range(1, 40, 2) if h * highest < 0.45 * rate]


def glide_ceiling(timbre: str, rate: int) -> float:
    """The highest frequency a sweep may reach at this rate: a buzzy one keeps at least its third harmonic (at
    8 kHz a buzzy sweep up to 1,600 Hz kept none above 1,200 Hz, and a sine was labelled buzzy)."""
    ceiling = min(1600.0, 0.4 * rate)
    return min(ceiling, 0.44 * rate / 3) if timbre == "buzzy" else ceiling


def ramp_envelope(frames: int, rate: int, rng: random.Random) -> np.ndarray:
    """(frames,) raised-cosine attack and release of 2 to 15 ms, flat between."""
    ramp = min(frames // 3, int(rate * rng.uniform(0.002, 0.015)))
    envelope = np.ones(frames)
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, ramp))
        envelope[:ramp], envelope[frames - ramp:] = rise, rise[::-1]
    return envelope


def frequency_of(pitch: str, rng: random.Random, style: OutsideSoundStyle) -> float:
    return PITCHES[pitch][0] * math.exp(rng.uniform(-style.pitch_reach, style.pitch_reach))


def steady(frequency: float, timbre: str, frames: int, rate: int, rng: random.Random) -> np.ndarray:
    """A steady note of `frames` samples, random starting phase."""
    phase = 2 * math.pi * frequency * np.arange(frames) / rate + rng.uniform(0, 2 * math.pi)
    return oscillator(phase, timbre, frequency, rate) * ramp_envelope(frames, rate, rng)


def glide(kind: str, timbre: str, frames: int, rate: int, rng: random.Random) -> np.ndarray:
    """A sweep from a low to a high frequency (rising) or back (falling), straight or curved in time."""
    low, high = rng.uniform(150.0, 300.0), rng.uniform(800.0, glide_ceiling(timbre, rate))
    start, end = (low, high) if kind == "rising" else (high, low)
    progress = np.linspace(0.0, 1.0, frames) ** rng.choice([1.0, 0.7, 1.4])         # (frames,)
    frequency = start + (end - start) * progress if rng.random() < 0.5 else start * (end / start) ** progress
    phase = 2 * math.pi * np.cumsum(frequency) / rate
    return oscillator(phase, timbre, frequency, rate) * ramp_envelope(frames, rate, rng)


def hiss(frames: int, rng: np.random.Generator, coloured: bool) -> np.ndarray:
    """White noise, or noise with its highs rolled off by a one-pole low-pass; standard deviation about 1/3."""
    white = rng.standard_normal(frames)
    if not coloured:
        return white / 3.0
    alpha = 0.3                                    # y[n] = alpha * x[n] + (1 - alpha) * y[n - 1]
    smooth = lfilter([alpha], [1.0, alpha - 1.0], white)
    return smooth / (3.0 * math.sqrt(alpha / (2 - alpha)))


def beep_onsets(count: int, beep: float, rng: random.Random, style: OutsideSoundStyle) -> tuple[list[float], float]:
    """Start times (seconds) of `count` beeps of length `beep`, evenly or unevenly spaced after some silence,
    and the whole sound's length with silence after the last beep."""
    even = rng.random() < 0.5
    common_gap = rng.uniform(*style.gap_seconds)
    gaps = [common_gap if even else rng.uniform(*style.gap_seconds) for _ in range(count - 1)]
    busy = count * beep + sum(gaps)
    spare = max(0.0, rng.uniform(*style.total_seconds) - busy)
    lead = spare * rng.uniform(0.0, 1.0)
    onsets, at = [], lead
    for k in range(count):
        onsets.append(at)
        at += beep + (gaps[k] if k < count - 1 else 0.0)
    tail = max(spare - lead, 0.0)
    return onsets, max(at + tail, style.total_seconds[0])


def made_wave(sound: Sound, rate: int, rng: random.Random, style: OutsideSoundStyle) -> tuple[np.ndarray, list[float]]:
    """The sound before loudness and hiss: float (frames,), peak about 1, and its beep onsets."""
    if sound.kind == "beeps":
        beep = rng.uniform(*style.beep_seconds)
        onsets, total = beep_onsets(sound.count, beep, rng, style)
        wave = np.zeros(int(math.ceil(total * rate)) + 1)
        frequency = frequency_of(sound.pitch, rng, style)
        frames = int(beep * rate)
        for onset in onsets:
            start = int(onset * rate)
            wave[start:start + frames] += steady(frequency, sound.timbre, frames, rate, rng)[: len(wave) - start]
        return wave, onsets
    if sound.kind == "tone":
        frames = int(rng.uniform(*style.tone_seconds) * rate)
        return steady(frequency_of(sound.pitch, rng, style), sound.timbre, frames, rate, rng), []
    if sound.kind in ("rising", "falling"):
        frames = int(rng.uniform(*style.sweep_seconds) * rate)
        return glide(sound.kind, sound.timbre, frames, rate, rng), []
    if sound.kind == "noise":
        frames = int(rng.uniform(*style.total_seconds) * rate)
        noise = hiss(frames, np.random.default_rng(rng.randrange(1 << 30)), rng.random() < 0.5)
        return noise * ramp_envelope(frames, rate, rng), []
    raise ValueError(f"unknown sound kind {sound.kind!r}; valid: {', '.join(SOUND_KINDS)}")


def random_outside_sound(rng: random.Random, kind: str | None = None) -> Sound:
    """Words for a random sound: every kind alike unless one is asked for."""
    kind = kind or rng.choice(SOUND_KINDS)
    if kind not in KINDS:
        raise ValueError(f"unknown sound kind {kind!r}; valid: {', '.join(SOUND_KINDS)}")
    pitch = rng.choice(sorted(PITCHES)) if kind in ("beeps", "tone") else None
    timbre = rng.choice(sorted(TIMBRES)) if kind != "noise" else None
    count = rng.randint(1, 4) if kind == "beeps" else None
    return Sound(kind, pitch, timbre, count, rng.randrange(1 << 30))


def make_outside(sound: Sound, style: OutsideSoundStyle = OutsideSoundStyle()) -> MadeSound:
    """The sound made by this synthesiser, its variations drawn from sound.variation_seed."""
    rng = random.Random(f"outside-sound-{sound.variation_seed}")
    rate = rng.choice(RATES)
    wave, onsets = made_wave(sound, rate, rng, style)
    peak = rng.uniform(*style.peak)
    wave = wave / max(float(np.abs(wave).max()), 1e-9) * peak
    noise = np.random.default_rng(rng.randrange(1 << 30))
    floor = peak * 10 ** (-rng.uniform(*style.hiss_below_db) / 20)
    wave = wave + noise.standard_normal(len(wave)) * floor
    if rng.random() < style.stereo_share:
        wave = np.stack([wave * rng.uniform(0.6, 1.0), wave * rng.uniform(0.6, 1.0)], axis=1)   # (frames, 2)
    return MadeSound(np.clip(wave, -1.0, 1.0).astype(np.float32), rate, sound, onsets)


# ---- files ------------------------------------------------------------------------------------------------

def encoded_sound(made: MadeSound, kind: str) -> tuple[bytes, str]:
    """The sound as the bytes of a file of this kind (SOUND_FORMATS) and its suffix."""
    if kind not in SOUND_FORMATS:
        raise ValueError(f"unknown sound format {kind!r}; valid: {', '.join(SOUND_FORMATS)}")
    container, subtype, suffix = SOUND_FORMATS[kind]
    buffer = io.BytesIO()
    sf.write(buffer, made.samples, made.rate, format=container, subtype=subtype)
    return buffer.getvalue(), suffix


def save_outside_sound(made: MadeSound, folder: Path, name: str, rng: random.Random,
                       kinds: tuple[str, ...] = tuple(SOUND_FORMATS)) -> tuple[Path, str]:
    """Saves the sound in a random one of `kinds`: (path, kind)."""
    kind = rng.choice(kinds)
    data, suffix = encoded_sound(made, kind)
    path = Path(folder) / f"{name}{suffix}"
    path.write_bytes(data)
    return path, kind
