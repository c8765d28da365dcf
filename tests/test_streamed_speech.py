"""Streamed speech on a tiny random Qwen3-Omni: the spoken answer comes in pieces while the talker is still speaking,
the pieces join into the waveform transformers' own generate(return_audio=True) gives for the same seed, the chat's
player is handed the pieces and the chat still ends with the whole WAV."""
from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from modules.contracts import GenerationSettings, SpeechPiece
from modules.language_model import GenerationStats
from modules.native_lm import NativeLanguageModel
from modules.talker_stream import SpeechStreaming
from tests.test_native_models import native_pipeline
from tests.tiny_native import build_omni

SPEECH_TOKENS = 24               # the talker's codec frames per answer at most
FRAMES = 4                       # codec frames per streamed piece


@pytest.fixture(scope="module")
def omni(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-omni")
    build_omni(folder)
    return folder


def speaker(folder: Path, chunk_frames: int) -> NativeLanguageModel:
    return NativeLanguageModel.load(str(folder), torch.device("cpu"), torch.float32, speech_max_tokens=SPEECH_TOKENS,
                                    streaming=SpeechStreaming(chunk_frames, 25))


def spoken(lm: NativeLanguageModel, **settings) -> tuple[str, list[SpeechPiece], GenerationStats]:
    """(the answer's text, the pieces of speech in the order yielded, the stats)."""
    stats = GenerationStats()
    wanted = GenerationSettings(max_new_tokens=6, speak=True, voice="Ethan", **settings)
    items = list(lm.stream([{"role": "user", "content": "hello"}], wanted, stats))
    texts = [item for item in items if isinstance(item, str)]
    assert items[:len(texts)] == texts                                   # the words first, then the voice
    return texts[-1], [item for item in items if isinstance(item, SpeechPiece)], stats


@pytest.mark.parametrize("settings", [{"temperature": 0.0, "seed": 3}, {"temperature": 0.8, "seed": 11}])
def test_pieces_join_into_the_waveform_of_the_whole_answer(omni, settings):
    text, whole, stats = spoken(speaker(omni, 0), **settings)             # transformers' generate(return_audio=True)
    assert len(whole) == 1 and stats.speech is not None
    streamed_text, pieces, streamed = spoken(speaker(omni, FRAMES), **settings)
    assert streamed_text == text
    assert [p.index for p in pieces] == list(range(len(pieces)))
    joined = np.concatenate([p.samples for p in pieces])
    assert np.array_equal(joined, streamed.speech.samples)
    assert joined.shape == stats.speech.samples.shape                     # no sample lost or doubled at the seams
    assert np.abs(joined - stats.speech.samples).max() < 1e-5
    assert len(pieces) > 1 or len(joined) <= FRAMES * 8                   # 8 samples a codec frame


def test_the_first_piece_comes_while_the_talker_is_still_speaking(omni):
    """The talker is held after its first piece's frames until the first piece has been handed out: a stream that
    only speaks once the talker is done would wait there (and time out) instead."""
    lm = speaker(omni, FRAMES)
    lm.load_talker()
    first_out, steps, held = threading.Event(), [], []

    def hold(module, args, kwargs):
        steps.append(1)
        if len(steps) == FRAMES + 2:                                       # the step after the first piece's frames
            held.append(first_out.wait(timeout=120))

    handle = lm.model.talker.register_forward_pre_hook(hold, with_kwargs=True)
    try:
        stats, pieces, steps_at_first = GenerationStats(), 0, None
        wanted = GenerationSettings(max_new_tokens=6, speak=True, voice="Ethan", seed=3)
        for item in lm.stream([{"role": "user", "content": "hello"}], wanted, stats):
            if isinstance(item, SpeechPiece):
                pieces += 1
                if steps_at_first is None:
                    steps_at_first = len(steps)
                    first_out.set()
    finally:
        handle.remove()
    assert held == [True]                                                 # released by the first piece, not a timeout
    assert steps_at_first < len(steps) and pieces > 1


def test_the_chat_plays_the_pieces_and_keeps_the_whole_wav(omni, tmp_path):
    import soundfile as sf

    from modules.ui.chat_tab import ChatHandlers
    from modules.ui.session import StopSwitches

    pipeline = native_pipeline(omni, tmp_path, speech_max_tokens=SPEECH_TOKENS, speech_chunk_frames=FRAMES)
    handlers = ChatHandlers(pipeline.chat, pipeline.config.limits, StopSwitches(), plays_speech=True)
    updates = list(handlers.respond({"text": "hello", "files": []}, [{"role": "user", "content": "hello"}],
                                    0.0, 0.9, 6, 3, None, False, True, "Ethan"))
    chatbot, _, _, failure, _ = updates[-1]
    assert failure is None, failure
    played = [player for *_, player in updates if isinstance(player, bytes)]
    assert len(played) > 1
    pieces = [sf.read(io.BytesIO(data), dtype="int16") for data in played]
    assert all(rate == 24_000 for _, rate in pieces)
    wav = [m["content"]["path"] for m in chatbot if isinstance(m["content"], dict)]
    assert len(wav) == 1 and wav[0].endswith(".wav")
    whole, rate = sf.read(wav[0], dtype="int16")
    assert np.array_equal(np.concatenate([samples for samples, _ in pieces]), whole)


def test_profile_speech_chunk_frames_is_checked(tmp_path):
    from modules.config import ConfigError, load_config
    from tests.tiny_checkpoints import write_profiles

    profiles = write_profiles(tmp_path / "spaces.yaml", {"native": {
        "language_model": {"kind": "native", "source": str(tmp_path), "speech_chunk_frames": -1}, "device": "cpu"}})
    with pytest.raises(ConfigError, match="speech_chunk_frames: -1 is not valid; expected a whole number, at least 0"):
        load_config(["--config", str(profiles)], {})


def talker_steps(lm: NativeLanguageModel, stop: threading.Event | None) -> tuple[int, GenerationStats]:
    """(the talker's forward steps for one spoken answer, the stats); with `stop`, it is set at the talker's first
    step, as the Stop button or the request's deadline would while the answer is being spoken."""
    steps = []

    def count(module, args, kwargs):
        steps.append(1)
        if stop is not None:
            stop.set()

    lm.load_talker()
    handle = lm.model.talker.register_forward_pre_hook(count, with_kwargs=True)
    try:
        stats = GenerationStats()
        wanted = GenerationSettings(max_new_tokens=6, speak=True, voice="Ethan", seed=3)
        list(lm.stream([{"role": "user", "content": "hello"}], wanted, stats, stop=stop))
    finally:
        handle.remove()
    return len(steps), stats


@pytest.mark.parametrize("chunk_frames", [0, FRAMES], ids=["whole", "streamed"])
def test_stop_ends_the_talker_at_its_next_step(omni, chunk_frames):
    lm = speaker(omni, chunk_frames)
    spoken_steps, _ = talker_steps(lm, None)
    stopped_steps, stats = talker_steps(lm, threading.Event())
    assert spoken_steps > 4                                              # the unstopped talker speaks on
    assert stopped_steps <= 2                                            # the step it was stopped in, one more at most
    assert stats.stopped                                                 # so the studio says "Stopped." or timed out
