"""The only thing the UI and the API call: check inputs -> route -> encode -> bridge -> generate -> respond."""
from __future__ import annotations

import dataclasses
import functools
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .components import Components, component_parameters
from .content_parts import takes_content_parts, user_parts
from .contracts import (ChatEvent, DrawnPicture, DrawSettings, FeatureUnavailable, GenerationSettings, InputError,
                        MediaKind, Source, SpeechPiece)
from .follow_up import Carried, carried_attachment
from .interrupt import Interrupt, RequestTimedOut
from .media import MediaLimits, display_name, load_audio, load_image
from .reasoning import Reply, split_reply
from .router import Route, route
from .search.documents import DOCUMENT_SUFFIXES
from .search.prompt import fit_sources, fits_context, sources_turn
from .search.searcher import Searcher
from .search.settings import SearchConfig
from .text_bridge import media_turn, uses_text_bridge
from .thinking import ThinkingClock, ThinkingControl, switch_state, thinking_settings
from .trace import build_trace
from .unencodable import check_encodable
from .workers import DRAWINGS_AT_ONCE, DRAWINGS_WAITING, Worker

log = logging.getLogger(__name__)
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
SOUND_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".oga", ".opus"}


def media_kind(path: str) -> MediaKind | None:
    """"image" or "audio" by the file's suffix; None for any other file."""
    suffix = Path(str(path)).suffix.lower()
    return "image" if suffix in PICTURE_SUFFIXES else "audio" if suffix in SOUND_SUFFIXES else None
DEFAULT_QUESTION = {"image": "", "audio": "Describe this sound."}
MEDIA_NOUN = {"image": "picture", "audio": "sound"}
MISSING_MEDIA = {"image": "No picture was given: upload a picture first.",
                 "audio": "No sound was given: upload or record a sound first."}


