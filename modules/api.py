"""OpenAI-compatible routes beside the Gradio app: GET /v1/models and POST /v1/chat/completions (streamed or not),
served by the same Pipeline as the UI, so vLLM-style clients, the official openai package, and other studios can
use a studio as their language model.

    demo.launch(app_kwargs=api_app_kwargs(pipeline, config))     # app.py: served from the server's first request
    mount_api(fastapi_app, pipeline, config)                       # an existing FastAPI app (tests)

Content may be a string or a list of parts: {"type": "text"}, {"type": "image_url", "image_url": {"url": …}}
(data: URLs or http(s) URLs) and {"type": "input_audio", "input_audio": {"data": base64, "format": "wav"}}. A picture
or sound in the last user message routes the request as the chat does (describe it); "draw …" draws and returns
the pictures as Markdown data: URLs. `"search": true` (extra_body in the openai client) looks the question up first, as
the chat's Search switch does: the [n] of the answer link to pages and the sources are listed under it. As
DeepSeek's API: `"thinking": {"type": "enabled"}` (or the model name deepseek-reasoner; deepseek-chat is thinking
off) asks the model to think first; its thoughts come as reasoning_content, their tokens as
usage.completion_tokens_details.reasoning_tokens (a model that cannot think answers without them). As OpenAI's
audio output: `"modalities": ["text", "audio"]` with `"audio": {"voice", "format"}` also speaks the answer (a
checkpoint with a talker) and returns it as message.audio {id, data: base64, expires_at, transcript}, or streamed
as delta.audio pieces after the text: pcm16 as the talker makes it, other formats once it is done (SpeechRequest,
audio_fields, SpokenStream). System
messages and media in earlier turns are not used. temperature defaults
to 0 (greedy, as the studio's own default); max_tokens is capped at the profile's max_new_tokens. With a login
configured (--auth-file / OMNIMOE_AUTH), send `Authorization: Bearer user:password`. Like the UI's queue, at most
--queue-size + --concurrency chat requests are in the studio at once; one more is refused with 429. A body larger
than --max-request-size is refused with 413 before it is read; a parameter this studio does not know is refused
with 400 naming it (ACCEPTED lists those it takes); a client that hangs up stops its answer at the next step, and an
answer past --request-timeout ends with 504.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import io
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import asyncio

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from .contracts import FeatureUnavailable, GenerationSettings, InputError
from .fetch import FetchError, FetchPolicy, fetch
from .interrupt import RequestTimedOut
from .search.citations import link_citations, sources_list
from .speech_formats import available_formats, encode_speech, pcm16
from .thinking import THINKING_MODELS, requested
from .unencodable import check_encodable

log = logging.getLogger("omnimoe.api")
MIME_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/webp": ".webp",
               "image/gif": ".gif", "image/bmp": ".bmp", "image/tiff": ".tiff", "audio/wav": ".wav",
               "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/flac": ".flac", "audio/ogg": ".ogg",
               "audio/mpeg": ".mp3", "audio/mp3": ".mp3"}
AUDIO_FORMATS = {"wav": ".wav", "mp3": ".mp3", "flac": ".flac", "ogg": ".ogg"}
FETCH_TIMEOUT_S = 15
DISCONNECT_POLL_S = 0.1       # how often a running answer looks whether its client is still there
# The request fields this studio reads, plus `user` (an end-user id for the client's own records: it changes
# nothing here, so it is taken and ignored).
ACCEPTED = ("model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
            "max_completion_tokens", "n", "seed", "stop", "user", "search", "thinking", "modalities", "audio")
OUTPUT_MODALITIES = ("text", "audio")
AUDIO_PIECE_BYTES = 48_000    # one streamed delta.audio piece, before base64: 1 s of pcm16 at 24 kHz
AUDIO_KEPT_S = 3600           # how long an answer's audio id stands for its transcript in a later turn
# Fields some clients always send, taken only at the value that asks for nothing this studio does not do.
NEUTRAL = {"frequency_penalty": 0, "presence_penalty": 0, "logprobs": False, "response_format": {"type": "text"},
           "tools": []}


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.param, self.code = status, kind, param, code

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}


class Admission:
    """How many /v1 chat requests are in the studio (answering or waiting for the model); more than `limit` are
    refused, as Gradio's queue refuses the UI's requests past --queue-size."""

    def __init__(self, limit: int):
        self.limit, self.inside, self._lock = limit, 0, threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.inside >= self.limit:
                raise ApiError(429, f"The studio is busy: {self.inside} requests are being answered or waiting, "
                                    f"the most it takes (--queue-size plus --concurrency). Try again shortly.",
                               kind="rate_limit_error", code="queue_full")
            self.inside += 1

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1


def model_id(config) -> str:
    return f"omnimoe/{config.profile}"


# ---- the request -------------------------------------------------------------------------------------------

def _settings(body: dict, cap: int) -> GenerationSettings:
    def number(name: str, default):
        value = body.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, f"{name} must be a number; got {value!r}", param=name)
        return value

    if body.get("n") not in (None, 1):
        raise ApiError(400, "n must be 1: one answer per request", param="n")
    wanted = body.get("max_completion_tokens", body.get("max_tokens"))
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1):
        raise ApiError(400, f"max_tokens must be a whole number of at least 1; got {wanted!r}", param="max_tokens")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ApiError(400, f"seed must be a whole number; got {seed!r}", param="seed")
    return GenerationSettings(temperature=float(number("temperature", 0.0)),
                              top_p=max(0.01, float(number("top_p", GenerationSettings.top_p))),
                              max_new_tokens=min(cap, wanted or cap),
                              seed=None if seed is None else seed % 2**32)


def _check_fields(body: dict) -> None:
    """An unknown field is an error, not silence: the client would believe it was honoured."""
    for key, value in body.items():
        if key in ACCEPTED or (key in NEUTRAL and value in (None, NEUTRAL[key])):
            continue
        neutral = ", ".join(f"{k}={json.dumps(v)}" for k, v in NEUTRAL.items())
        if key in NEUTRAL:
            raise ApiError(400, f"{key} is not supported by this studio: only {key}={json.dumps(NEUTRAL[key])} (or "
                           f"leaving it out) is accepted; got {json.dumps(value)[:80]}", param=key)
        raise ApiError(400, f"unknown parameter {key!r}; this studio accepts: {', '.join(ACCEPTED)} (and {neutral})",
                       param=key, code="unknown_parameter")


def _stops(body: dict) -> list[str]:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, "stop must be a string or a list of up to 4 non-empty strings", param="stop")
    return stops


def _text_of(content: Any, where: str) -> tuple[str, list[dict]]:
    """(text, media parts) of a message's content (a string or a list of parts)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ApiError(400, f"{where}.content must be a string or a list of parts", param=f"{where}.content")
    texts, media = [], []
    for k, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_audio"):
            media.append(part)
        else:
            raise ApiError(400, f"{where}.content[{k}]: unsupported part {kind!r}; valid types: text, image_url, "
                           "input_audio", param=f"{where}.content")
    return "\n".join(texts), media


