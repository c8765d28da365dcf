"""The built-in world's sounds: beeps, tones, sweeps and noise, how they are synthesised, and their descriptions."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
KINDS: dict[str, str] = {"beeps": "蜂鸣声", "tone": "长音", "rising": "上升的扫频音", "falling": "下降的扫频音",
                         "noise": "噪声"}
PITCHES: dict[str, tuple[float, str]] = {"low": (220.0, "低音"), "medium": (440.0, "中音"), "high": (880.0, "高音")}
TIMBRES: dict[str, str] = {"pure": "纯净的", "buzzy": "嗡嗡的"}
COUNT_WORDS_EN = {1: "one", 2: "two", 3: "three", 4: "four"}
COUNT_WORDS_ZH = {1: "一", 2: "两", 3: "三", 4: "四"}


@dataclass(frozen=True)
class Sound:
    kind: str
    pitch: str | None = None      # beeps and tone only
    timbre: str | None = None     # beeps, tone and sweeps
    count: int | None = None      # beeps only
    variation_seed: int = 0       # loudness, duration, hiss and timing; never part of the description

    def content_key(self) -> str:
        return f"{self.kind}|{self.pitch}|{self.timbre}|{self.count}"


def describe_en(sound: Sound) -> str:
    if sound.kind == "beeps":
        noun = "beep" if sound.count == 1 else "beeps"
        return f"{COUNT_WORDS_EN[sound.count]} {sound.pitch} {sound.timbre} {noun}"
    if sound.kind == "tone":
        return f"a long {sound.pitch} {sound.timbre} tone"
    if sound.kind in ("rising", "falling"):
        return f"a {sound.kind} {sound.timbre} sweep"
    return "a hiss of noise"


def describe_zh(sound: Sound) -> str:
    if sound.kind == "beeps":
        return f"{COUNT_WORDS_ZH[sound.count]}声{TIMBRES[sound.timbre]}{PITCHES[sound.pitch][1]}蜂鸣"
    if sound.kind == "tone":
        return f"一个{TIMBRES[sound.timbre]}{PITCHES[sound.pitch][1]}长音"
    if sound.kind in ("rising", "falling"):
        return f"一个{TIMBRES[sound.timbre]}{KINDS[sound.kind]}"
    return "一段噪声"


def random_sound(rng: random.Random) -> Sound:
    kind = rng.choice(["beeps", "beeps", "beeps", "tone", "tone", "rising", "falling", "noise"])
    pitch = rng.choice(sorted(PITCHES)) if kind in ("beeps", "tone") else None
    timbre = rng.choice(sorted(TIMBRES)) if kind != "noise" else None
    count = rng.randint(1, 4) if kind == "beeps" else None
    return Sound(kind, pitch, timbre, count, rng.randrange(1 << 30))


def all_sound_contents() -> list[Sound]:
    """Every distinct description the world has (35 of them)."""
    sounds = [Sound("beeps", p, t, c) for p in PITCHES for t in TIMBRES for c in range(1, 5)]
    sounds += [Sound("tone", p, t) for p in PITCHES for t in TIMBRES]
    sounds += [Sound(k, None, t) for k in ("rising", "falling") for t in TIMBRES]
    return sounds + [Sound("noise")]


def _oscillator(phase: np.ndarray, timbre: str) -> np.ndarray:
    sine = np.sin(phase)
    return sine if timbre == "pure" else np.sign(sine) * 0.6


def _band_limited_square(phase: np.ndarray, frequency: np.ndarray | float, rate: int, partials: int = 32
                         ) -> np.ndarray:
    """A square wave as a synthesiser that avoids aliasing makes one: its first `partials` odd harmonics (32: every
    one a rate up to 48 kHz lets through), each only while it stays below 0.45 of the rate, at the naive square's
    loudness. phase, frequency: (samples,) or frequency a float."""
    frequency = np.broadcast_to(np.asarray(frequency, dtype=np.float64), phase.shape)
    wave = np.zeros_like(phase)
    for harmonic in range(1, 2 * partials, 2):
        audible = harmonic * frequency < 0.45 * rate                          # (samples,)
        if not audible.any():
            break
        wave += np.where(audible, np.sin(harmonic * phase) / harmonic, 0.0)
    return wave * (4 / np.pi) * 0.6


# How a freely made buzzy sound's square wave is made, as different programs make it: naive (its harmonics above
# the rate fold back), band-limited (every odd harmonic below 0.45 of the rate), or a soft square of its first 2 to
# 4 odd partials alone, as a synthesiser's "square" at a low rate or through a small speaker sounds. Without the
# soft squares, sweeps of the second synthesiser that kept only their third (or fifth) harmonic were all heard
# "pure": buzzy sweeps described right 9 of 17 times outside (the sound tower before them, 150 sounds, seed 23).
SQUARE_MAKINGS = ("naive", "band-limited", "soft")


def square_making(rng: np.random.Generator) -> tuple[str, int]:
    """One draw: which way a buzzy sound's square is made (SQUARE_MAKINGS: 0.4, 0.3, 0.3) and how many odd partials
    it keeps (naive: every one, folded back, 0 here; band-limited: 32; soft: 2 to 4)."""
    u = float(rng.random())
    if u < 0.4:
        return "naive", 0
    if u < 0.7:
        return "band-limited", 32
    return "soft", 2 + min(2, int((u - 0.7) / 0.1))


def _freely_made_wave(phase: np.ndarray, timbre: str, frequency: np.ndarray | float, rate: int,
                      making: tuple[str, int]) -> np.ndarray:
    """A freely made sound's wave; a buzzy one's square made as `making` (square_making) says."""
    if timbre != "buzzy" or making[0] == "naive":
        return _oscillator(phase, timbre)
    return _band_limited_square(phase, frequency, rate, partials=making[1])


def _coloured_noise(samples: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls with frequency as f^-tilt, tilt drawn from 0 (white) to 2 (brown); standard
    deviation 0.5, as the world's white noise. (samples,)."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.fft.rfftfreq(samples, 1 / rate)
    tilt = float(rng.uniform(0.0, 2.0))
    shaped = np.fft.irfft(spectrum * np.maximum(frequencies, 20.0) ** (-tilt / 2), n=samples)
    return (shaped / max(float(shaped.std()), 1e-9) * 0.5).astype(np.float32)


def _envelope(samples: int, fade: int) -> np.ndarray:
    env = np.ones(samples, dtype=np.float32)
    fade = min(fade, samples // 2)
    env[:fade] = np.linspace(0.0, 1.0, fade)
    env[samples - fade:] = np.linspace(1.0, 0.0, fade)
    return env


@dataclass(frozen=True)
class SoundStyle:
    """How a sound is made. The default is the world's own way (1 to 3 s, beeps spread evenly over it); free
    timing is the ways people make the same sound: BEEP_SECONDS long beeps with GAP_SECONDS gaps, even or not,
    silence before and after, tones and sweeps of TONE_SECONDS, everything within 0.3 to 6 s, beeps and tones at
    any frequency their pitch word covers (PITCH_RANGES); the squares of buzzy sounds made three ways
    (SQUARE_MAKINGS), half of the noise coloured rather than white."""

    free_timing: bool = False


# What the words mean for a sound made any other way: a beep lasts at most 0.4 s, a tone at least 0.6 s.
# A pitch word names the nearest of the three pitches on a log scale (pitch_of: below 311 Hz low, above 622 Hz
# high); a freely made sound keeps 8 % clear of those boundaries, and stays under 1,300 Hz, where a buzzy sound
# heard at 8 kHz keeps its third harmonic. Made only at the world's three frequencies (±3 %), beeps at 300, 660
# or 1,200 Hz were all counted "one beep".
PITCH_RANGES: dict[str, tuple[float, float]] = {"low": (150.0, 288.0), "medium": (336.0, 576.0),
                                                "high": (672.0, 1300.0)}
BEEP_SECONDS = (0.05, 0.4)
GAP_SECONDS = (0.05, 0.6)
TONE_SECONDS = (0.6, 6.0)
LONGEST_SECONDS = 6.0


def pitch_of(frequency: float) -> str:
    """The pitch word for a frequency in Hz: the nearest of the world's three pitches on a log scale."""
    return min(PITCHES, key=lambda word: abs(np.log(frequency / PITCHES[word][0])))


