"""Fast decoding for a transformers MoE language model: a static KV cache in length buckets, the prompt prefilled
eagerly, then a torch.compile'd one-token step on a weight-sharing copy of the model whose experts run an
implementation suited to one token; each step also returns the routed experts it chose (the Inspector's trace).

The compile (seconds to minutes per bucket) is paid by `FastDecoder.warm_up`, run in a background thread at
start-up; until it is `ready`, callers keep the eager path. A request whose prompt plus answer cap does not fit the
largest bucket also keeps the eager path. Off with `--no-fast-decode` or OMNIMOE_FAST_DECODE=0.
"""
from __future__ import annotations

import collections
import copy
import logging
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn
from transformers import StaticCache

from .moe_trace import moe_blocks, topk_ids

log = logging.getLogger(__name__)
WARM_PROMPT_TOKENS = 8           # the warm-up's stand-in prompt
WARM_STEPS = 3                   # compiled steps run per bucket at warm-up (the first one compiles)


@dataclass(frozen=True)
class FastDecodeSettings:
    """How the fast path decodes."""

    buckets: tuple[int, ...] = (128, 256, 512)   # static cache lengths (prompt + answer); one compiled step each
    experts_implementation: str = "batched_mm"   # the copy's experts: fastest for one token (bench/decode.py)
    fullgraph: bool = True                       # the step compiles as one graph, or the warm-up fails and says so


def shared_copy(model: nn.Module, experts_implementation: str) -> nn.Module:
    """A copy of the module tree that holds the very same parameters and buffers (no extra memory), without the
    original's hooks, whose config (and so its experts implementation) is its own."""
    config = copy.deepcopy(model.config)
    config._experts_implementation_internal = experts_implementation
    return _copy_tree(model, model.config, config)


def _copy_tree(module: nn.Module, old_config, new_config) -> nn.Module:
    clone = copy.copy(module)
    clone._modules = {name: _copy_tree(child, old_config, new_config) if child is not None else None
                      for name, child in module._modules.items()}
    clone._parameters = dict(module._parameters)
    clone._buffers = dict(module._buffers)
    for hooks in ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                  "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs"):
        if hasattr(module, hooks):
            setattr(clone, hooks, collections.OrderedDict())
    if getattr(module, "config", None) is old_config:
        clone.config = new_config
    return clone


class RouterTap(nn.Module):
    """Runs a router unchanged and puts the top-k expert ids of its last position, (k,), on a shared list, which the
    compiled step stacks into one of its outputs (a Python hook would break the graph). The ids are the router
    output's integer (tokens, k) tensor, wherever the family puts it (moe_trace.topk_ids)."""

    def __init__(self, router: nn.Module, sink: list):
        super().__init__()
        self.router, self.sink = router, sink

    def forward(self, hidden_states: torch.Tensor):
        output = self.router(hidden_states)
        ids = topk_ids(output)                    # (tokens, k)
        if ids is not None:
            self.sink.append(ids[-1])             # the last token's (k,)
        return output


def tap_routers(model: nn.Module, sink: list) -> int:
    """Wrap the router of every MoE block (in layer order) with a RouterTap; returns how many were tapped."""
    blocks = moe_blocks(model)
    for block in blocks.values():
        name = "gate" if isinstance(getattr(block, "gate", None), nn.Module) else "router"
        setattr(block, name, RouterTap(getattr(block, name), sink))
    return len(blocks)


class FastDecoder:
    """The compiled decode step of one model, with a static cache per length bucket. `ready` once warmed up."""

    def __init__(self, model: nn.Module, settings: FastDecodeSettings = FastDecodeSettings()):
        self.model, self.settings = model, settings
        self.device = next(model.parameters()).device
        self.sink: list[torch.Tensor] = []
        self.copy = shared_copy(model, settings.experts_implementation)
        self.traced_layers = tap_routers(self.copy, self.sink)
        self.caches = {length: StaticCache(config=model.config, max_cache_len=length)
                       for length in sorted(settings.buckets)}
        limit = len(self.caches) + 8
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 8 * limit)
        self._step = torch.compile(self._one_token, fullgraph=settings.fullgraph, dynamic=False)
        self.ready = threading.Event()
        self.state = "warming up"                  # -> "ready" | "failed: why"
        self.compile_seconds: dict[int, float] = {}

    def bucket_for(self, tokens: int) -> int | None:
        """The smallest bucket holding `tokens` cache positions (prompt + answer cap); None when none does."""
        return next((length for length in self.caches if tokens <= length), None)

    def _one_token(self, token: torch.Tensor, position: torch.Tensor, cache: StaticCache):
        """token (1, 1), position (1, 1) -> logits (vocab,), experts (traced layers, k) of this position."""
        logits = self.copy(input_ids=token, position_ids=position, cache=cache, use_cache=True).logits[0, -1]
        experts = torch.stack(self.sink) if self.sink else torch.zeros(0, 0, dtype=torch.long)
        self.sink.clear()
        return logits, experts

    def step(self, token: int, position: int, cache: StaticCache) -> tuple[torch.Tensor, torch.Tensor]:
        """One compiled decode step: the token at `position` -> (logits (vocab,), experts (layers, k))."""
        token_ids = torch.tensor([[token]], device=self.device)
        positions = torch.tensor([[position]], device=self.device)
        return self._step(token_ids, positions, cache)

    def cache_for(self, tokens: int) -> StaticCache:
        """The bucket's cache, emptied, for a request needing `tokens` positions (bucket_for must have found one)."""
        cache = self.caches[self.bucket_for(tokens)]
        cache.reset()
        return cache

    def prefill(self, model: nn.Module, embeds: torch.Tensor, cache: StaticCache) -> torch.Tensor:
        """The prompt, eagerly through `model` (the original, so its router hooks trace the prompt): embeds
        (1, T, hidden) -> logits (vocab,) of the last position."""
        positions = torch.arange(embeds.shape[1], device=self.device)[None]        # (1, T)
        return model(inputs_embeds=embeds, position_ids=positions, cache=cache, use_cache=True).logits[0, -1]

    @torch.inference_mode()
    def warm_up(self) -> None:
        """Compile the step for every bucket on a stand-in prompt, then mark the decoder ready; a failure is logged
        and kept in `state`, and the eager path goes on serving."""
        try:
            for length, cache in self.caches.items():
                started = time.perf_counter()
                cache.reset()
                prompt = torch.ones(1, WARM_PROMPT_TOKENS, dtype=torch.long, device=self.device)
                embeds = self.copy.get_input_embeddings()(prompt)               # (1, T, hidden)
                self.prefill(self.copy, embeds, cache)
                self.sink.clear()                                               # the prompt's taps
                for position in range(WARM_PROMPT_TOKENS, WARM_PROMPT_TOKENS + WARM_STEPS):
                    self.step(1, position, cache)
                self.compile_seconds[length] = time.perf_counter() - started
                log.info("fast decode: %d-token bucket compiled in %.1f s", length, self.compile_seconds[length])
        except Exception as error:                 # the eager path keeps serving
            log.exception("fast decode warm-up failed")
            self.state = f"failed: {type(error).__name__}: {str(error)[:200]}"
            return
        self.state = "ready"
        self.ready.set()

    def start_warm_up(self) -> threading.Thread:
        """warm_up in a daemon thread (the page serves meanwhile)."""
        thread = threading.Thread(target=self.warm_up, name="fast-decode-warm-up", daemon=True)
        thread.start()
        return thread
