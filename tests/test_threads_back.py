"""A training stage takes back the threads it lent to the decoder beside it the step after the decoder ends."""
from __future__ import annotations

import multiprocessing
import time

import torch

from modules.training import threads_back


def test_threads_come_back_only_once_the_process_beside_has_ended():
    before = torch.get_num_threads()
    context = multiprocessing.get_context("spawn")
    beside = context.Process(target=time.sleep, args=(1.5,))
    beside.start()
    try:
        torch.set_num_threads(1)
        threads_back.lend_while_running(beside, before + 1)
        assert not threads_back.take_back_if_free()           # still running: this process keeps one thread
        assert torch.get_num_threads() == 1
        beside.join()
        assert threads_back.take_back_if_free()
        assert torch.get_num_threads() == before + 1
        assert not threads_back.take_back_if_free()           # given back once
    finally:
        beside.join()
        torch.set_num_threads(before)
