"""Turns what the pipeline raises into gr.Error messages a person can read; the app keeps serving."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from modules.contracts import FeatureUnavailable, InputError

log = logging.getLogger("omnimoe.ui")


def as_gr_error(exc: BaseException) -> gr.Error:
    """InputError / FeatureUnavailable keep their message; anything else becomes a short note (and a log entry)."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, (InputError, FeatureUnavailable)):
        return gr.Error(str(exc), print_exception=False)           # the person's to fix: no traceback in the log
    log.error("unexpected error in the studio", exc_info=exc)      # logged once here, not again by gradio
    message = f"Something went wrong: {type(exc).__name__}; the studio keeps running"
    return gr.Error(message, print_exception=False)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Wrap a handler's body (also a generator's) so every failure reaches the browser as a gr.Error."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - every failure must become a message, never a dead app
        raise as_gr_error(exc) from exc
