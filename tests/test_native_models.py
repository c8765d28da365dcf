"""Native multimodal checkpoints (profile `language_model: {kind: native}`), tiny and random, built here from their
config classes: a picture and a sound reach Qwen3-Omni-MoE and Gemma 4 MoE through their own processor and chat
template (no caption, no encoder or bridge loaded), Qwen3-VL-MoE sees pictures and says it cannot hear, the
Inspector traces every model's experts, the talker speaks an answer into the chat only when asked and is not loaded
before, and hub-omni stops offline with the command that fetches it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modules.config import load_config
from modules.contracts import GenerationSettings, InputError
from tests.tiny_checkpoints import write_media, write_profiles
from tests.tiny_native import BUILDERS

REPO = Path(__file__).resolve().parent.parent
SHORT = GenerationSettings(max_new_tokens=5)


@pytest.fixture(scope="session")
def native_checkpoints(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """model type -> (its checkpoint folder, what it was built with)."""
    root = tmp_path_factory.mktemp("native-checkpoints")
    built = {}
    for model_type, build in BUILDERS.items():
        folder = root / model_type
        folder.mkdir()
        built[model_type] = (folder, build(folder))
    return built


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    return write_media(tmp_path_factory.mktemp("native-media"), (220, 30, 30), 440.0, 16_000)


def native_pipeline(folder: Path, where: Path, **options):
    from modules.pipeline import Pipeline

    profiles = write_profiles(where / "spaces.yaml", {"native": {
        "language_model": {"kind": "native", "source": str(folder), **options}, "device": "cpu",
        "dtype": "float32"}})
    return Pipeline(load_config(["--config", str(profiles)], {}))


class ProcessorSpy:
    """The checkpoint's processor, recording each prompt text it is given."""

    def __init__(self, processor):
        self.processor, self.prompts = processor, []

    def __call__(self, text, **kwargs):
        self.prompts.append(text[0])
        return self.processor(text=text, **kwargs)

    def __getattr__(self, name):
        return getattr(self.processor, name)


@pytest.fixture(scope="module", params=list(BUILDERS))
def studio(request, native_checkpoints, tmp_path_factory):
    folder, built = native_checkpoints[request.param]
    pipeline = native_pipeline(folder, tmp_path_factory.mktemp(request.param))
    lm = pipeline.components.get("language_model")
    lm.processor = ProcessorSpy(lm.processor)
    return request.param, pipeline, lm, built


def last_event(pipeline, text, files=None, settings=SHORT, history=None):
    events = list(pipeline.chat(text, [str(f) for f in files or []], history or [], settings))
    assert events[-1].done
    return events[-1]


def user_turn(prompt: str, marks: dict) -> str:
    """The last user turn of a prompt, as the model reads it (marks: the template's turn openings and end)."""
    return prompt.rsplit(marks["user"], 1)[1].split(marks["end"], 1)[0]


def check_expert_trace(trace: dict, built: dict) -> None:
    """What the Inspector draws: k distinct routed experts per MoE layer per token, load summing to k per token,
    active parameters leaving out the n - k routed experts of each MoE layer that a token skips."""
    n, k = built["experts"], built["top_k"]
    assert trace["moe_layers"] == built["moe_layers"] and trace["num_experts"] == n
    assert trace["answer_tokens"] == len(trace["experts"]) > 0
    for per_token in trace["experts"]:
        assert [len(set(ids)) for ids in per_token] == [k] * len(built["moe_layers"])
        assert all(0 <= e < n for ids in per_token for e in ids)
    assert [sum(row) for row in trace["expert_load"]] == [k * trace["answer_tokens"]] * len(built["moe_layers"])
    assert 0 < trace["params_active"] < trace["params_total"]
    idle = len(built["moe_layers"]) * (n - k) * built["expert_params"]
    assert trace["params_total"] - trace["params_active"] == idle


