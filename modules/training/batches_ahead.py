"""Training batches made in a worker process, a few steps ahead, while the model trains on the ones before."""
from __future__ import annotations

import multiprocessing
from typing import Callable, Iterator, TypeVar

import torch
from torch.utils.data import DataLoader, IterableDataset

Batch = TypeVar("Batch")


class _StepBatches(IterableDataset):
    """make(step) for each step of `steps`, in order."""

    def __init__(self, make: Callable[[int], Batch], steps: range):
        super().__init__()
        self.make, self.steps = make, steps

    def __iter__(self) -> Iterator[Batch]:
        return (self.make(step) for step in self.steps)


def _as_made(batch: Batch) -> Batch:
    return batch


def batches_ahead(make: Callable[[int], Batch], steps: range, in_worker: bool = True, ahead: int = 2
                  ) -> Iterator[Batch]:
    """make(step) for each step of `steps`, in order.

    With in_worker (and where processes can fork), one forked worker process makes them, up to `ahead` batches
    ahead, on one thread: drawing pictures and sounds is Python work that otherwise waits for the model's step and
    leaves a core idle. The worker starts as a copy of this process, its random generators included, and nothing
    else draws from them, so the batches are the very ones made here in turn. `make` must leave its tensors on the
    CPU (a forked worker must not touch a GPU) and must not rely on state this process changes later."""
    if not in_worker or "fork" not in multiprocessing.get_all_start_methods():
        return (make(step) for step in steps)
    # the loader draws its workers' seeds from a generator of its own, not from torch's global one, which this
    # process keeps drawing from as it would without a worker
    loader = DataLoader(_StepBatches(make, steps), batch_size=None, num_workers=1, prefetch_factor=ahead,
                        collate_fn=_as_made, multiprocessing_context="fork", generator=torch.Generator())
    return iter(loader)