class Pipeline:
    def __init__(self, config):
        self.config = config
        self.components = Components(config)
        limits = config.limits
        self.media_limits = MediaLimits(max_file_bytes=limits.max_file_bytes(), max_image_pixels=limits.max_image_pixels,
                                        max_audio_seconds=limits.max_audio_seconds)
        self._trace: dict[str, Any] = {}
        self._trace_lock = threading.Lock()
        self.searcher = Searcher(config.search or SearchConfig(), limits.max_file_bytes())
        # every drawing (the Draw tab's, /generate_image's, a chat's "draw ...") runs here, not in the request's slot
        self.drawing = Worker("draw", DRAWINGS_AT_ONCE, DRAWINGS_WAITING, noun="drawing")

    # ---- status -------------------------------------------------------------------------------------------

    def preload(self) -> None:
        """Load every role now (start-up), so the first request does not wait; failures are kept, not raised."""
        self.components.load_all()

    def status(self) -> dict[str, str]:
        return self.components.status()

    def start_fast_decode(self) -> bool:
        """Compile the language model's decode step in the background (when the config allows it and the loaded
        model has a fast path); True when a warm-up started."""
        model = self.components.get("language_model") if self.status().get("language_model") == "ready" else None
        if not self.config.fast_decode or not hasattr(model, "start_fast_decode"):
            return False
        model.start_fast_decode()
        return True

    def start_batch_decode(self) -> bool:
        """Let concurrent answers of the built-in language model share its decode steps (when the config asks for
        it and the loaded model is one the scheduler batches); True when batching started."""
        model = self.components.get("language_model") if self.status().get("language_model") == "ready" else None
        if not self.config.batch_decode or not getattr(model, "batches", False):
            return False
        model.start_batch_decode()
        return True

    def fast_decode_state(self) -> str:
        """"off", "warming up", "ready" or "failed: why", for the header."""
        model = self.components.get("language_model") if self.status().get("language_model") == "ready" else None
        return getattr(model, "fast_decode_state", "off")

    def memory(self) -> dict[str, dict[str, Any]]:
        """role -> {"parameters", "bytes", "device"} of every loaded role, for the Inspector. Bytes: its weights and
        buffers (components.memory(); 0 for a remote language model or the text bridge, whose device is "—")."""
        table = {}
        for role, size in self.components.memory().items():
            component = self.components.get(role)
            device = getattr(component, "device", None)
            table[role] = {"parameters": component_parameters(component), "bytes": size,
                           "device": str(device) if device is not None and size else "—"}
        return table

    def info(self) -> dict[str, str]:
        return {"profile": self.config.profile, "device": str(self.components.device),
                **{role: self._shown_source(source.source) for role, source in self.config.roles.items()}}

    def _shown_source(self, source: str) -> str:
        """A source as a person should see it: folders beside the config file relative to it, hub ids as they are."""
        prefix = "local-dir:" if source.startswith("local-dir:") else ""
        path = Path(source[len(prefix):])
        base = Path(self.config.config_path).resolve().parent
        if path.is_absolute() and path.is_relative_to(base):
            return prefix + str(path.relative_to(base))
        return source

    def last_trace(self) -> dict[str, Any]:
        with self._trace_lock:
            return dict(self._trace)

    # ---- checks -------------------------------------------------------------------------------------------

    def check_text(self, text: Any, what: str = "message") -> str:
        if text is None:
            return ""
        if not isinstance(text, str):
            raise InputError(f"The {what} must be text, not {type(text).__name__}.")
        check_encodable(text, what)
        limit = self.config.limits.max_text_chars
        if len(text) > limit:
            raise InputError(f"The {what} is {len(text):,} characters long; the limit is {limit:,}. "
                             "Shorten it and send again.")
        return text.strip()

    def check_settings(self, settings: GenerationSettings) -> GenerationSettings:
        cap = self.config.limits.max_new_tokens
        _check_range("temperature", settings.temperature, 0.0, 2.0)
        _check_range("top_p", settings.top_p, 0.01, 1.0)
        _check_range("max_new_tokens", settings.max_new_tokens, 1, cap, integer=True)
        if settings.seed is not None:
            _check_range("seed", settings.seed, 0, 2**32 - 1, integer=True)
        return settings

    def check_draw_settings(self, settings: DrawSettings) -> DrawSettings:
        limits = self.config.limits
        _check_range("steps", settings.steps, 1, limits.max_draw_steps, integer=True)
        _check_range("guidance", settings.guidance, 0.0, 20.0)
        _check_range("count", settings.count, 1, limits.max_draw_count, integer=True)
        if settings.seed is not None:
            _check_range("seed", settings.seed, 0, 2**32 - 1, integer=True)
        return settings

    @staticmethod
    def split_documents(files: list[str] | None) -> tuple[list[str], list[str]]:
        """(documents to search: txt, md, html, pdf, the other files)."""
        documents = [str(f) for f in files or [] if Path(str(f)).suffix.lower() in DOCUMENT_SUFFIXES]
        return documents, [str(f) for f in files or [] if str(f) not in documents]

    def split_files(self, files: list[str] | None) -> tuple[list[str], list[str]]:
        pictures, sounds = [], []
        for path in files or []:
            kind = media_kind(path)
            if kind == "image":
                pictures.append(str(path))
            elif kind == "audio":
                sounds.append(str(path))
            else:
                raise InputError(f"'{display_name(path)}' is neither a picture nor a sound we accept. Pictures: "
                                 f"{', '.join(sorted(PICTURE_SUFFIXES))}; sounds: {', '.join(sorted(SOUND_SUFFIXES))}; "
                                 f"documents to search: {', '.join(DOCUMENT_SUFFIXES)}.")
        return pictures, sounds

    def thinking(self) -> ThinkingControl:
        """How the language model is asked to think, for the Think switch; loads nothing (while the model loads,
        the profile's word, else why_not "loading")."""
        return switch_state(self.config.roles.get("language_model"), self.components.loaded("language_model"),
                            self.status().get("language_model", ""))

    def voices(self) -> list[str]:
        """The voices the language model speaks its answers in; [] when it cannot speak (or did not load)."""
        try:
            return _voices(self.components.get("language_model"))
        except FeatureUnavailable:
            return []

    # ---- public calls -------------------------------------------------------------------------------------

    def chat(self, text: str, files: list[str] | None, history: list[dict] | None, settings: GenerationSettings,
             stop: threading.Event | None = None, search: bool = False, earlier_files: list[str] = ()
             ) -> Iterator[ChatEvent]:
        """Streams ChatEvents; `stop` (and the --request-timeout deadline) ends it at its next step. search: also
        look the question up with the configured provider (SearXNG, or the local documents); the documents among
        `files` (txt, md, html, pdf) are searched whether or not it is set. earlier_files: what the conversation's
        earlier turns attached; a message without a picture or sound that asks about one of theirs gets it again
        (modules.follow_up)."""
        stop = Interrupt(stop, self.config.limits.request_timeout)
        text = self.check_text(text)
        settings = self.check_settings(settings)
        documents, files = self.split_documents(files)
        pictures, sounds = self.split_files(files)
        if not text and not pictures and not sounds:
            raise InputError("The message is empty: type something, or attach a picture or a sound."
                             + (" Ask a question about the document." if documents else ""))
        chosen = route(text, len(pictures), len(sounds))
        notices = []
        carried = self._carried(text, chosen, earlier_files)
        if carried is not None:
            chosen = Route(f"describe_{carried.kind}", carried.reason)
            pictures, sounds = ([carried.path], []) if carried.kind == "image" else ([], [carried.path])
            notices.append(carried.notice)
        sources, search_trace = [], {}
        if (search or documents) and chosen.name == "chat":
            sources, search_trace, found = self._search(text, documents, search)
            notices += found
        elif search or documents:
            notices.append("Search answers text questions; it is not used with a picture, a sound or a drawing.")
        if len(pictures) + len(sounds) > 1:
            notices.append("Only the first attachment is used; send the others one at a time.")
        if chosen.name == "draw":
            yield from self._chat_draw(text, history, settings, chosen, notices, stop)
            return
        media = None
        if chosen.name == "describe_image":
            media = ("image", pictures[0])
        elif chosen.name == "describe_audio":
            media = ("audio", sounds[0])
        reply, trace, speech = Reply("", "", True), {}, None
        for reply, notices, trace, sources, speech in self._answer(text, media, history, settings, chosen, notices,
                                                                   stop, sources):
            yield ChatEvent(text=reply.answer, thinking=reply.thinking, route=chosen.name, notices=notices,
                            sources=sources, speech_piece=_piece(speech))
        if search_trace:
            trace = {**trace, "search": {**search_trace, "sources": [
                {"number": s.number, "title": s.title, "address": s.address, "kind": s.kind} for s in sources]}}
            self._set_trace(trace)
        yield ChatEvent(text=reply.answer, thinking=reply.thinking, route=chosen.name, notices=notices, done=True,
                        trace=trace, sources=sources, speech=speech)

    @staticmethod
    def _carried(text: str, chosen: Route, earlier_files: list[str]) -> Carried | None:
        """The earlier picture or sound a chat message without one asks about (never for a drawing request)."""
        if chosen.name != "chat" or not earlier_files:
            return None
        earlier = [(kind, str(path)) for path in earlier_files if (kind := media_kind(path)) is not None]
        return carried_attachment(text, earlier)

    def describe_image(self, image_path: str, question: str, settings: GenerationSettings,
                       stop: threading.Event | None = None) -> Iterator[str]:
        """The Describe tab: a picture and an optional question; streams the whole answer so far (the model's
        thinking, if any, is left out here and kept in the trace)."""
        yield from self._describe("image", image_path, question, settings, stop)

    def describe_audio(self, audio_path: str, question: str, settings: GenerationSettings,
                       stop: threading.Event | None = None) -> Iterator[str]:
        """The Listen tab: a sound and an optional question; streams the whole answer so far."""
        yield from self._describe("audio", audio_path, question, settings, stop)

    def draw(self, prompt: str, settings: DrawSettings, on_step: Callable[[int, int], None] | None = None,
             stop: threading.Event | None = None) -> list[DrawnPicture]:
        """Pictures of `prompt`; `stop` (and the --request-timeout deadline) ends it at its next diffusion step."""
        return self._draw(prompt, settings, on_step, Interrupt(stop, self.config.limits.request_timeout))

    # ---- internals ----------------------------------------------------------------------------------------

    def _draw(self, prompt: str, settings: DrawSettings, on_step: Callable[[int, int], None] | None,
              interrupt: Interrupt) -> list[DrawnPicture]:
        prompt = self.check_text(prompt, "prompt")
        settings = self.check_draw_settings(settings)
        if not prompt:
            raise InputError("The prompt is empty: say what to draw, e.g. 'a red circle'.")
        decoder = self.components.get("image_decoder")
        first_seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        pictures, started = [], time.perf_counter()
        total = settings.steps * settings.count
        for k in range(settings.count):
            def progress(step: int, _steps: int, k: int = k) -> None:
                if on_step is not None:
                    on_step(k * settings.steps + step, total)
            seed = (first_seed + k) % 2**32
            image = self.drawing.run(functools.partial(decoder.draw, prompt, settings.steps, settings.guidance, seed,
                                                       progress, interrupt), interrupt)
            if image is None:
                interrupt.raise_if_expired("drawing")
                break
            pictures.append(DrawnPicture(image, prompt, seed, settings.steps, settings.guidance))
        self._set_trace({"route": "draw", "reason": "a drawing was requested", "prompt": prompt,
                         "pictures": len(pictures), "seconds": round(time.perf_counter() - started, 3),
                         "stopped": interrupt.is_set()})
        return pictures

    def _describe(self, kind: str, path: str, question: str, settings: GenerationSettings,
                  stop: threading.Event | None) -> Iterator[str]:
        stop = Interrupt(stop, self.config.limits.request_timeout)
        question, settings = self.check_text(question, "question"), self.check_settings(settings)
        if not path:
            raise InputError(MISSING_MEDIA[kind])
        chosen = Route(f"describe_{kind}", f"a {MEDIA_NOUN[kind]} was given in its own tab")
        for reply, _, _, _, _ in self._answer(question, (kind, path), [], settings, chosen, [], stop):
            yield reply.answer

    def _search(self, text: str, documents: list[str], web: bool) -> tuple[list[Source], dict, list[str]]:
        """(sources, what the trace says of the search, notices) for a text question."""
        started = time.perf_counter()
        query, sources, notices = self.searcher.find(text, documents, web)
        where = ([self.searcher.describe()] if web else []) + [f"attached: {display_name(d)}" for d in documents]
        return sources, {"query": query, "searched": where, "seconds": round(time.perf_counter() - started, 3)}, notices

    def _encode_media(self, kind: str, path: str):
        """A picture or sound file -> prefix embeddings for the language model."""
        bridge = self.components.get("bridge")
        if kind == "image":
            encoded = self.components.get("image_encoder").encode(load_image(path, self.media_limits))
        else:
            encoded = self.components.get("audio_encoder").encode(load_audio(path, self.media_limits))
        return bridge.prefix(kind, encoded.tokens, encoded.embedding)

    def _answer(self, text: str, media: tuple[str, str] | None, history: list[dict] | None,
                settings: GenerationSettings, chosen: Route, notices: list[str], stop: Interrupt,
                sources: list[Source] = ()) -> Iterator[tuple[Reply, list[str], dict, list[Source], Any]]:
        """Streams (reply so far: thinking and answer, notices, {}, the sources given, None, or while the answer is
        spoken the next SpeechPiece); the last item carries this answer's trace, also kept as last_trace for the
        Inspector, and its spoken answer when one was asked for (modules.native_lm.Speech: the pieces joined).
        Callers that report on one answer (the API's
        usage) read the trace they were given: last_trace may already belong to another request."""
        lm = self.components.get("language_model")
        if settings.speak and not _voices(lm):
            notices = notices + ["This model answers in text only: spoken answers need a checkpoint with a talker "
                                 "(e.g. Qwen3-Omni in the hub-omni profile)."]
            settings = dataclasses.replace(settings, speak=False)
        settings, notices = thinking_settings(lm, settings, notices)
        prefix, kind, turn, content = None, None, text, None
        if media is not None:
            kind, path = media
            if takes_content_parts(lm, kind):                # the engine's model reads the picture or sound itself
                content, kind = user_parts(lm, kind, path, text, self.media_limits), None
            elif uses_text_bridge(self.components, lm, kind):   # no projector for this LM: the media as words
                turn, kind = media_turn(self.components, kind, path, text, self.media_limits), None
            else:
                prefix = self._encode_media(kind, path)
        if sources:
            sources = self._fit_sources(lm, list(sources), turn, settings)
            turn = sources_turn(sources, turn)
        if content is None:
            content = (f"<|{kind}|>" if kind else "") + (turn or DEFAULT_QUESTION.get(kind or "", ""))
        fitted = self._fit_history(lm, history or [], {"role": "user", "content": content}, settings, stop)
        if fitted is None:                                   # stopped while the history was being measured
            stop.raise_if_expired()
            yield Reply("", "", True), notices + ["Stopped."], {}, list(sources), None
            return
        messages, trimmed = fitted
        if trimmed:
            notices = notices + [f"The {trimmed} oldest message(s) were left out to fit the model's context."]
        from .language_model import GenerationStats
        stats, written, clock = GenerationStats(), "", ThinkingClock()
        for item in lm.stream(messages, settings, stats, kind, prefix, stop):
            if isinstance(item, SpeechPiece):                # the talker speaks once the text is written
                yield split_reply(written), notices, {}, list(sources), item
                continue
            written = item
            clock.saw(split_reply(written), len(stats.tokens))
            yield split_reply(written), notices, {}, list(sources), None
        if stats.stopped:
            stop.raise_if_expired()
            notices = notices + ["Stopped."]
        reply = split_reply(written, final=True)
        generated = len(stats.tokens) if stats.token_unit == "chunks" else stats.answer_tokens
        trace = {**build_trace(lm, stats, chosen, text, reply, notices), "token_unit": stats.token_unit,
                 "thinking_asked": settings.thinking, **clock.summary(reply, generated, stats.thinking_tokens)}
        self._set_trace(trace)
        yield reply, notices, trace, list(sources), stats.speech

    @staticmethod
    def _fit_sources(lm, sources: list[Source], question: str, settings: GenerationSettings) -> list[Source]:
        """The sources cut to what fits the context beside the question and the answer (earlier turns give way)."""
        def count(turn: str) -> int:
            return lm.count_tokens([{"role": "user", "content": turn}], thinking=settings.thinking)

        return fit_sources(sources, question, fits_context(count, lm.context_length, settings.max_new_tokens))

    def _chat_draw(self, text: str, history, settings: GenerationSettings, chosen: Route, notices: list[str],
                   stop: Interrupt) -> Iterator[ChatEvent]:
        reply, trace, speech = "", {}, None
        for written, notices, trace, _, speech in self._answer(text, None, history, settings, chosen, notices, stop):
            reply = written.answer
            yield ChatEvent(text=reply, route="draw", notices=notices, speech_piece=_piece(speech))
        if stop.is_set():
            stop.raise_if_expired()
            yield ChatEvent(text=reply, route="draw", notices=notices, done=True, trace=trace, speech=speech)
            return
        pictures = self._draw(text, DrawSettings(seed=settings.seed), None, stop)
        trace = {**trace, "pictures": [{"prompt": p.prompt, "seed": p.seed} for p in pictures]}
        self._set_trace(trace)
        yield ChatEvent(text=reply, route="draw", pictures=pictures, notices=notices, done=True, trace=trace,
                        speech=speech)

    def _fit_history(self, lm, history: list[dict], turn: dict, settings: GenerationSettings, stop: Interrupt
                     ) -> tuple[list[dict], int] | None:
        """Earlier turns, oldest exchanges dropped first, so that prompt + answer fit the context: (messages,
        messages dropped), or None when `stop` was set meanwhile. The newest exchanges are tokenised one at a time,
        each once, with a running sum, until the next would not fit: the work is bounded by the context, not by
        the history's length. One exact count then checks what is kept. Every count is of the prompt the model
        will read, thinking on or off as settings say."""
        budget = lm.context_length - settings.max_new_tokens - 32      # room for a media prefix's extra tokens
        count = functools.partial(lm.count_tokens, thinking=settings.thinking)
        turn_tokens = count([turn])
        if turn_tokens > budget:
            raise InputError(f"The message is too long for the model's context ({lm.context_length} tokens, "
                             f"{settings.max_new_tokens} of them kept for the answer). Shorten it.")
        exchanges = _exchanges(self._history_turns(history))
        start = _oldest_that_fits(count, exchanges, turn_tokens, budget, stop)
        if start is None:
            return None
        while start < len(exchanges) and count(_joined(exchanges[start:]) + [turn]) > budget:
            if stop.is_set():                                 # the estimate was short: drop exactly
                return None
            start += 1
        return _joined(exchanges[start:]) + [turn], sum(len(e) for e in exchanges[:start])

    def _history_turns(self, history: list[dict]) -> list[dict]:
        """The user and assistant turns of a history as text, each checked to be valid text; an answer's thoughts
        (<think>…</think> before it, as /chat returns them) are left out, as DeepSeek's API does."""
        turns = []
        for k, message in enumerate(history):
            if isinstance(message, dict) and message.get("role") in ("user", "assistant"):
                content = str(message.get("content") or "")
                check_encodable(content, f"history message {k + 1}")
                if message["role"] == "assistant":
                    content = split_reply(content, final=True).answer
                turns.append({"role": message["role"], "content": content})
        return turns

    def _set_trace(self, trace: dict[str, Any]) -> None:
        with self._trace_lock:
            self._trace = trace


