"""The forward passes of one answer, apart from its sampling: eager with a dynamic cache (the reference path), or
the fast path (static cache bucket, prompt prefilled eagerly, then the compiled one-token step of fast_decode).

Both give the same interface to the sampling loop of modules.language_model: `first(embeds)` and `next(token)` return
the logits (vocab,) of the position just computed, and `experts()` the routed experts that position chose per MoE
layer, so sampling, stopping and the trace are one piece of code whichever path runs.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache

from .fast_decode import FastDecoder
from .moe_trace import ExpertRecorder


def experts_of_last_position(recorder: ExpertRecorder, layers: list[int]) -> list[list[int]]:
    """[moe layer] -> expert ids the router hooks saw chosen at the last position of the latest forward."""
    return [recorder.calls[i][-1][-1].tolist() if recorder.calls[i] else [] for i in layers]


class EagerSteps:
    """Every forward eager on the model as loaded, a DynamicCache, the experts from the router hooks."""

    def __init__(self, model, recorder: ExpertRecorder, layers: list[int], device: torch.device):
        self.model, self.recorder, self.layers, self.device = model, recorder, layers, device
        self.cache = DynamicCache(config=model.config)

    def first(self, embeds: torch.Tensor) -> torch.Tensor:
        """embeds (1, T, hidden) -> logits (vocab,) of the prompt's last position."""
        self.recorder.clear()
        return self.model(inputs_embeds=embeds, cache=self.cache, use_cache=True).logits[0, -1]

    def next(self, token: int) -> torch.Tensor:
        """The token just chosen -> logits (vocab,) of the position after it."""
        self.recorder.clear()
        return self.model(input_ids=torch.tensor([[token]], device=self.device), cache=self.cache,
                          use_cache=True).logits[0, -1]

    def experts(self) -> list[list[int]]:
        return experts_of_last_position(self.recorder, self.layers)


class FastSteps:
    """The prompt eagerly into the bucket's static cache (the router hooks trace it), then one compiled step per
    token, whose own output carries the experts chosen."""

    def __init__(self, model, recorder: ExpertRecorder, layers: list[int], decoder: FastDecoder, positions: int):
        """positions: the cache positions the answer may need (prompt + answer cap), within decoder's buckets."""
        self.model, self.recorder, self.layers, self.decoder = model, recorder, layers, decoder
        self.cache = decoder.cache_for(positions)
        self.position = 0
        self.chosen: torch.Tensor | None = None        # (layers, k) of the latest compiled step; None after prefill

    def first(self, embeds: torch.Tensor) -> torch.Tensor:
        self.recorder.clear()
        self.position = embeds.shape[1]
        return self.decoder.prefill(self.model, embeds, self.cache)

    def next(self, token: int) -> torch.Tensor:
        logits, self.chosen = self.decoder.step(token, self.position, self.cache)
        self.position += 1
        return logits

    def experts(self) -> list[list[int]]:
        if self.chosen is None:
            return experts_of_last_position(self.recorder, self.layers)
        return self.chosen.tolist()
