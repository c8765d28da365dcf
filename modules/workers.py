"""A worker with its own limit: long computations that are not answers (the diffusion decoder's drawings) run in
its threads, in the order they were asked for, while the request that asked only waits; a stop reaches a job still
waiting before it starts, and a running one through the stop flag the job itself watches at each step. Past its
waiting room a job is refused at once, with a message saying so."""
from __future__ import annotations

import concurrent.futures
import os
import threading
from typing import Callable, TypeVar

from .contracts import InputError

T = TypeVar("T")
DRAWINGS_AT_ONCE = 1     # the image decoder's diffusers pipeline draws one picture at a time (its state is shared)
DRAWINGS_WAITING = 3     # drawings that may wait for it; a chat that draws holds its request's slot meanwhile
WAIT_POLL_S = 0.05       # how often a waiting caller looks at its stop flag


class WorkerFull(InputError):
    """A worker already had as many jobs as it runs and lets wait."""


class Worker:
    """`limit` threads named `name`; `run(job, stop)` queues `job` and waits for its result. `waiting`: how many
    jobs may wait beside the running ones (None: any number); `noun`: what a job is, for the refusal's message."""

    def __init__(self, name: str, limit: int = 1, waiting: int | None = None, noun: str = "job"):
        if limit < 1:
            raise ValueError(f"a worker runs at least 1 job at a time; got limit={limit!r} for {name!r}")
        if waiting is not None and waiting < 0:
            raise ValueError(f"a worker's waiting room holds 0 or more jobs; got waiting={waiting!r} for {name!r}")
        self.name, self.limit, self.waiting, self.noun = name, limit, waiting, noun
        self._pool, self._pid = None, None
        self._lock = threading.Lock()
        self.in_hand = 0           # jobs running or waiting now
        self.started = 0           # jobs that began computing (for tests and benches)
        self.skipped = 0           # jobs stopped before they began: they never computed
        self.refused = 0           # jobs refused because the waiting room was full

    def run(self, job: Callable[[], T], stop=None) -> T | None:
        """`job()`'s result, computed in one of this worker's threads; None when `stop` (anything with is_set())
        was set before the job began. A job that has begun runs until it returns: it must watch `stop` itself.
        WorkerFull when `limit` jobs run and `waiting` more wait already."""
        self._take_a_place()
        future = self._threads().submit(self._begin, job, stop)
        future.add_done_callback(lambda _: self._count("in_hand", -1))
        while True:
            try:
                return future.result(timeout=WAIT_POLL_S)
            except concurrent.futures.TimeoutError:
                if stop is not None and not future.running() and stop.is_set() and future.cancel():
                    self._count("skipped")
                    return None

    def _threads(self) -> concurrent.futures.ThreadPoolExecutor:
        """This process's pool, made on first use (threads do not survive a fork: ZeroGPU runs calls in a child)."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = concurrent.futures.ThreadPoolExecutor(self.limit, thread_name_prefix=self.name)
                self._pid = os.getpid()
            return self._pool

    def _begin(self, job: Callable[[], T], stop) -> T | None:
        if stop is not None and stop.is_set():         # stopped while it waited for a thread
            self._count("skipped")
            return None
        self._count("started")
        return job()

    def _take_a_place(self) -> None:
        with self._lock:
            most = None if self.waiting is None else self.limit + self.waiting
            if most is not None and self.in_hand >= most:
                self.refused += 1
                raise WorkerFull(f"The studio is already making {self.limit} {self.noun}{'s' * (self.limit > 1)} "
                                 f"with {self.waiting} more waiting, its most ({most} at once); ask again when one "
                                 "is done.")
            self.in_hand += 1

    def _count(self, what: str, change: int = 1) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + change)
