"""Threads lent to a process training beside this one (the decoder, on a CPU) come back the step after it ends.

mini.DecoderBeside halves this process's threads while the decoder trains in a second process. The decoder often
ends in the middle of a language-model stage; until this module, that stage kept one thread to its last step (in one
run, grounding ran about 13 minutes so). Each training loop that can run beside the decoder calls
take_back_if_free() once a step: a cheap check of whether the process has exited.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Lent:
    """Threads this process gave up while `process` (a multiprocessing.Process) runs."""

    process: object
    threads_before: int


_lent: list[Lent] = []


def lend_while_running(process, threads_before: int) -> None:
    """Remember to set this process back to `threads_before` threads once `process` has ended."""
    _lent.append(Lent(process, threads_before))


def take_back_if_free() -> bool:
    """If a process that threads were lent to has ended, take them back; whether they were taken back now."""
    ended = [lent for lent in _lent if not lent.process.is_alive()]
    for lent in ended:
        _lent.remove(lent)
        torch.set_num_threads(lent.threads_before)
        print(f"threads: the process beside has ended; back to {lent.threads_before} threads here")
    return bool(ended)
