"""Spoken answers through the APIs, on a studio served in-process around a tiny random Qwen3-Omni (thinker, talker,
code-to-wave decoder): /chat with speak=True returns the answer's WAV among its files, /v1/chat/completions with
OpenAI's audio output form returns message.audio (whole, or streamed as delta.audio pieces: pcm16 as the talker
makes them), and a model with no
talker (the built-in one) answers in text with a notice on /chat and refuses audio with 400 on /v1."""
from __future__ import annotations

import base64
import io
import time
import wave
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from gradio_client.exceptions import AppError

from modules.native_lm import SPEECH_RATE, Speech
from modules.speech_formats import FORMATS, available_formats, encode_speech
from tests.e2e_server import skip_unless_models, studio_in_process
from tests.test_native_models import ProcessorSpy, native_pipeline
from tests.tiny_native import build_omni

SPEECH_TOKENS = 24               # the talker's codec tokens per answer at most (profile speech_max_tokens)
TOKENS = 6                       # the thinker's tokens per answer
CHUNK_FRAMES = 4                 # codec frames per streamed piece (profile speech_chunk_frames)
VALID_FORMATS = ["wav", "mp3", "flac", "opus", "pcm16"]


@pytest.fixture(scope="module")
def omni(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-omni")
    return folder, build_omni(folder)


@pytest.fixture(scope="module")
def speaking(omni, tmp_path_factory):
    """(gradio_client Client, the pipeline, what the checkpoint was built with) of a studio on the tiny Qwen3-Omni,
    its processor recording each prompt."""
    folder, built = omni
    pipeline = native_pipeline(folder, tmp_path_factory.mktemp("speaking"), speech_max_tokens=SPEECH_TOKENS,
                               speech_chunk_frames=CHUNK_FRAMES)
    lm = pipeline.components.get("language_model")
    lm.processor = ProcessorSpy(lm.processor)
    with studio_in_process(pipeline) as client:
        yield client, pipeline, built


@pytest.fixture(scope="module")
def built_in():
    """A studio on the built-in models: a language model without a talker."""
    from modules.config import load_config
    from modules.pipeline import Pipeline

    skip_unless_models()
    with studio_in_process(Pipeline(load_config([], {}))) as client:
        yield client


def v1(client) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{client.src.rstrip('/')}/v1", api_key="unused", max_retries=0, timeout=300)


def post(client, **body) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": TOKENS, **body}
    return httpx.post(f"{client.src.rstrip('/')}/v1/chat/completions", json=body, timeout=300)


def wav_samples(data: bytes) -> np.ndarray:
    """The samples of a 24 kHz 16-bit mono WAV file, read with the standard library (int16, (samples,)); fails on
    anything else."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    with wave.open(io.BytesIO(data)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, SPEECH_RATE)
        return np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")


def check_spoken(samples: np.ndarray, built: dict) -> None:
    """Audible, and as long as the talker's codes can make: at least one code's samples, at most SPEECH_TOKENS'."""
    assert built["samples_per_code"] <= len(samples) <= SPEECH_TOKENS * built["samples_per_code"], len(samples)
    level = samples.astype(np.float64) / 32768
    assert np.abs(level).max() > 0.01 and np.sqrt(np.mean(level**2)) > 0.001, np.abs(level).max()
    assert len(np.unique(samples)) > len(samples) // 4               # a waveform, not a constant or a click


# ---- /chat (gradio_client) ----------------------------------------------------------------------------------

def test_chat_endpoint_returns_the_spoken_answer_as_a_wav_file(speaking):
    client, pipeline, built = speaking
    reply = client.predict({"text": "what is a mixture of experts?", "files": []}, max_new_tokens=TOKENS,
                           speak=True, voice="chelsie", api_name="/chat")
    assert reply["text"]
    assert len(reply["files"]) == 1 and reply["files"][0].endswith(".wav"), reply
    samples = wav_samples(Path(reply["files"][0]).read_bytes())      # downloaded by the client
    check_spoken(samples, built)
    spoken = client.predict(api_name="/inspect")["speech"]
    assert spoken["voice"] == "Chelsie" and spoken["seconds"] == round(len(samples) / SPEECH_RATE, 3)


def test_chat_endpoint_keeps_its_positional_parameters_and_takes_speak_and_voice_last(speaking):
    client, pipeline, built = speaking
    names = [p["parameter_name"] for p in client.view_api(return_format="dict", print_info=False)
             ["named_endpoints"]["/chat"]["parameters"]]
    assert names[-4:] == ["search", "thinking", "speak", "voice"]
    quiet = client.predict({"text": "hello", "files": []}, [], 0, 0.9, TOKENS, 1, False, False, api_name="/chat")
    assert quiet["text"] and quiet["files"] == []                       # an older client's call: no speech
    spoken = client.predict({"text": "hello", "files": []}, [], 0, 0.9, TOKENS, 1, False, False, True, "",
                            api_name="/chat")
    first = pipeline.voices()[0].lower()                                # an empty voice: the model's first
    assert len(spoken["files"]) == 1 and f"answer-{first}-" in Path(spoken["files"][0]).name, spoken
    check_spoken(wav_samples(Path(spoken["files"][0]).read_bytes()), built)


def test_chat_endpoint_refuses_an_unknown_voice_naming_the_valid_ones(speaking):
    client, pipeline, built = speaking
    assert sorted(pipeline.voices()) == sorted(built["voices"])
    with pytest.raises(AppError, match=f"'Nobody'.*valid choices: {', '.join(pipeline.voices())}"):
        client.predict({"text": "hello", "files": []}, max_new_tokens=TOKENS, speak=True, voice="Nobody",
                       api_name="/chat")


def test_chat_endpoint_on_a_model_without_a_talker_answers_in_text_with_a_notice(built_in):
    job = built_in.submit({"text": "hello", "files": []}, max_new_tokens=12, speak=True, voice="Ethan",
                          api_name="/chat")
    reply = job.result()
    updates = job.communicator.updates                  # every status the client was sent, Info logs among them
    logs = [getattr(updates.get_nowait(), "log", None) for _ in range(updates.qsize())]
    assert reply["text"] and reply["files"] == []
    assert any(log and log[1] == "info" and "text only" in log[0] and "talker" in log[0] for log in logs), logs


# ---- /v1/chat/completions -----------------------------------------------------------------------------------

def test_v1_returns_message_audio_as_openai_does(speaking):
    client, pipeline, built = speaking
    asked = int(time.time())
    answer = v1(client).chat.completions.create(
        model="omnimoe/native", messages=[{"role": "user", "content": "hello"}], max_tokens=TOKENS,
        modalities=["text", "audio"], audio={"voice": "Ethan", "format": "wav"})
    message = answer.choices[0].message
    audio = message.audio                               # the openai package's ChatCompletionAudio
    assert audio.id.startswith("audio_") and audio.expires_at > asked
    assert audio.transcript == message.content and audio.transcript
    check_spoken(wav_samples(base64.b64decode(audio.data)), built)
    assert pipeline.last_trace()["speech"]["voice"] == "Ethan"


def test_v1_streams_the_text_then_the_audio_as_delta_audio_pieces_as_the_talker_speaks(speaking):
    client, _, built = speaking
    stream = v1(client).chat.completions.create(
        model="omnimoe/native", messages=[{"role": "user", "content": "hello"}], max_tokens=TOKENS, stream=True,
        modalities=["text", "audio"], audio={"voice": "chelsie", "format": "pcm16"})
    text, pieces, order = "", [], []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            text += delta.content
            order.append("text")
        if delta.audio is not None:
            audio = delta.audio
            pieces.append(audio if isinstance(audio, dict) else audio.model_dump(exclude_none=True))
            order.append("audio")
    assert text and order.index("audio") > order.index("text")
    first, *data, last = pieces
    assert first["id"].startswith("audio_") and first["transcript"] == text
    assert data and all(p["id"] == first["id"] and p["data"] for p in data)
    assert set(last) == {"expires_at"} and last["expires_at"] > time.time()
    raw = b"".join(base64.b64decode(p["data"]) for p in data)   # pcm16: little-endian 16-bit samples at 24 kHz
    assert len(raw) % 2 == 0
    samples = np.frombuffer(raw, dtype="<i2")
    check_spoken(samples, built)
    # one delta a piece of CHUNK_FRAMES codec frames: several for an answer longer than one piece
    frames = -(-len(samples) // built["samples_per_code"])
    assert len(data) == -(-frames // CHUNK_FRAMES) and len(data) > 1, (len(data), frames)


def test_v1_an_answers_audio_id_stands_for_its_transcript_in_the_next_turn(speaking):
    client, pipeline, _ = speaking
    first = post(client, modalities=["text", "audio"], audio={"voice": "Ethan", "format": "flac"}).json()
    audio = first["choices"][0]["message"]["audio"]
    assert audio["data"] and audio["transcript"]
    turns = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": None, "audio": {"id": audio["id"]}},
             {"role": "user", "content": "and then?"}]
    follow = post(client, messages=turns)
    assert follow.status_code == 200, follow.text
    prompt = pipeline.components.get("language_model").processor.prompts[-1]
    assert f"<|im_start|>assistant\n{audio['transcript']}<|im_end|>" in prompt
    turns[1]["audio"]["id"] = "audio_unknown"
    stale = post(client, messages=turns)
    assert stale.status_code == 400 and "'audio_unknown'" in stale.json()["error"]["message"]


@pytest.mark.parametrize("extra, param, words", [
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio.voice", ["'alloy'", "valid voices: ", "Ethan",
                                                                     "Chelsie"]),
    ({"audio": {"voice": "Ethan", "format": "aac"}}, "audio.format",
     ['"aac"', "valid formats: " + ", ".join(VALID_FORMATS)]),
    ({"audio": {"voice": "Ethan"}}, "audio.format", ["valid formats"]),
    ({"audio": None}, "audio", ['"audio": {"voice"', "formats"]),
])
def test_v1_bad_audio_requests_are_refused_naming_the_valid_choices(speaking, extra, param, words):
    client, _, _ = speaking
    refused = post(client, modalities=["text", "audio"], **extra)
    error = refused.json()["error"]
    assert refused.status_code == 400 and error["param"] == param
    assert all(word in error["message"] for word in words), error["message"]


