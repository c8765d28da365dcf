"""Continuous batching for the in-process language model: one worker thread owns decoding, requests join the
running batch between decode steps and leave when they finish or are cancelled, and every decode step is one
forward pass over all active requests.

How a request goes through it:
- `BatchDecoder.tokens(request)` queues it and returns a generator of its tokens; closing that generator (a
  disconnected client) or setting the request's `stop` (the Stop button, the deadline) removes it from the batch at
  the next step boundary, before another forward pass is spent on it.
- Between steps the worker prefills each newcomer alone, exactly as the one-request loop does (its own DynamicCache,
  no mask), then appends its KV cache to the batch's: caches are left-padded with zeros to a common length and the
  padding is masked out (a 4-D additive mask), each row keeping its own position ids, so a row computes what it would
  compute alone (up to floating-point rounding of the wider matrix products).
- Each step every active request picks its next token from its own logits with its own picker (its sampling settings,
  its own seeded torch.Generator, its language guard), so an answer does not depend on who else is in the batch; the
  chosen tokens then go through the model together as a (batch, 1) input.
- The router hooks (modules.moe_trace.ExpertRecorder) see (batch, k) top-k ids per MoE layer; row b is request b's.

The cache layout handled is the one DynamicCache keeps per layer, (batch, heads, positions, dim) keys and values
(for DeepSeek-V3's multi-head latent attention: the compressed latents, heads = 1).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from transformers import DynamicCache

from .moe_trace import ExpertRecorder

log = logging.getLogger(__name__)
FINISHED = object()                    # end of a request's token stream


@dataclass(frozen=True)
class BatchSettings:
    """How the scheduler batches."""

    max_batch: int = 32                # requests decoded together at most; more wait for a row to free up


class Stopped(Exception):
    """Ends a token stream whose request was stopped (its `stop` was set) before its answer was done."""


@dataclass(eq=False)
class DecodeRequest:
    """One answer to decode. `pick(logits (vocab,) on the CPU) -> token id` holds the request's own sampling
    (temperature, top-p, seeded generator, language guard); `took(token)` is told each token kept."""

    embeds: torch.Tensor                         # (1, T, hidden): the prompt, media prefix included
    pick: Callable[[torch.Tensor], int]
    max_new_tokens: int
    eos: frozenset[int]
    stop: object | None = None                   # anything with is_set(): threading.Event, modules.interrupt.Interrupt
    trace: bool = True                           # keep each token's routed experts (the Inspector's trace)
    took: Callable[[int], None] = lambda token: None
    # the worker's state of this request
    outbox: queue.Queue = field(default_factory=queue.Queue)   # (token, experts | None) ... then FINISHED/Stopped/error
    cancelled: bool = False                      # its consumer went away
    logits: torch.Tensor | None = None           # (vocab,) of its last computed position
    experts: list[list[int]] = field(default_factory=list)     # [moe layer] -> ids chosen at that position
    length: int = 0                              # positions in its cache (its own, without padding)
    answered: int = 0                            # tokens kept so far
    next_token: int = 0                          # the token picked for the next forward pass
    forwards: int = 0                            # batched forward passes it has been part of

    def ended_by_caller(self) -> bool:
        return self.cancelled or (self.stop is not None and self.stop.is_set())


class BatchDecoder:
    """The decode loop of one model for every request at once. `lock` is held around each forward pass (the model's
    own lock, so that nothing else runs the model meanwhile); the recorder's hooks are attached only then."""

    def __init__(self, model: nn.Module, recorder: ExpertRecorder, layers: list[int], lock: threading.Lock,
                 settings: BatchSettings = BatchSettings()):
        self.model, self.recorder, self.layers, self.lock, self.settings = model, recorder, layers, lock, settings
        self.device = next(model.parameters()).device
        self.pending: queue.Queue[DecodeRequest] = queue.Queue()
        self.active: list[DecodeRequest] = []
        self.cache: DynamicCache | None = None   # the batch's, rows in the order of `active`
        self.valid: torch.Tensor | None = None   # (batch, positions) bool: False where a row's cache is padding
        self.steps = 0                           # batched forward passes run (for tests and benches)
        self.widest = 0                          # the most rows one forward pass has held
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # ---- the consumer's side ------------------------------------------------------------------------------

    def tokens(self, request: DecodeRequest) -> Iterator[tuple[int, list[list[int]] | None]]:
        """Queue `request`; yields (token, experts of that token or None) as the batch produces them, raises
        Stopped when its `stop` ended it early. Closing the generator cancels the request."""
        self._ensure_worker()
        self.pending.put(request)
        try:
            while True:
                item = request.outbox.get()
                if item is FINISHED:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.cancelled = True

    def idle(self) -> bool:
        """Nothing decoding and nothing waiting (a hint: another thread may be submitting just now)."""
        return not self.active and self.pending.empty()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="batch-decode", daemon=True)
                self._worker.start()

    # ---- the worker ---------------------------------------------------------------------------------------

    @torch.inference_mode()
    def _run(self) -> None:
        while True:
            self._admit(block=not self.active)
            try:
                self._pick_for_all()
                if self.active:
                    self._step()
            except Exception as error:               # the model failed: every request in the batch hears why
                log.exception("batched decode step failed")
                for request in self.active:
                    request.outbox.put(error)
                self.active, self.cache, self.valid = [], None, None

    def _admit(self, block: bool) -> None:
        """Prefill the waiting requests (as many as there are free rows) and join them to the batch; waits for one
        when `block` (nothing to decode meanwhile)."""
        while len(self.active) < self.settings.max_batch:
            try:
                request = self.pending.get(block=block)
            except queue.Empty:
                return
            block = False
            if request.ended_by_caller():
                self._end(request, stopped=True)
                continue
            try:
                self._join(request, self._prefill(request))
            except Stopped:
                self._end(request, stopped=True)
            except Exception as error:
                log.exception("prefill failed")
                request.outbox.put(error)

    @torch.inference_mode()
    def _prefill(self, request: DecodeRequest) -> DynamicCache:
        """The request's prompt alone into its own cache, as the one-request loop does; sets its logits and the
        experts its last prompt position chose."""
        cache = DynamicCache(config=self.model.config)
        with self.lock, self.recorder:
            if request.ended_by_caller():             # stopped while an answer's own loop held the model
                raise Stopped
            self.recorder.clear()
            request.logits = self.model(inputs_embeds=request.embeds, cache=cache, use_cache=True).logits[0, -1]
            request.experts = [self.recorder.calls[i][-1][-1].tolist() if self.recorder.calls[i] else []
                               for i in self.layers]
            self.recorder.clear()
        request.length = request.embeds.shape[1]
        return cache

    def _join(self, request: DecodeRequest, cache: DynamicCache) -> None:
        """Append the request's cache (1 row) to the batch's, left-padding whichever is shorter."""
        valid = torch.ones(1, request.length, dtype=torch.bool, device=self.device)        # (1, T)
        if self.cache is None:
            self.cache, self.valid, self.active = cache, valid, [request]
            return
        width = max(self.valid.shape[1], request.length)
        self.valid = torch.cat([_left_pad(self.valid, width, False), _left_pad(valid, width, False)])
        for ours, theirs in zip(_layers(self.cache), _layers(cache)):
            ours.keys = torch.cat([_left_pad(ours.keys, width, 0.0), _left_pad(theirs.keys, width, 0.0)])
            ours.values = torch.cat([_left_pad(ours.values, width, 0.0), _left_pad(theirs.values, width, 0.0)])
        self.active.append(request)

    def _pick_for_all(self) -> None:
        """Each active request: stop it if its caller did, else pick its next token, stream it, and end it at
        end-of-sequence or its token cap."""
        leaving = []
        for request in self.active:
            if request.ended_by_caller():
                self._end(request, stopped=True)
                leaving.append(request)
                continue
            try:
                token = request.pick(request.logits.cpu())
            except Exception as error:               # its own sampling failed: it alone hears why
                log.exception("picking a token failed")
                request.outbox.put(error)
                leaving.append(request)
                continue
            if token in request.eos:
                self._end(request, stopped=False)
                leaving.append(request)
                continue
            request.took(token)
            request.answered += 1
            request.next_token = token
            request.outbox.put((token, request.experts if request.trace else None))
            if request.answered >= request.max_new_tokens:
                self._end(request, stopped=False)
                leaving.append(request)
        if leaving:
            self._drop(leaving)

    def _end(self, request: DecodeRequest, stopped: bool) -> None:
        request.outbox.put(Stopped() if stopped and not request.cancelled else FINISHED)
        request.logits = None

    def _drop(self, leaving: list[DecodeRequest]) -> None:
        """Remove rows from the batch, then the leading positions that are padding in every row left."""
        keep = [k for k, request in enumerate(self.active) if request not in leaving]
        self.active = [self.active[k] for k in keep]
        if not keep:
            self.cache, self.valid = None, None
            return
        rows = torch.tensor(keep, device=self.device)
        valid = self.valid[rows]                                                # (batch', positions)
        first = int(valid.any(0).nonzero()[0])                                  # the first position any row uses
        self.valid = valid[:, first:]
        for layer in _layers(self.cache):
            layer.keys, layer.values = layer.keys[rows, :, first:], layer.values[rows, :, first:]

    @torch.inference_mode()
    def _step(self) -> None:
        """One forward pass over every active request's chosen token; sets each one's logits and experts."""
        tokens = torch.tensor([[r.next_token] for r in self.active], device=self.device)          # (batch, 1)
        positions = torch.tensor([[r.length] for r in self.active], device=self.device)           # (batch, 1)
        self.valid = torch.cat([self.valid, torch.ones(len(self.active), 1, dtype=torch.bool,
                                                       device=self.device)], dim=1)               # (batch, S + 1)
        dtype = self.model.get_input_embeddings().weight.dtype
        mask = torch.zeros(self.valid.shape, dtype=dtype, device=self.device)
        mask = mask.masked_fill(~self.valid, torch.finfo(dtype).min)[:, None, None, :]            # (batch, 1, 1, S + 1)
        with self.lock, self.recorder:
            self.recorder.clear()
            logits = self.model(input_ids=tokens, position_ids=positions, attention_mask=mask, cache=self.cache,
                                use_cache=True).logits[:, -1]                                     # (batch, vocab)
            chosen = [self.recorder.calls[i][-1] if self.recorder.calls[i] else None for i in self.layers]
            self.recorder.clear()
        for row, request in enumerate(self.active):
            request.logits = logits[row]
            request.length += 1
            request.forwards += 1
            request.experts = [ids[row].tolist() if ids is not None else [] for ids in chosen]   # ids (batch, k)
        self.steps += 1
        self.widest = max(self.widest, len(self.active))


def _layers(cache: DynamicCache) -> list:
    """The cache's layers that hold keys (every attention layer once the prompt has passed)."""
    return [layer for layer in cache.layers if getattr(layer, "keys", None) is not None and layer.keys.dim() == 4]


def _left_pad(tensor: torch.Tensor, width: int, value) -> torch.Tensor:
    """Pad the positions dimension (the second for (batch, positions) masks, the third for (batch, heads,
    positions, dim) keys and values) on the left up to `width`."""
    dim = 1 if tensor.dim() == 2 else 2
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.full(shape, value, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)
