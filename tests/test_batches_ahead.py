"""Batches made ahead in a worker process are the very batches made in turn, drawn from the same random state."""
import os
import random

import torch

from modules.training.batches_ahead import batches_ahead


def drawing_batches(seed: int):
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)

    def make(step: int) -> tuple[int, list[int], torch.Tensor, int]:
        return step, [rng.randrange(1000) for _ in range(4)], torch.rand(3, generator=generator), os.getpid()

    return make


def test_a_worker_makes_the_same_batches_in_the_same_order_as_making_them_in_turn():
    in_turn = list(batches_ahead(drawing_batches(7), range(3, 9), in_worker=False))
    ahead = list(batches_ahead(drawing_batches(7), range(3, 9), in_worker=True))
    assert [b[0] for b in ahead] == [3, 4, 5, 6, 7, 8]
    assert [b[1] for b in ahead] == [b[1] for b in in_turn]
    assert all(torch.equal(a[2], b[2]) for a, b in zip(ahead, in_turn))
    assert {b[3] for b in in_turn} == {os.getpid()}
    assert os.getpid() not in {b[3] for b in ahead}           # made in another process


def test_no_steps_make_no_batches():
    assert list(batches_ahead(drawing_batches(1), range(5, 5))) == []


def test_making_batches_ahead_leaves_torch_global_random_state_as_it_was():
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    list(batches_ahead(drawing_batches(1), range(2)))
    assert torch.equal(torch.rand(2), expected)
