"""The stop flag one request carries down to the token loop and the diffusion steps: set by its caller (the Stop
button, a cancelled or disconnected client) or by its deadline, whichever comes first."""
from __future__ import annotations

import threading
import time

import torch

from .contracts import InputError


class RequestTimedOut(InputError):
    """The request computed past its deadline (--request-timeout) and was stopped."""


class Interrupt:
    """Quacks like the caller's threading.Event (is_set) for the language model and the image decoder."""

    def __init__(self, stop: threading.Event | None, seconds: float):
        self.stop, self.seconds = stop, seconds
        self.ends_at = time.monotonic() + seconds

    def expired(self) -> bool:
        return time.monotonic() >= self.ends_at

    def is_set(self) -> bool:
        return (self.stop is not None and self.stop.is_set()) or self.expired()

    def raise_if_expired(self, what: str = "answer") -> None:
        """After a stop: the deadline, not the caller, ended the request -> RequestTimedOut saying so."""
        if self.expired() and not (self.stop is not None and self.stop.is_set()):
            raise RequestTimedOut(f"The {what} took longer than {self.seconds:g} s and was stopped; ask for a "
                                  "shorter one, or try again when the studio is less busy (the limit is "
                                  "--request-timeout).")


class StopWhenSet:
    """A transformers stopping criterion: ends generation at the next token once any of the events is set (None
    events are never set)."""

    def __init__(self, *events):
        self.events = [event for event in events if event is not None]

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        stopped = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stopped, dtype=torch.bool, device=input_ids.device)