@pytest.mark.parametrize("body, words", [
    ({"modalities": ["text", "video"]}, ["modalities must be a list of 'text', 'audio'"]),
    ({"audio": {"voice": "Ethan", "format": "wav"}}, ["modalities does not ask for it"]),
])
def test_v1_bad_modalities_are_refused(speaking, body, words):
    refused = post(speaking[0], **body)
    assert refused.status_code == 400 and all(w in refused.json()["error"]["message"] for w in words), refused.text


def test_v1_audio_of_a_model_without_a_talker_is_refused_with_400(built_in):
    refused = post(built_in, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"})
    error = refused.json()["error"]
    assert refused.status_code == 400 and error["code"] == "audio_not_supported"
    assert "omnimoe/mini cannot speak" in error["message"] and "talker" in error["message"]
    assert post(built_in).status_code == 200                     # and it keeps serving


# ---- the formats ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", VALID_FORMATS)
def test_each_output_format_holds_the_spoken_samples(name):
    import soundfile as sf

    assert available_formats() == VALID_FORMATS
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SPEECH_RATE // 2) / SPEECH_RATE)).astype(np.float32)
    data = encode_speech(Speech(tone, SPEECH_RATE, "Ethan"), name)
    if FORMATS[name].container is None:
        back, rate = np.frombuffer(data, dtype="<i2") / 32767, SPEECH_RATE
    else:
        back, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == SPEECH_RATE and len(back) == len(tone)
    if name in ("wav", "flac", "pcm16"):                            # lossless: 16-bit steps apart at most
        assert np.abs(back - tone).max() < 1e-4
    else:                                                           # lossy, with the codec's start-up transient
        assert np.corrcoef(back, tone)[0, 1] > 0.95 and abs(np.std(back) / np.std(tone) - 1) < 0.2
    with pytest.raises(ValueError, match="'aac'.*valid formats: wav, mp3"):
        encode_speech(Speech(tone, SPEECH_RATE, "Ethan"), "aac")