def _conversation(body: dict, spoken: "SpokenAnswers | None" = None) -> tuple[str, list[dict], list[dict]]:
    """messages -> (the last user turn's text, its media parts, earlier user/assistant turns as text); an assistant
    turn given by its audio id alone stands for that answer's transcript (`spoken`)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    for k, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant",
                                                                           "tool"):
            raise ApiError(400, f"messages[{k}] must have a role: system, developer, user, assistant or tool",
                           param=f"messages[{k}].role")
    if messages[-1]["role"] != "user":
        raise ApiError(400, "the last message must come from the user", param="messages")
    history = []
    for k, message in enumerate(messages[:-1]):
        if message["role"] == "assistant":
            history.append({"role": "assistant", "content": _assistant_text(message, f"messages[{k}]", spoken)})
        elif message["role"] == "user":
            history.append({"role": "user", "content": _text_of(message.get("content"), f"messages[{k}]")[0]})
        else:
            continue
        check_encodable(history[-1]["content"], f"messages[{k}] content")
    text, media = _text_of(messages[-1].get("content"), f"messages[{len(messages) - 1}]")
    check_encodable(text, f"messages[{len(messages) - 1}] content")
    return text, media, history


def _write_media(part: dict, folder: Path, index: int, max_bytes: int) -> str:
    """A media part -> a file in `folder` with the suffix the pipeline sorts by."""
    if part["type"] == "input_audio":
        audio = part.get("input_audio") or {}
        suffix = AUDIO_FORMATS.get(str(audio.get("format", "")).lower())
        if suffix is None:
            raise ApiError(400, f"input_audio.format must be one of {', '.join(AUDIO_FORMATS)}", param="input_audio")
        data = _b64(str(audio.get("data") or ""), max_bytes)
    else:
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else image_url
        if not isinstance(url, str) or not url:
            raise ApiError(400, "image_url.url is missing", param="image_url")
        suffix, data = _fetch(url, max_bytes)
    path = folder / f"attachment-{index}{suffix}"
    path.write_bytes(data)
    return str(path)


def _b64(text: str, max_bytes: int) -> bytes:
    if len(text) * 3 // 4 > max_bytes:
        raise ApiError(413, f"the attachment is larger than the limit of {max_bytes:,} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "the attachment is not valid base64") from None


def _fetch(url: str, max_bytes: int) -> tuple[str, bytes]:
    """(suffix, bytes) of a data: URL or an http(s) URL."""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        mime = header[len("data:"):].split(";")[0].strip().lower()
        if ";base64" not in header or mime not in MIME_SUFFIX:
            raise ApiError(400, f"a data: URL must be base64 with a picture or sound type ({', '.join(MIME_SUFFIX)}); "
                           f"got {header[:60]!r}", param="image_url")
        return MIME_SUFFIX[mime], _b64(payload, max_bytes)
    if not url.startswith(("http://", "https://")):
        raise ApiError(400, "image_url.url must be a data: URL or an http(s) URL", param="image_url")
    try:
        fetched = fetch(url, FetchPolicy(FETCH_TIMEOUT_S, max_bytes, _may_fetch_private(),
                                         "send the picture inline as a data: URL"), accept="image/*,audio/*")
    except FetchError as error:
        raise ApiError(400, f"could not fetch the picture: {error}", param="image_url") from None
    if fetched.truncated:
        raise ApiError(413, f"the picture at {url[:200]} is larger than the limit of {max_bytes:,} bytes")
    suffix = MIME_SUFFIX.get(fetched.content_type.lower()) or Path(url.split("?")[0]).suffix.lower() or ".png"
    return suffix, fetched.data


def _may_fetch_private() -> bool:
    """A public studio must not fetch from its own machine or network on a client's behalf (OMNIMOE_API_FETCH_PRIVATE=1
    allows it, e.g. for a studio on a private network)."""
    return os.environ.get("OMNIMOE_API_FETCH_PRIVATE", "").strip().lower() in ("1", "true", "yes")


# ---- the answer --------------------------------------------------------------------------------------------

def _with_pictures(text: str, pictures) -> str:
    shown = []
    for k, picture in enumerate(pictures, 1):
        buffer = io.BytesIO()
        picture.image.save(buffer, format="PNG")
        shown.append(f"![picture {k}, seed {picture.seed}](data:image/png;base64,"
                     f"{base64.b64encode(buffer.getvalue()).decode()})")
    return "\n\n".join([text] + shown) if shown else text


class StopCut:
    """Cuts the answer at the first stop string; while streaming, holds back a tail that could begin one."""

    def __init__(self, stops: list[str]):
        self.stops, self.hold = stops, max((len(s) for s in stops), default=1) - 1
        self.hit = False

    def visible(self, text: str, final: bool) -> str:
        cuts = [text.find(s) for s in self.stops if s in text]
        if cuts:
            self.hit = True
            return text[:min(cuts)]
        return text if final or not self.hold else text[:max(0, len(text) - self.hold)]


class Answer:
    """One request's run through pipeline.chat, stepped from a worker thread; the Stop flag ends it early."""

    def __init__(self, pipeline, text: str, files: list[str], history: list[dict], settings: GenerationSettings,
                 stops: list[str], search: bool = False):
        self.stop, self.cut, self.settings = threading.Event(), StopCut(stops), settings
        self.events = pipeline.chat(text, files, history, settings, self.stop, **({"search": True} if search else {}))
        self.last = None

    def step(self):
        """The next ChatEvent, or None at the end (runs the model: call it from a worker thread)."""
        event = next(self.events, None)
        if event is not None:
            self.last = event
            shown = self.cut.visible(event.text, event.done)
            if self.cut.hit:
                self.stop.set()
            event = (shown, event)
        return event

    def close(self) -> None:
        self.stop.set()
        self.events.close()                 # releases the model's lock held by an unfinished generator

    def finish_reason(self, trace: dict) -> str:
        if self.cut.hit or (self.last is not None and self.last.route == "draw"):
            return "stop"
        return "length" if trace.get("answer_tokens", 0) >= self.settings.max_new_tokens else "stop"