def free_frequency(pitch: str, rng: np.random.Generator) -> float:
    """A frequency a person might give a sound of this pitch word: log-uniform over PITCH_RANGES[pitch], in Hz."""
    low, high = PITCH_RANGES[pitch]
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def synthesize(sound: Sound, rate: int = SAMPLE_RATE, style: SoundStyle = SoundStyle()) -> np.ndarray:
    """The sound as float32 mono samples, shape (samples,): 1 to 3 seconds long in the world's own way, 0.3 to 6
    with free timing."""
    if style.free_timing:
        return _freely_timed(sound, rate)
    rng = np.random.default_rng(sound.variation_seed)
    duration = float(rng.uniform(1.0, 3.0))
    total = int(duration * rate)
    t = np.arange(total) / rate
    out = np.zeros(total, dtype=np.float32)
    if sound.kind == "beeps":
        base = PITCHES[sound.pitch][0] * rng.uniform(0.97, 1.03)
        slot = total / sound.count
        beep = int(min(slot * 0.5, 0.25 * rate))
        for k in range(sound.count):
            start = int(k * slot + rng.uniform(0.15, 0.3) * slot)
            start = min(start, total - beep)
            phase = 2 * np.pi * base * t[:beep]
            out[start:start + beep] += _oscillator(phase, sound.timbre) * _envelope(beep, rate // 200)
    elif sound.kind == "tone":
        base = PITCHES[sound.pitch][0] * rng.uniform(0.97, 1.03)
        out += _oscillator(2 * np.pi * base * t, sound.timbre) * _envelope(total, rate // 50)
    elif sound.kind in ("rising", "falling"):
        low, high = rng.uniform(180, 260), rng.uniform(900, 1300)
        f0, f1 = (low, high) if sound.kind == "rising" else (high, low)
        freq = f0 * (f1 / f0) ** (t / duration)                      # exponential sweep, (samples,)
        phase = 2 * np.pi * np.cumsum(freq) / rate
        out += _oscillator(phase, sound.timbre) * _envelope(total, rate // 50)
    else:
        out += rng.standard_normal(total).astype(np.float32) * 0.5 * _envelope(total, rate // 50)
    gain = float(rng.uniform(0.3, 0.9))
    hiss = rng.standard_normal(total).astype(np.float32) * float(rng.uniform(0.0, 0.01))
    return np.clip(out * gain + hiss, -1.0, 1.0).astype(np.float32)


def _freely_timed(sound: Sound, rate: int) -> np.ndarray:
    """The sound with free timing (SoundStyle): (samples,)."""
    rng = np.random.default_rng(sound.variation_seed)
    before, after = (float(rng.uniform(0.0, 0.8)) if rng.random() < 0.6 else 0.0 for _ in range(2))
    if sound.kind == "beeps":
        body = _beep_pattern(sound, rate, rng)
    else:
        room = LONGEST_SECONDS - before - after
        low = 0.3 if sound.kind == "noise" else TONE_SECONDS[0] if sound.kind == "tone" else 0.4
        seconds = float(np.exp(rng.uniform(np.log(low), np.log(max(low, room)))))
        body = _steady_or_sweep(sound, int(seconds * rate), rate, rng)
    out = np.concatenate([np.zeros(int(before * rate), np.float32), body, np.zeros(int(after * rate), np.float32)])
    out = out[: int(LONGEST_SECONDS * rate)]
    if len(out) < int(0.3 * rate):                                 # the shortest sound anyone makes is 0.3 s
        out = np.concatenate([out, np.zeros(int(0.3 * rate) - len(out), np.float32)])
    return np.clip(out * float(rng.uniform(0.3, 0.9)), -1.0, 1.0).astype(np.float32)


def _beep_pattern(sound: Sound, rate: int, rng: np.random.Generator) -> np.ndarray:
    """count beeps of BEEP_SECONDS with GAP_SECONDS between them, all alike or each its own: (samples,)."""
    even, making = rng.random() < 0.5, square_making(rng)
    beep, gap = rng.uniform(*BEEP_SECONDS), rng.uniform(*GAP_SECONDS)
    base = free_frequency(sound.pitch, rng)
    parts = []
    for k in range(sound.count):
        length = int((beep if even else rng.uniform(*BEEP_SECONDS)) * rate)
        phase = 2 * np.pi * base * np.arange(length) / rate
        wave = _freely_made_wave(phase, sound.timbre, base, rate, making)
        parts.append(wave * _envelope(length, int(rng.uniform(0.003, 0.012) * rate)))
        if k < sound.count - 1:
            parts.append(np.zeros(int((gap if even else rng.uniform(*GAP_SECONDS)) * rate), np.float32))
    return np.concatenate(parts).astype(np.float32)


def _steady_or_sweep(sound: Sound, total: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A tone, a sweep or noise of `total` samples: (total,)."""
    t = np.arange(total) / rate
    fade = int(rng.uniform(0.005, 0.03) * rate)
    making = square_making(rng)
    if sound.kind == "tone":
        base = free_frequency(sound.pitch, rng)
        wave = _freely_made_wave(2 * np.pi * base * t, sound.timbre, base, rate, making)
        return (wave * _envelope(total, fade)).astype(np.float32)
    if sound.kind in ("rising", "falling"):
        low, high = rng.uniform(150, 300), rng.uniform(750, 1500)
        f0, f1 = (low, high) if sound.kind == "rising" else (high, low)
        freq = f0 * (f1 / f0) ** (t / max(t[-1], 1e-6)) if rng.random() < 0.5 else np.linspace(f0, f1, total)
        phase = 2 * np.pi * np.cumsum(freq) / rate
        wave = _freely_made_wave(phase, sound.timbre, freq, rate, making)
        return (wave * _envelope(total, fade)).astype(np.float32)
    noise = _coloured_noise(total, rate, rng) if rng.random() < 0.5 else rng.standard_normal(total) * 0.5
    return (noise * _envelope(total, fade)).astype(np.float32)
