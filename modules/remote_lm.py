"""A language model behind an OpenAI-compatible server (vLLM, SGLang, another studio), with the same streaming
interface as modules.language_model.LanguageModel, so the pipeline and the trace use it unchanged.

Profile: `language_model: {backend: openai, base_url: http://host:8000/v1, model: NAME}` (model optional: the
first one the server lists; api_key_env: the environment variable holding the key, default OPENAI_API_KEY;
context_length: when the server does not report max_model_len; modalities: what the engine's model takes, e.g.
[text, image, audio]; thinking: template when the server takes DeepSeek's `"thinking": {"type": "enabled"}`, the
Think switch's way there; tokenizer: a hub id or folder holding the served model's tokenizer, to count its thinking,
its answer and, with its chat template, its prompts in tokens). Pictures and sounds listed in `modalities` reach it
as OpenAI content parts (`image_url` with a data URI, `input_audio`: modules.content_parts); any other kind as words
(the text bridge). It takes no prefix embeddings.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Iterator

from .contracts import FeatureUnavailable, GenerationSettings, InputError
from .reasoning import THINKING_OPENER, join_reply, split_reply
from .thinking import ThinkingControl, template_variable

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
                 modalities: tuple[str, ...] = ("text",), tokenizer=None):
        self.client, self.model, self.base_url = client, model, base_url
        self._context_length = context_length
        self.modalities = frozenset(modalities)
        self.tokenizer = tokenizer     # the served model's (profile `tokenizer`), or None: counts are estimates

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
        return cls(client, entry.id, base_url, int(context), tuple(options.get("modalities") or ("text",)),
                   _load_tokenizer(options.get("tokenizer")))

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

    def count_tokens(self, messages: list[dict], thinking: bool = False) -> int:
        """The prompt's tokens through the profile's tokenizer and its chat template (its thinking flag set as asked)
        when there is one and the turns are text; else a cautious estimate, with room for the <think> opening a
        server's template adds when thinking."""
        template = getattr(self.tokenizer, "chat_template", None)
        if isinstance(template, str) and all(isinstance(m.get("content"), str) for m in messages):
            variable = template_variable(template)
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                      **({variable: thinking} if variable else {}))
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        estimate = sum(_content_tokens(m.get("content")) + 4 for m in messages) + 2
        return estimate + (_estimate_tokens(THINKING_OPENER) if thinking else 0)

    def stream(self, messages: list[dict], settings: GenerationSettings, stats, prefix_kind: str | None = None,
               prefix=None, stop: threading.Event | None = None) -> Iterator[str]:
        """Yields the whole answer so far after each streamed piece; fills `stats` as it goes."""
        import openai

        if prefix is not None:
            raise ValueError("a remote language model takes no prefix embeddings; pictures and sounds go as text")
        started, first_at, text, thinking, reasoning_tokens = time.perf_counter(), None, "", "", None
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
                        reasoning_tokens = _reasoning_tokens(chunk.usage)
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
        stats.prompt_tokens = stats.prompt_tokens or self.count_tokens(messages, settings.thinking)
        self._count_reply(stats, join_reply(thinking, text), reasoning_tokens)
        stats.ttft_s = (first_at or ended) - started
        stats.ms_per_token = 1000 * (ended - (first_at or ended)) / max(1, stats.answer_tokens - 1)

    def _count_reply(self, stats, written: str, reasoning_tokens: int | None) -> None:
        """The reply's tokens and its thinking's, in tokens where anything counts them: the server's usage
        (reasoning_tokens, as DeepSeek's API and this studio's /v1 report it), else the profile's tokenizer. Else the
        streamed chunks stand in (a chunk may hold several tokens) and stats.token_unit says so."""
        reply = split_reply(written, final=True)
        tokenizer = self.tokenizer
        encode = (lambda words: len(tokenizer.encode(words, add_special_tokens=False))) if tokenizer else None
        if not stats.answer_tokens:
            stats.answer_tokens = encode(reply.thinking) + encode(reply.answer) if encode else len(stats.tokens)
            stats.token_unit = "tokens" if encode else "chunks"
        if not reply.thinking:
            return
        if reasoning_tokens:                       # a server that saw thoughts and counted none did not count
            stats.thinking_tokens = reasoning_tokens
        elif encode is not None:
            stats.thinking_tokens = encode(reply.thinking)
        else:
            stats.token_unit = "chunks"


def _load_tokenizer(source: str | None):
    """The profile's `tokenizer` (a hub id or a folder) through AutoTokenizer, or None when it names none."""
    if not source:
        return None
    from transformers import AutoTokenizer
    for scheme in ("hf-hub:", "local-dir:"):            # the config's explicit sources, as from_pretrained reads them
        source = source[len(scheme):] if source.startswith(scheme) else source
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ValueError(f"language_model.tokenizer: {source!r} could not be loaded as a tokenizer ({error}); give "
                         "the hub id or folder of the served model's tokenizer, or leave it out") from None


def _reasoning_tokens(usage) -> int | None:
    """The server's count of the thinking's tokens (usage.completion_tokens_details.reasoning_tokens), if any."""
    details = getattr(usage, "completion_tokens_details", None)
    value = getattr(details, "reasoning_tokens", None)
    return value if isinstance(value, int) else None


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
