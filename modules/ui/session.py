"""Per-session stop switches: the Stop button, a cancelled event and a client that went away all set the
threading.Event that the running request passed to the pipeline as `stop`."""
from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import gradio as gr

# The stop Event of the request a `stops_when_cancelled` handler is running; `running()` hands it out.
_REQUEST_STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("request_stop", default=None)
_END = object()                      # a step past the generator's last item
CLOSE_RETRY_S = 0.05


def session_key(request: gr.Request | None, channel: str) -> str:
    """One key per browser session (or API client session) and per tab that can be stopped."""
    session = getattr(request, "session_hash", None) or f"anonymous-{uuid.uuid4().hex}"
    return f"{session}/{channel}"


class StopSwitches:
    """The stop Event of the request each session is running, so that a Stop click reaches it at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    @contextmanager
    def running(self, request: gr.Request | None, channel: str) -> Iterator[threading.Event]:
        """The request's Event (the one `stops_when_cancelled` made for it, else a fresh one); set on exit too, so
        an abandoned request stops its thread."""
        key, event = session_key(request, channel), _REQUEST_STOP.get() or threading.Event()
        with self._lock:
            self._events[key] = event
        try:
            yield event
        finally:
            event.set()
            with self._lock:
                if self._events.get(key) is event:
                    del self._events[key]

    def stop(self, request: gr.Request | None, channel: str) -> bool:
        """Set the session's running Event; False when nothing was running."""
        with self._lock:
            event = self._events.get(session_key(request, channel))
        if event is None:
            return False
        event.set()
        return True


def stops_when_cancelled(handler: Callable) -> Callable:
    """A Gradio handler (a function or a generator function) run in worker threads, one step at a time, from an
    async handler of the same signature. Gradio runs a plain sync handler's step to its end before a cancel or a
    lost client takes effect, so a long step (measuring a history, a whole drawing) ran on unseen. Here the
    cancel ends the wait at once and sets the request's stop Event, so the work ends at its next token or
    diffusion step; the abandoned step's thread then closes the generator, which releases what it holds."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        async def streamed(*args: Any, **kwargs: Any):
            stop, context = _request_context()
            steps = context.run(handler, *args, **kwargs)
            try:
                while (item := await anyio.to_thread.run_sync(context.run, next, steps, _END,
                                                              abandon_on_cancel=True)) is not _END:
                    yield item
            finally:
                stop.set()
                _close_when_free(steps)
        return streamed

    @functools.wraps(handler)
    async def called(*args: Any, **kwargs: Any):
        stop, context = _request_context()
        try:
            return await anyio.to_thread.run_sync(functools.partial(context.run, handler, *args, **kwargs),
                                                  abandon_on_cancel=True)
        finally:
            stop.set()
    return called


def _request_context() -> tuple[threading.Event, contextvars.Context]:
    """A fresh stop Event, and a copy of the current context in which `running()` finds it."""
    stop, context = threading.Event(), contextvars.copy_context()
    context.run(_REQUEST_STOP.set, stop)
    return stop, context


def _close_when_free(steps: Iterator) -> None:
    """Close a generator now, or (while an abandoned step still runs it) from a thread once that step ends."""
    try:
        steps.close()
    except ValueError:                      # "generator already executing": its stop is set, it ends soon
        threading.Thread(target=_close_after_step, args=(steps,), name="close-cancelled", daemon=True).start()


def _close_after_step(steps: Iterator) -> None:
    while True:
        try:
            steps.close()
            return
        except ValueError:
            time.sleep(CLOSE_RETRY_S)
