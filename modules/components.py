"""Lazy, thread-safe loading of the profile's roles; a role that fails disables only the features that need it."""
from __future__ import annotations

import dataclasses
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

    def loaded(self, role: str) -> Any | None:
        """The component if it has loaded already, else None (loads nothing)."""
        return self._loaded.get(role)

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
            component = self._loader(role)(source)
            if role == "language_model":              # how the Think switch asks it to think (modules.thinking)
                from .thinking import control_for
                component.thinking = control_for(source, component)
            self._loaded[role] = component
            log.info("loaded %s from %s", role, source.source)
        except Exception as error:           # any failure disables this role only
            log.exception("could not load %s", role)
            self._failed[role] = (f"{NEEDED_FOR[role].capitalize()} is off: the {role} from '{source.source}' "
                                  f"did not load ({type(error).__name__}: {str(error)[:300]}).")

    def memory(self) -> dict[str, int]:
        """role -> bytes its loaded weights and buffers take (0 for a remote language model or the text bridge)."""
        return {role: component_bytes(component) for role, component in self._loaded.items()}

    def _loader(self, role: str):
        device = self.device
        source = self.config.roles.get(role)
        dtype = self.dtype          # a role may set its own, e.g. {source: …, dtype: bfloat16} to fit a CPU Space
        if source is not None and source.options.get("dtype"):
            dtype = resolve_dtype(source.options["dtype"], device)
        plain = _plain_source
        if role == "language_model":
            def load_lm(s):
                if s.kind == "openai":                    # another server generates: vLLM, SGLang, another studio
                    from .remote_lm import RemoteLanguageModel
                    return RemoteLanguageModel.load(s)
                if s.kind == "native":                    # one checkpoint reads pictures and sounds itself
                    from .native_lm import SPEECH_MAX_TOKENS, NativeLanguageModel
                    from .talker_stream import speech_streaming
                    return NativeLanguageModel.load(plain(s.source), device, dtype, s.options.get("revision"),
                                                    s.trust_remote_code,
                                                    s.options.get("speech_max_tokens", SPEECH_MAX_TOKENS),
                                                    speech_streaming(s.options))
                if self.config.quantize or s.options.get("device_map"):
                    from .quantize import load_language_model
                    return load_language_model(dataclasses.replace(s, source=plain(s.source)), device, dtype,
                                               self.config.quantize)
                from .language_model import LanguageModel
                return LanguageModel.load(plain(s.source), device, dtype, s.trust_remote_code,
                                          s.options.get("experts_implementation", "grouped_mm"),
                                          s.options.get("revision"))
            return load_lm
        if role == "image_encoder":
            from .encoders.image import ImageEncoder
            return lambda s: ImageEncoder.load(s.source, device, dtype, s.options.get("revision"))
        if role == "audio_encoder":                       # CLAP when the checkpoint says so, else the built-in kind
            from .encoders.audio import load_audio_encoder
            return lambda s: load_audio_encoder(plain(s.source), device, dtype, s.options.get("revision"))
        if role == "bridge":
            def load_bridge(s):
                if s.kind == "text":                      # captions and tags as words: no weights
                    from pathlib import Path

                    from .text_bridge import TextBridge
                    return TextBridge.from_options(s.options, Path(self.config.config_path).parent)
                from .bridge import Bridge
                return Bridge.load(plain(s.source), device, dtype, s.options.get("revision"))
            return load_bridge
        from .image_decoder import ImageDecoder
        return lambda s: ImageDecoder.load(plain(s.source), device, dtype, s.options.get("revision"))


def _plain_source(source: str) -> str:
    """from_pretrained takes a hub id or a folder: open_clip's "hf-hub:" / "local-dir:" prefixes are dropped."""
    for prefix in ("hf-hub:", "local-dir:"):
        if source.startswith(prefix):
            return source[len(prefix):]
    return source


def component_modules(component: Any) -> list:
    """Every torch module a loaded component holds, a diffusers pipeline's own modules included."""
    import torch

    modules = [v for v in vars(component).values() if isinstance(v, torch.nn.Module)]
    pipeline = getattr(component, "pipeline", None)
    if pipeline is not None and hasattr(pipeline, "components"):
        modules += [m for m in pipeline.components.values() if isinstance(m, torch.nn.Module)]
    return modules


def component_parameters(component: Any) -> int:
    """Parameters of the component's modules, a tensor shared between modules (tied weights) counted once."""
    return sum({id(p): p.numel() for module in component_modules(component) for p in module.parameters()}.values())


def component_bytes(component: Any) -> int:
    """Bytes of every torch module the component holds (parameters and buffers, each tensor counted once)."""
    seen, total = set(), 0
    for module in component_modules(component):
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.data_ptr() not in seen:
                seen.add(tensor.data_ptr())
                total += tensor.numel() * tensor.element_size()
    return total
