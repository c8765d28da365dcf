"""The mixture-of-experts language model: chat prompts with media prefixes, streamed decoding, expert traces."""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .batch_decode import BatchDecoder, BatchSettings, DecodeRequest, Stopped
from .contracts import GenerationSettings
from .decode_steps import EagerSteps, FastSteps
from .fast_decode import FastDecoder, FastDecodeSettings
from .language_guard import LanguageKeeper, fitted
from .moe_trace import ExpertRecorder, experts_per_token, parameter_counts, routed_experts
from .reasoning import THINK_START
from .thinking import THOUGHT_NAMES, ThinkingControl, opens_thinking
from .world.chat import latin_names_in_chinese_answers

MEDIA_MARKERS = {"image": "<|image|>", "audio": "<|audio|>"}
LOCK_POLL_S = 0.05          # how often an answer waiting for the model looks at its stop flag


@dataclass
class GenerationStats:
    """What the Inspector shows about one answer."""

    prompt_tokens: int = 0
    answer_tokens: int = 0
    ttft_s: float = 0.0
    ms_per_token: float = 0.0
    tokens: list[str] = field(default_factory=list)          # each generated token's text
    experts: list[list[list[int]]] = field(default_factory=list)  # [token][moe layer] -> expert ids
    stopped: bool = False
    media_tokens: dict[str, int] = field(default_factory=dict)   # prompt tokens that are a picture / a sound
    thinking_tokens: int | None = None      # the thinking's tokens as the model's server counted them (None: the
                                            # pipeline counts the tokens streamed before the answer began)
    token_unit: str = "tokens"              # "chunks": a server's stream counted by its pieces, not its tokens
    speech: Any = None                                           # the spoken answer, when one was asked for


