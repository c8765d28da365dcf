"""Per-session stop switches: the Stop button sets the threading.Event that the running request passed as `stop`."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr


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
        """A fresh Event for one request; set on exit too, so an abandoned (cancelled) request stops its thread."""
        key, event = session_key(request, channel), threading.Event()
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
