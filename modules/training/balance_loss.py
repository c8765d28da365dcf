"""DeepSeek-V3's complementary sequence-wise balance loss: keeps each sequence from crowding a few routed experts.

The balancing bias (moe_trace.update_balancing_bias) evens the load over whole batches, where picture and sound
prefix tokens are a large share; this small loss evens it inside every sequence, text-only ones included.
    P_i = mean over the sequence's tokens of s_i / sum_j s_j        (s = sigmoid of the router logits)
    f_i = experts / k * share of the sequence's tokens that chose expert i
    loss = mean over sequences and MoE layers of sum_i f_i * P_i    (1.0 when perfectly even)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RouterScores:
    """While attached, keeps each MoE router's logits (with gradients) and chosen experts from one forward pass."""

    def __init__(self, gates: dict[int, nn.Module]):
        self.gates = gates
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []     # per layer: logits (N, E), ids (N, k)
        self._handles = []

    def __enter__(self) -> "RouterScores":
        for gate in self.gates.values():
            self._handles.append(gate.register_forward_hook(self._keep))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _keep(self, _module, _inputs, output) -> None:
        logits, _weights, ids = output
        self.seen.append((logits, ids))

    def clear(self) -> None:
        self.seen.clear()


def sequence_balance_loss(seen: list[tuple[torch.Tensor, torch.Tensor]], token_mask: torch.Tensor) -> torch.Tensor:
    """token_mask (B, T) bool, True for real tokens; each logits (B*T, E), ids (B*T, k) -> scalar."""
    batch, length = token_mask.shape
    mask = token_mask.float().unsqueeze(-1)                                            # (B, T, 1)
    tokens = mask.sum(dim=1).clamp(min=1.0)                                            # (B, 1)
    losses = []
    for logits, ids in seen:
        experts, k = logits.shape[-1], ids.shape[-1]
        scores = logits.sigmoid()
        affinity = (scores / scores.sum(dim=-1, keepdim=True)).view(batch, length, experts)     # (B, T, E)
        chosen = F.one_hot(ids, experts).sum(dim=1).view(batch, length, experts).float()       # (B, T, E)
        share = (affinity * mask).sum(dim=1) / tokens                                   # P: (B, E)
        load = (chosen * mask).sum(dim=1) / tokens * (experts / k)                      # f: (B, E)
        losses.append((load * share).sum(dim=-1).mean())
    return torch.stack(losses).mean()
