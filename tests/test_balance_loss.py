"""The sequence-wise balance loss: 1 for an even sequence, more for a crowded one, and padding does not count."""
from __future__ import annotations

import torch

from modules.training.balance_loss import sequence_balance_loss

EXPERTS, K, LENGTH = 8, 2, 16


def _routing(crowded: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One sequence's router logits (LENGTH, EXPERTS) and top-k ids (LENGTH, K)."""
    if crowded:
        logits = torch.full((LENGTH, EXPERTS), -4.0)
        logits[:, :2] = 4.0
    else:
        logits = torch.zeros(LENGTH, EXPERTS)
    ids = logits.topk(K, dim=-1).indices if crowded else torch.arange(LENGTH * K).view(LENGTH, K) % EXPERTS
    return logits, ids


def test_an_evenly_routed_sequence_scores_one_and_a_crowded_one_far_more():
    mask = torch.ones(1, LENGTH, dtype=torch.bool)
    even = sequence_balance_loss([_routing(crowded=False)], mask)
    crowded = sequence_balance_loss([_routing(crowded=True)], mask)
    assert abs(even.item() - 1.0) < 1e-5
    assert crowded.item() > 3.5                    # two experts take every token: f = 4, P near 1/2 each


def test_the_gradient_lowers_the_crowded_experts_scores():
    logits, ids = _routing(crowded=True)
    logits.requires_grad_(True)
    sequence_balance_loss([(logits, ids)], torch.ones(1, LENGTH, dtype=torch.bool)).backward()
    assert (logits.grad[:, :2] > 0).all() and (logits.grad[:, 2:] < 0).all()


def test_padding_tokens_do_not_count():
    even_logits, even_ids = _routing(crowded=False)
    crowded_logits, crowded_ids = _routing(crowded=True)
    logits = torch.cat([even_logits, crowded_logits])              # a real even half, then crowded padding
    ids = torch.cat([even_ids, crowded_ids])
    mask = torch.cat([torch.ones(LENGTH), torch.zeros(LENGTH)]).bool().view(1, -1)
    assert abs(sequence_balance_loss([(logits, ids)], mask).item() - 1.0) < 1e-5
