"""Lazy, thread-safe loading of the profile's roles; a role that fails disables only the features that need it."""
from __future__ import annotations

import logging
import threading
from typing import Any

from .contracts import FeatureUnavailable
from .devices import resolve_device, resolve_dtype

log = logging.getLogger(__name__)
NEEDED_FOR = {"language_model": "chat and descriptions", "image_encoder": "reading pictures",
              "audio_encoder": "hearing sounds", "bridge": "pictures and sounds in the chat",
              "image_decoder": "drawing"}


class Components:
    def __init__(self, config):
        self.config = config
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self._loaded: dict[str, Any] = {}
        self._failed: dict[str, str] = {}
        self._locks = {role: threading.Lock() for role in NEEDED_FOR}

    def get(self, role: str) -> Any:
        """The loaded component; FeatureUnavailable naming the role, its source and why, if it cannot load."""
        if role in self._loaded:
            return self._loaded[role]
        with self._locks[role]:
            if role not in self._loaded and role not in self._failed:
                self._load(role)
        if role in self._failed:
            raise FeatureUnavailable(self._failed[role])
        return self._loaded[role]

    def load_all(self) -> None:
        for role in self.config.roles:
            try:
                self.get(role)
            except FeatureUnavailable:
                pass

    def status(self) -> dict[str, str]:
        states = {}
        for role in NEEDED_FOR:
            if role in self._loaded:
                states[role] = "ready"
            elif role in self._failed:
                states[role] = f"unavailable: {self._failed[role]}"
            elif role in self.config.roles:
                states[role] = "not loaded yet"
            else:
                states[role] = "unavailable: not configured in this profile"
        return states

    def _load(self, role: str) -> None:
        source = self.config.roles.get(role)
        if source is None:
            self._failed[role] = (f"{NEEDED_FOR[role].capitalize()} is off: the profile "
                                  f"'{self.config.profile}' names no {role}.")
            return
        try:
            self._loaded[role] = self._loader(role)(source)
            log.info("loaded %s from %s", role, source.source)
        except Exception as error:           # any failure disables this role only
            log.exception("could not load %s", role)
            self._failed[role] = (f"{NEEDED_FOR[role].capitalize()} is off: the {role} from '{source.source}' "
                                  f"did not load ({type(error).__name__}: {str(error)[:300]}).")

    def _loader(self, role: str):
        device, dtype = self.device, self.dtype
        if role == "language_model":
            from .language_model import LanguageModel
            return lambda s: LanguageModel.load(s.source, device, dtype, s.trust_remote_code,
                                                s.options.get("experts_implementation", "grouped_mm"))
        if role == "image_encoder":
            from .encoders.image import ImageEncoder
            return lambda s: ImageEncoder.load(s.source, device, dtype)
        if role == "audio_encoder":
            from .encoders.audio import AudioEncoder
            return lambda s: AudioEncoder.load(s.source, device, dtype)
        if role == "bridge":
            from .bridge import Bridge
            return lambda s: Bridge.load(s.source, device, dtype)
        from .image_decoder import ImageDecoder
        return lambda s: ImageDecoder.load(s.source, device, dtype)