def _search(body: dict) -> bool:
    search = body.get("search", False)
    if not isinstance(search, bool):
        raise ApiError(400, f"search must be true or false; got {search!r}", param="search")
    return search


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 before it is read whole when it is larger than `limit`: by its Content-Length
    header, or counted as a body without one (chunked) arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"{int(declared):,} bytes, over")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit, "larger than")
    return bytes(body)


def _too_large(limit: int, size: str) -> ApiError:
    return ApiError(413, f"the request body is {size} the limit of {limit:,} bytes (--max-request-size, env "
                         "OMNIMOE_MAX_REQUEST_SIZE). Send smaller pictures or sounds, or fewer of them.",
                    code="request_too_large")


async def _step(answer: "Answer", request: Request):
    """answer.step in a worker thread; a client that hangs up meanwhile sets the answer's stop at once, so the
    model stops at its next token (or the history's measuring at its next exchange), not when the step ends."""
    watcher = asyncio.ensure_future(_stop_when_gone(request, answer.stop))
    try:
        return await anyio.to_thread.run_sync(answer.step)
    finally:
        watcher.cancel()


async def _stop_when_gone(request: Request, stop: threading.Event) -> None:
    while not await request.is_disconnected():
        await asyncio.sleep(DISCONNECT_POLL_S)
    stop.set()