def test_a_picture_goes_in_through_the_processor_with_no_caption_and_the_experts_are_traced(studio, media):
    model_type, pipeline, lm, built = studio
    event = last_event(pipeline, "what colour is it?", [media["picture"]])
    assert event.route == "describe_image" and event.text
    # the user's turn is the picture's place, widened by the processor to its patches, and the question: no words
    # about the picture (no caption, no tags) were written for the model
    marks = built["marks"]
    assert user_turn(lm.processor.prompts[-1], marks) == marks["image"] + "what colour is it?"
    assert event.trace["media_tokens"]["image"] == built["picture_tokens"]
    check_expert_trace(event.trace, built)
    status = pipeline.status()
    assert status["image_encoder"].startswith("unavailable: not configured")      # nothing else read the picture
    assert status["bridge"].startswith("unavailable: not configured")


def test_a_sound_reaches_a_model_that_hears_and_a_picture_only_model_says_it_cannot_hear(studio, media):
    model_type, pipeline, lm, built = studio
    if not built["hears"]:
        assert not lm.accepts_content_part("audio")
        with pytest.raises(Exception, match="bridge|audio"):
            last_event(pipeline, "what is this sound?", [media["sound"]])
        return
    event = last_event(pipeline, "what is this sound?", [media["sound"]])
    assert event.route == "describe_audio" and event.text
    assert user_turn(lm.processor.prompts[-1], built["marks"]) == built["marks"]["audio"] + "what is this sound?"
    assert event.trace["media_tokens"]["audio"] > 0 and "image" not in event.trace["media_tokens"]
    check_expert_trace(event.trace, built)


def test_text_chat_keeps_the_history_and_streams(studio):
    model_type, pipeline, lm, built = studio
    history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi there"}]
    events = list(pipeline.chat("and now?", None, history, GenerationSettings(max_new_tokens=4)))
    assert events[-1].done and events[-1].route == "chat" and events[-1].trace["answer_tokens"] == 4
    assert len(events) >= 3                                      # streamed: several updates before the last
    prompt, marks = lm.processor.prompts[-1], built["marks"]
    assert marks["user"] + "hello" + marks["end"] in prompt and marks["assistant"] + "hi there" + marks["end"] in prompt
    check_expert_trace(events[-1].trace, built)


def test_the_talker_is_loaded_only_when_an_answer_is_to_be_spoken(native_checkpoints, media, tmp_path):
    folder, built = native_checkpoints["qwen3_omni_moe"]
    pipeline = native_pipeline(folder, tmp_path, speech_max_tokens=6)
    lm = pipeline.components.get("language_model")
    plain = last_event(pipeline, "hello", settings=SHORT)
    assert plain.speech is None and plain.trace["speech"] is None
    assert not lm.talker_loaded and not hasattr(lm.model, "talker") and not hasattr(lm.model, "code2wav")
    quiet_total = plain.trace["params_total"]
    assert sorted(pipeline.voices()) == sorted(built["voices"])
    with pytest.raises(InputError, match="valid choices: .*Ethan"):
        last_event(pipeline, "hello", settings=GenerationSettings(max_new_tokens=3, speak=True, voice="Nobody"))
    spoken = last_event(pipeline, "what is in the picture?", [media["picture"]],
                        GenerationSettings(max_new_tokens=5, speak=True, voice="chelsie"))
    assert lm.talker_loaded and spoken.text
    assert spoken.speech.voice == "Chelsie" and spoken.speech.sample_rate == 24_000
    assert spoken.speech.samples.dtype == np.float32 and spoken.speech.samples.size > 0
    assert np.isfinite(spoken.speech.samples).all() and np.abs(spoken.speech.samples).max() > 0
    assert spoken.trace["speech"]["voice"] == "Chelsie" and spoken.trace["speech"]["seconds"] > 0
    assert spoken.trace["params_total"] > quiet_total               # the talker's weights count once loaded
    check_expert_trace(spoken.trace, built)                         # the thinker's experts, not the talker's


def test_the_chat_plays_the_spoken_answer_as_a_wav(native_checkpoints, media, tmp_path):
    import soundfile as sf

    from modules.ui.chat_tab import ChatHandlers
    from modules.ui.session import StopSwitches

    folder, _ = native_checkpoints["qwen3_omni_moe"]
    pipeline = native_pipeline(folder, tmp_path, speech_max_tokens=6)
    handlers = ChatHandlers(pipeline.chat, pipeline.config.limits, StopSwitches())
    message = {"text": "hello", "files": []}
    *_, (chatbot, route, notices, failure) = handlers.respond(message, [{"role": "user", "content": "hello"}],
                                                             0.0, 0.9, 4, -1, None, False, True, "Ethan")
    assert failure is None, failure
    played = [m["content"]["path"] for m in chatbot if isinstance(m["content"], dict)]
    assert len(played) == 1 and played[0].endswith(".wav")
    samples, rate = sf.read(played[0])
    assert rate == 24_000 and len(samples) > 0


