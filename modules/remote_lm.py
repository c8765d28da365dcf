"""A language model behind an OpenAI-compatible server (vLLM, SGLang, another studio), with the same streaming
interface as modules.language_model.LanguageModel, so the pipeline and the trace use it unchanged.

Profile: `language_model: {backend: openai, base_url: http://host:8000/v1, model: NAME}` (model optional: the
first one the server lists; api_key_env: the environment variable holding the key, default OPENAI_API_KEY;
context_length: when the server does not report max_model_len; modalities: what the engine's model takes, e.g.
[text, image, audio]; thinking: template when the server takes DeepSeek's `"thinking": {"type": "enabled"}`, the
Think switch's way there). Pictures and sounds listed in `modalities` reach it as OpenAI content parts (`image_url`
with a data URI, `input_audio`: modules.content_parts); any other kind as words (the text bridge). It takes no
prefix embeddings.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Iterator

from .contracts import FeatureUnavailable, GenerationSettings, InputError
from .reasoning import join_reply
from .thinking import ThinkingControl

DEFAULT_CONTEXT = 4096        # when neither the server nor the profile says
LIST_TIMEOUT_S = 15.0         # start-up: listing the server's models
READ_TIMEOUT_S = 600.0        # one answer, streamed
MEDIA_PART_TOKENS = 256       # one picture or sound part, for trimming history (engines count 256 to ~1,300)


def _estimate_tokens(text: str) -> int:
    """A cautious count without the server's tokenizer: one token per 3 bytes of UTF-8 (a CJK character is one)."""
    return len(text.encode("utf-8")) // 3 + 1


class RemoteLanguageModel:
    moe_layers: list[int] = []     # the experts run elsewhere: nothing to trace
    num_experts = 0
    thinking = ThinkingControl()   # `thinking: template` in the profile: the server is sent DeepSeek's parameter

    def __init__(self, client, model: str, base_url: str, context_length: int,
                 modalities: tuple[str, ...] = ("text",)):
        self.client, self.model, self.base_url = client, model, base_url
        self._context_length = context_length
        self.modalities = frozenset(modalities)

    @classmethod
    def load(cls, source) -> "RemoteLanguageModel":
        """Connects, lists the server's models and picks one; an unreachable server fails here (the role is off)."""
        import openai

        options = source.options
        base_url = options["base_url"]
        key = os.environ.get(options.get("api_key_env") or "OPENAI_API_KEY") or "none"
        client = openai.OpenAI(base_url=base_url, api_key=key, timeout=READ_TIMEOUT_S, max_retries=1)
        try:
            listed = list(client.with_options(timeout=LIST_TIMEOUT_S).models.list())
        except openai.APIError as error:
            raise ConnectionError(f"the OpenAI-compatible server at {base_url} did not list its models "
                                  f"({type(error).__name__}: {error})") from None
        names = [m.id for m in listed]
        wanted = options.get("model")
        if not names:
            raise ValueError(f"the server at {base_url} lists no models")
        if wanted and wanted not in names:
            raise ValueError(f"the server at {base_url} has no model {wanted!r}; it lists: {', '.join(names)}")
        entry = listed[names.index(wanted or names[0])]
        context = options.get("context_length") or getattr(entry, "max_model_len", None) or DEFAULT_CONTEXT
        return cls(client, entry.id, base_url, int(context), tuple(options.get("modalities") or ("text",)))

    @property
    def context_length(self) -> int:
        return self._context_length

    def parameter_counts(self) -> tuple[int, int]:
        """Unknown here: (0, 0)."""
        return 0, 0

    def supports_media(self, kind: str) -> bool:
        """No prefix embeddings: a remote model takes media as content parts (accepts_content_part) or words."""
        return False

    def accepts_content_part(self, kind: str) -> bool:
        """Whether the profile's `modalities` say the engine's model reads this kind ("image" | "audio") itself."""
        return kind in self.modalities

    def count_tokens(self, messages: list[dict]) -> int:
        return sum(_content_tokens(m.get("content")) + 4 for m in messages) + 2

    def stream(self, messages: list[dict], settings: GenerationSettings, stats, prefix_kind: str | None = None,
               prefix=None, stop: threading.Event | None = None) -> Iterator[str]:
        """Yields the whole answer so far after each streamed piece; fills `stats` as it goes."""
        import openai

        if prefix is not None:
            raise ValueError("a remote language model takes no prefix embeddings; pictures and sounds go as text")
        started, first_at, text, thinking = time.perf_counter(), None, "", ""
        request = dict(model=self.model, messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                       temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_new_tokens,
                       stream=True, stream_options={"include_usage": True})
        if settings.seed is not None:
            request["seed"] = int(settings.seed)
        if getattr(self.thinking, "mode", "none") == "template":   # DeepSeek's API's switch (and a studio's /v1)
            request["extra_body"] = {"thinking": {"type": "enabled" if settings.thinking else "disabled"}}
        try:
            response = self.client.chat.completions.create(**request)
            with response:
                for chunk in response:
                    if stop is not None and stop.is_set():
                        stats.stopped = True
                        break                          # leaving `with` closes the stream: the server stops too
                    if chunk.usage is not None:
                        stats.prompt_tokens = chunk.usage.prompt_tokens
                        stats.answer_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        piece, thought = choice.delta.content or "", _reasoning_of(choice.delta)
                        if piece or thought:
                            text, thinking = text + piece, thinking + thought
                            stats.tokens.append(piece or thought)
                            first_at = first_at or time.perf_counter()
                            yield join_reply(thinking, text)
        except openai.BadRequestError as error:
            raise InputError(_message(error)) from None
        except openai.APIStatusError as error:
            raise FeatureUnavailable(f"The language model at {self.base_url} answered with an error "
                                     f"({error.status_code}: {_message(error)}).") from None
        except openai.APIError as error:
            raise FeatureUnavailable(f"The language model at {self.base_url} cannot be reached "
                                     f"({type(error).__name__}).") from None
        ended = time.perf_counter()
        stats.prompt_tokens = stats.prompt_tokens or self.count_tokens(messages)
        stats.answer_tokens = stats.answer_tokens or len(stats.tokens)
        stats.ttft_s = (first_at or ended) - started
        stats.ms_per_token = 1000 * (ended - (first_at or ended)) / max(1, stats.answer_tokens - 1)


def _content_tokens(content) -> int:
    """A string's estimate, or a list of parts': text parts by their bytes, each picture or sound a fixed count."""
    if not isinstance(content, list):
        return _estimate_tokens(str(content or ""))
    return sum(_estimate_tokens(str(part.get("text") or "")) if part.get("type") == "text" else MEDIA_PART_TOKENS
               for part in content if isinstance(part, dict))


def _reasoning_of(delta) -> str:
    """A streamed piece of thinking: `reasoning_content` (DeepSeek's API, this studio) or `reasoning` (vLLM)."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _message(error) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(getattr(error, "message", error))