def sample_next(logits: torch.Tensor, settings: GenerationSettings, generator: torch.Generator | None) -> int:
    """logits (vocab,) -> a token id: greedy at temperature 0, else nucleus sampling."""
    if settings.temperature <= 0:
        return int(logits.argmax())
    probs = (logits.float() / settings.temperature).softmax(-1)
    sorted_probs, order = probs.sort(descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < settings.top_p                 # always keeps the top token
    sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
    return int(order[choice])


class TokenPicker:
    """One answer's choice of each next token: its language guard's mask, then sample_next with its own generator.
    `took(token)` tells it a token was kept (the guard reads what was written so far)."""

    def __init__(self, keeper: LanguageKeeper, settings: GenerationSettings, generator: torch.Generator | None,
                 guard=None):
        """guard: (language, guard) from keeper.for_messages, or None for no guard."""
        self.pieces, self.settings, self.generator, self.guard = keeper.pieces, settings, generator, guard
        self.written = b""

    def __call__(self, logits: torch.Tensor) -> int:
        """logits (vocab,) on the CPU -> the next token id."""
        if self.guard is not None:
            language, guard = self.guard
            logits = logits.masked_fill(fitted(guard.banned(language, self.written), logits.shape[0]), float("-inf"))
        return sample_next(logits, self.settings, self.generator)

    def took(self, token: int) -> None:
        if self.guard is not None and token < len(self.pieces):
            self.written += self.pieces[token]


class LanguageModel:
    thinking = ThinkingControl()               # how the Think switch asks it to think; set when loaded

    def __init__(self, model, tokenizer, device: torch.device):
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.recorder = ExpertRecorder(model)
        self.moe_layers = sorted(self.recorder.gates)
        # n_routed_experts | num_local_experts | num_experts, as the experts modules say it or else the config
        self.num_experts = self.recorder.experts_count or routed_experts(model.config)
        self.lock = threading.Lock()            # one generation at a time per model (caches are per call)
        self.keeper = LanguageKeeper(tokenizer, latin_names_in_chinese_answers())
        self.fast: FastDecoder | None = None    # the compiled decode path, once start_fast_decode is called
        self.batcher: BatchDecoder | None = None   # the shared batch every answer joins, once start_batch_decode

    def start_batch_decode(self, settings: BatchSettings = BatchSettings()) -> BatchDecoder:
        """From now on every answer joins one running batch (modules.batch_decode) instead of its own loop."""
        if self.batcher is None:
            self.batcher = BatchDecoder(self.model, self.recorder, self.moe_layers, self.lock, settings)
        return self.batcher

    @property
    def batches(self) -> bool:
        """Whether this model's cache is one the batch scheduler can pad and join: DeepSeek-V3's latent cache."""
        return getattr(self.model.config, "model_type", "") == "deepseek_v3"

    def start_fast_decode(self, settings: FastDecodeSettings = FastDecodeSettings()) -> FastDecoder:
        """Build the fast path and compile it in a background thread; answers use it once it is ready."""
        if self.fast is None:
            self.fast = FastDecoder(self.model, settings)
            self.fast.start_warm_up()
        return self.fast

    @property
    def fast_decode_state(self) -> str:
        """"off", "warming up", "ready" or "failed: why"."""
        return "off" if self.fast is None else self.fast.state

    def _steps(self, prompt_tokens: int, settings: GenerationSettings):
        """The fast path when it is ready and prompt + answer cap fit a bucket, else the eager path."""
        positions = prompt_tokens + settings.max_new_tokens
        if self._fast_fits(positions):
            return FastSteps(self.model, self.recorder, self.moe_layers, self.fast, positions)
        return EagerSteps(self.model, self.recorder, self.moe_layers, self.device)

    def _fast_fits(self, positions: int) -> bool:
        """The fast path is warm and one of its buckets holds `positions` (prompt + answer cap)."""
        return self.fast is not None and self.fast.ready.is_set() and self.fast.bucket_for(positions) is not None

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, trust_remote_code: bool = False,
             experts_implementation: str | None = None, revision: str | None = None) -> "LanguageModel":
        """revision: a hub branch, tag or commit (None: the default branch); ignored for a local folder."""
        kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "use_safetensors": True,
                  "revision": revision}
        if experts_implementation:
            kwargs["experts_implementation"] = experts_implementation
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs).to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, revision=revision)
        return cls(model, tokenizer, device)

    @property
    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def parameter_counts(self) -> tuple[int, int]:
        """(total, active per token): routed experts count only top-k of n toward the active share."""
        return parameter_counts(self.model, self.recorder, self.num_experts,
                                self.recorder.top_k or experts_per_token(self.model.config))

    def supports_media(self, kind: str) -> bool:
        token_id = self.tokenizer.convert_tokens_to_ids(MEDIA_MARKERS[kind])
        return token_id is not None and token_id != self.tokenizer.unk_token_id

    def prompt_text(self, messages: list[dict], thinking: bool = False) -> str:
        """The chat template's prompt, asking the model to think or not as its ThinkingControl says."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                  **self.thinking.template_kwargs(thinking))
        return self.thinking.prompt(text, thinking)

    def prompt_ids(self, messages: list[dict], prefix_kind: str | None, prefix_length: int,
                   thinking: bool = False) -> list[int]:
        """Chat template -> ids; the last user turn's media marker repeated once per prefix embedding."""
        return self.ids_of(self.prompt_text(messages, thinking), prefix_kind, prefix_length)

    def ids_of(self, prompt: str, prefix_kind: str | None, prefix_length: int) -> list[int]:
        """A rendered prompt -> ids, its last media marker repeated once per prefix embedding."""
        ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        if prefix_kind is None:
            return ids
        marker = self.tokenizer.convert_tokens_to_ids(MEDIA_MARKERS[prefix_kind])
        at = max(i for i, t in enumerate(ids) if t == marker)
        return ids[:at] + [marker] * prefix_length + ids[at + 1:]

    def count_tokens(self, messages: list[dict], thinking: bool = False) -> int:
        """Tokens of the prompt the model reads for these messages, thinking on or off (prompt_text's), each media
        marker counted once."""
        return len(self.tokenizer.encode(self.prompt_text(messages, thinking), add_special_tokens=False))

    def embed(self, ids: list[int], prefix_kind: str | None, prefix: torch.Tensor | None) -> torch.Tensor:
        """ids -> (1, T, hidden) with the prefix (n, hidden) placed at the marker positions."""
        input_ids = torch.tensor([ids], device=self.device)
        embeds = self.model.get_input_embeddings()(input_ids)
        if prefix_kind is not None and prefix is not None:
            marker = self.tokenizer.convert_tokens_to_ids(MEDIA_MARKERS[prefix_kind])
            embeds[0, (input_ids[0] == marker)] = prefix.to(embeds.dtype)
        return embeds

    @torch.inference_mode()
    def stream(self, messages: list[dict], settings: GenerationSettings, stats: GenerationStats,
               prefix_kind: str | None = None, prefix: torch.Tensor | None = None,
               stop: threading.Event | None = None) -> Iterator[str]:
        """Yields the whole answer so far after each token; fills `stats` as it goes. A prompt that opens <think>
        (settings.thinking on some templates) makes the words thoughts: the answer is yielded after <think>."""
        prompt = self.prompt_text(messages, settings.thinking)
        ids = self.ids_of(prompt, prefix_kind, 0 if prefix is None else prefix.shape[0])
        opened = THINK_START if opens_thinking(prompt) else ""
        stats.prompt_tokens = len(ids)
        generator = None
        if settings.seed is not None:
            generator = torch.Generator(device="cpu").manual_seed(int(settings.seed))
        extra = THOUGHT_NAMES if settings.thinking else frozenset()          # a thought ends with </think>
        keeper = self.keeper.for_messages(messages, extra) if settings.keep_language else None
        shared = self._joins_batch(len(ids), settings)
        # the shared batch takes the model's lock per forward pass; an answer's own loop holds it throughout
        with contextlib.nullcontext(True) if shared else self._alone(stop) as ours:
            if not ours:                               # stopped while another answer held the model
                stats.stopped = True
                return
            for text in self._decode(ids, prefix_kind, prefix, settings, stats, generator, stop, keeper, shared):
                yield opened + text

    def _joins_batch(self, prompt_tokens: int, settings: GenerationSettings) -> bool:
        """Whether this answer joins the shared batch: yes when batching is on, unless the batch is idle and the
        compiled batch-1 path is ready for it (one request alone decodes faster there; another that comes
        meanwhile waits for that answer, then batches)."""
        if self.batcher is None:
            return False
        return not (self.batcher.idle() and self._fast_fits(prompt_tokens + settings.max_new_tokens))

    @contextlib.contextmanager
    def _alone(self, stop=None):
        """The model and its router hooks to this answer alone while it decodes: yields True once it has them, or
        False (holding nothing) when `stop` was set while another answer held them."""
        while not self.lock.acquire(timeout=LOCK_POLL_S):
            if stop is not None and stop.is_set():
                yield False
                return
        try:
            with self.recorder:
                yield True
        finally:
            self.lock.release()

    def _decode(self, ids, prefix_kind, prefix, settings, stats, generator, stop, keeper=None,
                shared: bool = False) -> Iterator[str]:
        started = time.perf_counter()
        picker = TokenPicker(self.keeper, settings, generator, keeper)
        embeds = self.embed(ids, prefix_kind, prefix)                                 # (1, T, hidden)
        if shared:
            tokens = self._batched_tokens(embeds, picker, settings, stats, stop)
        else:
            tokens = self._own_tokens(embeds, picker, settings, stats, stop)
        yield from self._texts(tokens, stats, started)

    def _own_tokens(self, embeds, picker: "TokenPicker", settings: GenerationSettings, stats: GenerationStats,
                    stop) -> Iterator[int]:
        """This answer's own token loop (eager, or the fast path once warm): yields each token kept."""
        if stop is not None and stop.is_set():          # stopped before its prompt was read: no forward pass
            stats.stopped = True
            return
        steps = self._steps(embeds.shape[1], settings)
        logits = steps.first(embeds)
        eos = set(self._eos_ids())
        for _ in range(settings.max_new_tokens):
            if stop is not None and stop.is_set():
                stats.stopped = True
                break
            token = picker(logits.cpu())
            if settings.trace_experts:
                stats.experts.append(steps.experts())
            if token in eos:
                break
            picker.took(token)
            yield token
            logits = steps.next(token)

    def _batched_tokens(self, embeds, picker: "TokenPicker", settings: GenerationSettings, stats: GenerationStats,
                        stop) -> Iterator[int]:
        """The answer's tokens from the shared batch (modules.batch_decode); closing this cancels the request."""
        request = DecodeRequest(embeds=embeds, pick=picker, max_new_tokens=settings.max_new_tokens,
                                eos=frozenset(self._eos_ids()), stop=stop, trace=settings.trace_experts,
                                took=picker.took)
        stream = self.batcher.tokens(request)
        try:
            for token, experts in stream:
                if experts is not None:
                    stats.experts.append(experts)
                yield token
        except Stopped:
            stats.stopped = True
        finally:
            stream.close()

    def _texts(self, tokens: Iterator[int], stats: GenerationStats, started: float) -> Iterator[str]:
        """Tokens -> the whole answer so far after each one whose characters are complete; fills `stats`."""
        answer: list[int] = []
        first_token_at, text, shown = None, "", ""
        with contextlib.closing(tokens):
            for token in tokens:
                answer.append(token)
                stats.tokens.append(self.tokenizer.decode([token]))
                first_token_at = first_token_at or time.perf_counter()
                text = self.tokenizer.decode(answer, skip_special_tokens=True)
                if not text.endswith("\ufffd"):            # a character's bytes may still be coming: wait for them
                    yield text
                    shown = text
        if text != shown:                               # ended inside a character: the whole answer, as written
            yield text
        self._finish(stats, answer, started, first_token_at)

    def _finish(self, stats: GenerationStats, answer: list[int], started: float, first_at: float | None) -> None:
        ended = time.perf_counter()
        stats.answer_tokens = len(answer)
        stats.experts = stats.experts[: len(answer)]
        stats.ttft_s = (first_at or ended) - started
        stats.ms_per_token = 1000 * (ended - (first_at or ended)) / max(1, len(answer) - 1)

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id or self.tokenizer.eos_token_id
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]
