"""A few Adam steps on an auxiliary head's loss, for tests that check what a head can learn."""
from __future__ import annotations

from typing import Callable

import torch


def fit(module: torch.nn.Module, loss_of: Callable[[], torch.Tensor], steps: int, lr: float = 0.1) -> None:
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_of()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
