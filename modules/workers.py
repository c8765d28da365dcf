"""A worker with its own limit: long computations that are not answers (the diffusion decoder's drawings) run in
its threads, in the order they were asked for, while the request that asked only waits; a stop reaches a job still
waiting before it starts, and a running one through the stop flag the job itself watches at each step."""
from __future__ import annotations

import concurrent.futures
import os
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
DRAWINGS_AT_ONCE = 1     # the image decoder's diffusers pipeline draws one picture at a time (its state is shared)
WAIT_POLL_S = 0.05       # how often a waiting caller looks at its stop flag


class Worker:
    """`limit` threads named `name`; `run(job, stop)` queues `job` and waits for its result."""

    def __init__(self, name: str, limit: int = 1):
        if limit < 1:
            raise ValueError(f"a worker runs at least 1 job at a time; got limit={limit!r} for {name!r}")
        self.name, self.limit = name, limit
        self._pool, self._pid = None, None
        self._lock = threading.Lock()
        self.started = 0           # jobs that began computing (for tests and benches)
        self.skipped = 0           # jobs stopped before they began: they never computed

    def run(self, job: Callable[[], T], stop=None) -> T | None:
        """`job()`'s result, computed in one of this worker's threads; None when `stop` (anything with is_set())
        was set before the job began. A job that has begun runs until it returns: it must watch `stop` itself."""
        future = self._threads().submit(self._begin, job, stop)
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

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