def _piece(speech) -> SpeechPiece | None:
    """An _answer item's speech while it is spoken: a SpeechPiece, else None (the last item's whole Speech goes on
    the done event)."""
    return speech if isinstance(speech, SpeechPiece) else None


def _voices(lm) -> list[str]:
    """A language model's voices: a native checkpoint with a talker has some, any other none."""
    voices = getattr(lm, "voices", None)
    return voices() if callable(voices) else []


def _exchanges(turns: list[dict]) -> list[list[dict]]:
    """Turns grouped into exchanges, each starting at a user turn (the first may be an assistant's alone)."""
    exchanges: list[list[dict]] = []
    for turn in turns:
        if turn["role"] == "user" or not exchanges:
            exchanges.append([])
        exchanges[-1].append(turn)
    return exchanges


def _joined(exchanges: list[list[dict]]) -> list[dict]:
    return [turn for exchange in exchanges for turn in exchange]


def _oldest_that_fits(count: Callable[[list[dict]], int], exchanges: list[list[dict]], turn_tokens: int,
                      budget: int, stop: Interrupt) -> int | None:
    """Index of the oldest exchange kept, counting back from the newest until the next would pass the budget;
    None when `stop` was set meanwhile. count: messages -> the tokens of their prompt."""
    frame = _template_frame(count, exchanges[-2:]) if len(exchanges) >= 2 else 0
    total, start = turn_tokens, len(exchanges)
    while start > 0:
        if stop.is_set():
            return None
        cost = count(exchanges[start - 1]) - frame
        if total + cost > budget:
            break
        total, start = total + cost, start - 1
    return start


def _template_frame(count: Callable[[list[dict]], int], two: list[list[dict]]) -> int:
    """The tokens every count holds once whatever it counts (a BOS, the answer's opening, <think> when thinking):
    two exchanges counted apart minus counted together."""
    return max(0, count(two[0]) + count(two[1]) - count(two[0] + two[1]))


def _check_range(name: str, value: Any, low: float, high: float, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and int(value) != value):
        kind = "a whole number" if integer else "a number"
        raise InputError(f"{name} must be {kind} between {low} and {high}; got {value!r}.")
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}; got {value}.")


__all__ = ["Pipeline", "InputError", "FeatureUnavailable", "RequestTimedOut"]