def test_asking_a_model_without_a_talker_to_speak_answers_in_text_and_says_so(native_checkpoints, tmp_path):
    folder, _ = native_checkpoints["qwen3_vl_moe"]
    pipeline = native_pipeline(folder, tmp_path)
    event = last_event(pipeline, "hello", settings=GenerationSettings(max_new_tokens=3, speak=True))
    assert event.text and event.speech is None and pipeline.voices() == []
    assert any("text only" in notice for notice in event.notices)


def test_hub_omni_offline_names_the_checkpoint_and_the_download_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIMOE_", "HF_", "GRADIO_", "SPACE_ID"))}
    env.update({"HF_HUB_CACHE": str(tmp_path / "empty-cache"), "HF_HOME": str(tmp_path / "hf-home"),
                "HF_HUB_OFFLINE": "1"})
    result = subprocess.run([sys.executable, "app.py", "--profile", "hub-omni", "--port", "7998"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr
    assert "language_model: Qwen/Qwen3-Omni-30B-A3B-Instruct (missing: nothing cached)" in message, message
    assert "hf download Qwen/Qwen3-Omni-30B-A3B-Instruct " in message
    assert "image_decoder: black-forest-labs/FLUX.1-schnell" in message
    assert "python -m modules.offline --profile hub-omni --download" in message
    assert "Traceback" not in message



def _answers(lm, question: str, keep_language: bool, seeds=range(6)) -> list[tuple[str, list[bytes]]]:
    """(answer text, its tokens' bytes) for each seed, sampled at temperature 1 from the random checkpoint."""
    from modules.language_model import GenerationStats

    out, decode = [], lm.tokenizer.decode
    for seed in seeds:
        pieces: list[bytes] = []

        def spy(ids, *args, **kwargs):                # the stream decodes each new token alone once
            if len(ids) == 1:
                pieces.append(lm.keeper.pieces[ids[0]])
            return decode(ids, *args, **kwargs)

        lm.tokenizer.decode = spy
        try:
            settings = GenerationSettings(max_new_tokens=24, temperature=1.0, top_p=1.0, seed=seed,
                                          keep_language=keep_language)
            turn = [{"role": "user", "content": [{"type": "text", "text": question}]}]
            text = list(lm.stream(turn, settings, GenerationStats()))
        finally:
            lm.tokenizer.decode = decode
        out.append((text[-1] if text else "", pieces))
    return out


def test_the_language_guard_keeps_a_native_models_answer_in_the_questions_language(native_checkpoints, tmp_path):
    """The random checkpoint writes bytes of CJK characters into English answers and Latin words into Chinese ones
    on its own; with the guard (keep_language, the default) it writes neither."""
    from modules.language_guard import EAST_ASIAN_LEADS
    from modules.world.chat import latin_names_in_chinese_answers
    from modules.world.language import foreign_in

    folder, _ = native_checkpoints["qwen3_omni_moe"]
    lm = native_pipeline(folder, tmp_path).components.get("language_model")

    def east_asian(pieces: list[bytes]) -> bool:      # a token that starts a CJK or full-width character
        return any(b in EAST_ASIAN_LEADS for piece in pieces for b in piece)

    assert any(east_asian(pieces) for _, pieces in _answers(lm, "what is in the picture?", keep_language=False))
    assert not any(east_asian(pieces) for _, pieces in _answers(lm, "what is in the picture?", keep_language=True))
    names = latin_names_in_chinese_answers()
    unguarded = [foreign_in(text, "zh", names) for text, _ in _answers(lm, "图片里有什么？", keep_language=False)]
    assert any(unguarded)
    for text, _ in _answers(lm, "图片里有什么？", keep_language=True):
        words = foreign_in(text, "zh", names)
        # at most the start of an allowed name, cut by the token cap at the answer's end
        assert all(text.rstrip().endswith(w) and any(n.startswith(w) for n in names) for w in words), text