def _usage(trace: dict) -> dict:
    prompt, answer = int(trace.get("prompt_tokens") or 0), int(trace.get("answer_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": prompt + answer,
            "completion_tokens_details": {"reasoning_tokens": int(trace.get("thinking_tokens") or 0)}}


def _thinking(body: dict, settings: GenerationSettings) -> GenerationSettings:
    """The settings with DeepSeek's way of asking to think: `"thinking": {"type": …}`, else the model's name."""
    try:
        wanted = requested(body.get("thinking"), body.get("model"))
    except ValueError as error:
        raise ApiError(400, str(error), param="thinking") from None
    return settings if wanted is None else dataclasses.replace(settings, thinking=wanted)


# ---- spoken answers ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SpeechRequest:
    """What a request asked of the answer's audio: the voice as given (None: the model's first) and the format."""

    voice: str | None
    format: str


def _speech_request(body: dict) -> SpeechRequest | None:
    """`modalities` and `audio` as OpenAI's chat API takes them; None when no audio was asked for."""
    modalities = body.get("modalities")
    if modalities is None:
        modalities = ["text"]
    if (not isinstance(modalities, list) or not modalities
            or any(not isinstance(m, str) or m not in OUTPUT_MODALITIES for m in modalities)):
        raise ApiError(400, f"modalities must be a list of {', '.join(map(repr, OUTPUT_MODALITIES))}; got "
                       f"{json.dumps(modalities)[:80]}", param="modalities")
    audio = body.get("audio")
    if "audio" not in modalities:
        if audio is not None:
            raise ApiError(400, 'audio is set but modalities does not ask for it: send "modalities": ["text", '
                           '"audio"] to have the answer spoken', param="modalities")
        return None
    if not isinstance(audio, dict):
        raise ApiError(400, 'modalities asks for audio: send "audio": {"voice": …, "format": …} too; formats: '
                       f"{', '.join(available_formats())}", param="audio")
    voice, name = audio.get("voice"), audio.get("format")
    if isinstance(voice, dict):                     # OpenAI's custom voice reference {"id": …}
        voice = voice.get("id")
    if voice is not None and not isinstance(voice, str):
        raise ApiError(400, f"audio.voice must be a voice's name; got {json.dumps(voice)[:80]}", param="audio.voice")
    if name not in available_formats():
        raise ApiError(400, f"audio.format {json.dumps(name)[:40]} is not one this studio writes; valid formats: "
                       f"{', '.join(available_formats())}", param="audio.format")
    return SpeechRequest(voice.strip() or None if voice else None, name)


def _spoken_voice(pipeline, name: str, wanted: SpeechRequest) -> str:
    """The voice the model will speak in (its own spelling); ApiError 400 when it cannot speak or does not know the
    voice (FeatureUnavailable, then 503, when the language model did not load). Loads the model: a worker thread."""
    pipeline.components.get("language_model")
    voices = pipeline.voices()
    if not voices:
        raise ApiError(400, f"audio output was asked for, but {name} cannot speak: its language model has no talker "
                       "(spoken answers need a checkpoint with one, e.g. Qwen3-Omni in the hub-omni profile). Ask "
                       'for "modalities": ["text"] instead.', param="modalities", code="audio_not_supported")
    if wanted.voice is None:
        return voices[0]
    match = next((v for v in voices if v.lower() == wanted.voice.lower()), None)
    if match is None:
        raise ApiError(400, f"audio.voice {wanted.voice!r} is not one this model speaks in; valid voices: "
                       f"{', '.join(voices)}", param="audio.voice")
    return match


class SpokenAnswers:
    """The transcripts of recent spoken answers by audio id, for AUDIO_KEPT_S seconds (the `most` newest of them):
    a later request may give an assistant turn as {"audio": {"id": …}} with no content, as OpenAI's multi-turn
    audio does."""

    def __init__(self, kept_s: float = AUDIO_KEPT_S, most: int = 1024):
        self.kept_s, self.most = kept_s, most
        self._items: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def add(self, transcript: str) -> tuple[str, int]:
        """(a new audio id, when it expires) for this transcript."""
        audio_id, expires_at = f"audio_{uuid.uuid4().hex}", int(time.time() + self.kept_s)
        with self._lock:
            now = time.time()
            self._items = {k: v for k, v in self._items.items() if v[1] > now}
            while len(self._items) >= self.most:
                self._items.pop(next(iter(self._items)))
            self._items[audio_id] = (transcript, expires_at)
        return audio_id, expires_at

    def transcript(self, audio_id: str) -> str | None:
        with self._lock:
            item = self._items.get(audio_id)
        return item[0] if item is not None and item[1] > time.time() else None


def _assistant_text(message: dict, where: str, spoken: SpokenAnswers | None) -> str:
    """An earlier assistant turn's text: its content, else the transcript its audio id stands for."""
    text = _text_of(message.get("content"), where)[0]
    audio = message.get("audio")
    if text or not isinstance(audio, dict) or "id" not in audio:
        return text
    known = spoken.transcript(str(audio["id"])) if spoken is not None else None
    if known is None:
        raise ApiError(400, f"{where}.audio.id {str(audio['id'])[:60]!r} is not a spoken answer this studio "
                       f"still holds (they are kept {AUDIO_KEPT_S} s); send the answer's text as content",
                       param=f"{where}.audio")
    return known


def audio_fields(speech, wanted: SpeechRequest, transcript: str, spoken: SpokenAnswers) -> dict:
    """message.audio as OpenAI returns it: {"id", "data": base64 of the file, "expires_at", "transcript"}."""
    audio_id, expires_at = spoken.add(transcript)
    data = base64.b64encode(encode_speech(speech, wanted.format)).decode()
    return {"id": audio_id, "data": data, "expires_at": expires_at, "transcript": transcript}


class SpokenStream:
    """The streamed form of one answer's audio: {"id", "transcript"}, then {"id", "data"} pieces (each base64 of at
    most AUDIO_PIECE_BYTES bytes: decoded and joined they are the whole file), then {"expires_at"}. pcm16 needs no
    header, so its pieces go out as the talker makes them (`piece`); another format is one file, sent whole once
    the talker is done (`rest`)."""

    def __init__(self, wanted: SpeechRequest, spoken: SpokenAnswers):
        self.wanted, self.spoken = wanted, spoken
        self.audio_id, self.expires_at = "", 0

    @property
    def live(self) -> bool:
        return self.wanted.format == "pcm16"

    def piece(self, samples, transcript: str) -> list[dict]:
        """The deltas of the next piece of speech (pcm16 only): the opening one first."""
        return self._opening(transcript) + self._data(pcm16(samples))

    def rest(self, speech, transcript: str) -> list[dict]:
        """The deltas once the talker is done: the whole file for a format that is not live, then the end."""
        deltas = [] if self.live else self._opening(transcript) + self._data(encode_speech(speech, self.wanted.format))
        return deltas + [{"expires_at": self.expires_at}] if self.audio_id else deltas

    def _opening(self, transcript: str) -> list[dict]:
        if self.audio_id:
            return []
        self.audio_id, self.expires_at = self.spoken.add(transcript)
        return [{"id": self.audio_id, "transcript": transcript}]

    def _data(self, data: bytes) -> list[dict]:
        return [{"id": self.audio_id, "data": base64.b64encode(data[start:start + AUDIO_PIECE_BYTES]).decode()}
                for start in range(0, len(data), AUDIO_PIECE_BYTES)]


# ---- the routes --------------------------------------------------------------------------------------------

def build_router(pipeline, config) -> APIRouter:
    router = APIRouter(prefix="/v1")
    name, created = model_id(config), int(time.time())
    logins = [f"{user}:{password}" for user, password in config.server.auth]
    admission = Admission(config.server.queue_size + config.server.concurrency)
    spoken = SpokenAnswers()

    def check_login(request: Request) -> None:
        if not logins:
            return
        header = request.headers.get("authorization", "")
        given = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        if not any(hmac.compare_digest(given.encode(), login.encode()) for login in logins):
            raise ApiError(401, "this studio needs a login: send 'Authorization: Bearer user:password'",
                           kind="authentication_error", code="invalid_api_key")

    def error_response(error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    def as_api_error(error: Exception) -> ApiError:
        if isinstance(error, ApiError):
            return error
        if isinstance(error, RequestTimedOut):
            return ApiError(504, str(error), kind="timeout_error", code="request_timeout")
        if isinstance(error, InputError):
            return ApiError(400, str(error))
        if isinstance(error, FeatureUnavailable):
            return ApiError(503, str(error), kind="service_unavailable")
        log.error("unexpected error in /v1/chat/completions", exc_info=error)
        return ApiError(500, f"Something went wrong: {type(error).__name__}; the studio keeps running",
                        kind="internal_error")

    @router.get("/models")
    async def models(request: Request):
        try:
            check_login(request)
        except ApiError as error:
            return error_response(error)
        entry = {"id": name, "object": "model", "created": created, "owned_by": "omnimoe-studio"}
        try:                                  # vLLM reports the context length this way; RemoteLanguageModel reads it
            lm = await anyio.to_thread.run_sync(pipeline.components.get, "language_model")
            entry["max_model_len"] = int(lm.context_length)
        except FeatureUnavailable:
            pass
        return {"object": "list", "data": [entry]}

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        folder = tempfile.TemporaryDirectory(prefix="omnimoe-api-")
        answer, admitted = None, False

        async def release() -> None:
            """Free the model, the admission place and the request's files: once, on whichever exit is taken."""
            if answer is not None:
                with anyio.CancelScope(shield=True):      # a client that hung up still frees the model
                    await anyio.to_thread.run_sync(answer.close)
            if admitted:
                admission.leave()
            folder.cleanup()

        try:
            check_login(request)
            raw = await _read_body(request, config.limits.max_request_bytes())
            admission.enter()
            admitted = True
            try:
                body = json.loads(raw)
            except ValueError:
                raise ApiError(400, "the request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "the request body must be a JSON object")
            _check_fields(body)
            if body.get("model") not in (name, None, "", *THINKING_MODELS):
                raise ApiError(404, f"the model {body.get('model')!r} does not exist; this studio serves {name!r} "
                               f"(or {' and '.join(THINKING_MODELS)}: it with thinking on and off)",
                               param="model", code="model_not_found")
            settings = _thinking(body, _settings(body, config.limits.max_new_tokens))
            stops = _stops(body)
            wanted = _speech_request(body)
            text, media, history = _conversation(body, spoken)
            if wanted is not None:
                voice = await anyio.to_thread.run_sync(_spoken_voice, pipeline, name, wanted)
                settings = dataclasses.replace(settings, speak=True, voice=voice)
            files = [_write_media(part, Path(folder.name), k, config.limits.max_file_bytes())
                     for k, part in enumerate(media)]
            answer = Answer(pipeline, text, files, history, settings, stops, _search(body))
            first = await _step(answer, request)     # checks the input: errors are still JSON
        except Exception as error:  # noqa: BLE001 - every failure becomes an OpenAI-style error body
            await release()
            return error_response(as_api_error(error))
        completion = f"chatcmpl-{uuid.uuid4().hex}"

        if not body.get("stream"):
            try:
                shown, event = first if first is not None else ("", None)
                while (step := await _step(answer, request)) is not None:
                    shown, event = step
            except Exception as error:  # noqa: BLE001
                return error_response(as_api_error(error))
            finally:
                await release()
            trace = event.trace if event is not None else {}
            sources = event.sources if event is not None else []
            message = {"role": "assistant", "content": _with_pictures(
                link_citations(shown, sources) + sources_list(sources), event.pictures if event else [])}
            if event is not None and event.thinking:
                message["reasoning_content"] = event.thinking      # as DeepSeek's API returns a model's thinking
            if wanted is not None and event is not None and event.speech is not None:
                message["audio"] = await anyio.to_thread.run_sync(audio_fields, event.speech, wanted, shown, spoken)
            return {"id": completion, "object": "chat.completion", "created": int(time.time()), "model": name,
                    "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason(trace)}],
                    "usage": _usage(trace)}

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            payload = {"id": completion, "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": name, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        async def events() -> Iterator[str]:
            sent, thought = "", ""
            audio = SpokenStream(wanted, spoken) if wanted is not None else None
            try:
                yield chunk({"role": "assistant", "content": ""})
                step, pictures, trace, sources, speech = first, [], {}, [], None
                while step is not None:
                    shown, event = step
                    pictures, trace = event.pictures or pictures, event.trace or trace
                    speech = event.speech if event.speech is not None else speech
                    sources = event.sources or sources
                    if event.thinking.startswith(thought) and len(event.thinking) > len(thought):
                        yield chunk({"reasoning_content": event.thinking[len(thought):]})
                        thought = event.thinking
                    if shown.startswith(sent) and len(shown) > len(sent):
                        yield chunk({"content": shown[len(sent):]})
                        sent = shown
                    if audio is not None and audio.live and event.speech_piece is not None:   # as the talker speaks
                        for delta in audio.piece(event.speech_piece.samples, sent):
                            yield chunk({"audio": delta})
                    if await request.is_disconnected():
                        return
                    step = await _step(answer, request)
                if sources:
                    yield chunk({"content": sources_list(sources)})
                if pictures:
                    yield chunk({"content": _with_pictures(sent, pictures)[len(sent):]})
                if audio is not None and speech is not None:
                    for delta in await anyio.to_thread.run_sync(audio.rest, speech, sent):
                        yield chunk({"audio": delta})
                yield chunk({}, answer.finish_reason(trace))
                if include_usage:
                    usage = {"id": completion, "object": "chat.completion.chunk", "created": int(time.time()),
                             "model": name, "choices": [], "usage": _usage(trace)}
                    yield f"data: {json.dumps(usage)}\n\n"
                yield "data: [DONE]\n\n"
            except Exception as error:  # noqa: BLE001 - after the headers, an error is one more event
                yield f"data: {json.dumps(as_api_error(error).body())}\n\n"
            finally:
                await release()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router


def api_app_kwargs(pipeline, config) -> dict:
    """launch(app_kwargs=…) for gradio: the /v1 routes are in the FastAPI app before it serves, so a client that
    calls as soon as the page answers never meets a 404 (adding them after launch() left that window open)."""
    return {"routes": list(build_router(pipeline, config).routes)}


def mount_api(app, pipeline, config) -> None:
    """Add the /v1 routes to an existing FastAPI app."""
    app.include_router(build_router(pipeline, config))
