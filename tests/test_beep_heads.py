"""The audio encoder's timing labels: each time token knows how many beeps have begun by its end."""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import torch

from modules.training.beep_heads import BeepCountHead, beep_onsets, begun_by_token
from modules.training.suite_config import EncoderStage
from modules.training.train_encoders import heard_and_timed
from modules.world.sounds import Sound, SoundStyle, random_sound, synthesize
from tests.fitting import fit

RATE = 16_000


def _beeps(rng: random.Random, count: int) -> Sound:
    sound = random_sound(rng)
    while sound.kind != "beeps":
        sound = random_sound(rng)
    return replace(sound, count=count, variation_seed=rng.randrange(1 << 30))


def test_onsets_are_found_in_beeps_made_either_way():
    rng = random.Random(0)
    for k in range(60):
        sound = _beeps(rng, 1 + k % 4)
        for style in (SoundStyle(), SoundStyle(free_timing=True)):
            assert len(beep_onsets(synthesize(sound, style=style))) == sound.count


def test_labels_follow_the_beeps_through_the_shift_and_the_trim():
    """After augmentation and trimming, the labels agree with the clean beeps placed where the heard sound matches
    them (found by the envelopes' cross-correlation, not by the labels' own bookkeeping); the last token names the
    count."""
    rng, stage = random.Random(1), EncoderStage()
    agree, total = 0, 0
    for k in range(40):
        sound = _beeps(rng, 1 + k % 4)
        clean = synthesize(sound, style=SoundStyle(free_timing=k % 2 == 0))
        heard, begun = heard_and_timed(sound, clean, stage, rng)
        assert begun[-1] == sound.count and np.all(np.diff(begun) >= 0)
        onsets = beep_onsets(clean) + _lag(clean, heard)
        expected = begun_by_token(onsets[(onsets >= 0) & (onsets < len(heard))], len(heard),
                                  int(stage.audio_min_seconds * RATE), stage.audio_tokens)
        agree += int((expected == begun).sum())
        total += len(begun)
    assert agree / total > 0.97


def _lag(clean: np.ndarray, heard: np.ndarray, frame: int = 40) -> int:
    """Samples by which clean is later in heard, from the cross-correlation of their envelopes."""
    def envelope(x: np.ndarray) -> np.ndarray:
        return np.abs(x[: len(x) // frame * frame]).reshape(-1, frame).mean(axis=1)
    a, b = envelope(clean), envelope(heard)
    scores = np.correlate(b - b.mean(), a - a.mean(), mode="full")
    return (int(scores.argmax()) - (len(a) - 1)) * frame


def test_tokens_count_beeps_begun_by_their_end():
    onsets = np.array([0, 8000, 16000])
    begun = begun_by_token(onsets, length=24_000, min_samples=24_000, tokens=6)   # tokens of 4,000 samples
    assert begun.tolist() == [1, 1, 2, 2, 3, 3]
    short = begun_by_token(np.array([100]), length=4_000, min_samples=24_000, tokens=6)   # padded to 1.5 s
    assert short.tolist() == [1] * 6


def test_the_head_learns_counts_from_tokens_that_carry_them():
    torch.manual_seed(0)
    begun = torch.tensor([[0, 1, 1, 2], [1, 1, 1, 1], [0, 0, 1, 3]])
    tokens = torch.nn.functional.one_hot(begun, 8).float()                              # (3, 4, 8)
    head = BeepCountHead(8)
    fit(head, lambda: head.loss(tokens, begun), steps=300)
    assert head.count_accuracy(tokens, begun) == 1.0
