"""Hugging Face ZeroGPU: the pipeline's GPU work runs inside @spaces.GPU, with a duration sized per request.

On a ZeroGPU Space the `spaces` package is present and must be imported before torch; models are put on "cuda"
at start-up (ZeroGPU keeps them ready and attaches a GPU only while a decorated call runs). Anywhere else this
module does nothing and `spaces` is never imported (it is not a dependency).

Inside a decorated call the work runs in another process, so callables and threading.Event arguments (the Stop
flag, the step callback) cannot cross: there, Stop ends the answer when the GPU call returns, not mid-way.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Mapping

# seconds per unit of work, with head room; ZeroGPU refuses a call that outlasts its declared duration
SECONDS_PER_TOKEN = 0.12
SECONDS_PER_STEP = 1.5
BASE_SECONDS = 20
MAX_SECONDS = 300


def on_zero_gpu(environ: Mapping[str, str] | None = None) -> bool:
    """True on a Space (SPACE_ID) whose hardware is ZeroGPU (SPACES_ZERO_GPU), with the spaces package present."""
    env = os.environ if environ is None else environ
    zero = str(env.get("SPACES_ZERO_GPU", "")).strip().lower() in ("1", "true", "yes")
    return bool(env.get("SPACE_ID")) and zero and importlib.util.find_spec("spaces") is not None


def prepare(config, environ: Mapping[str, str] | None = None):
    """Before torch is imported: on ZeroGPU, import spaces and put every model on cuda. Returns the config to use."""
    if not on_zero_gpu(environ):
        return config
    import spaces  # noqa: F401 - must come before torch on ZeroGPU

    return dataclasses.replace(config, device="cuda") if config.device == "auto" else config


def _chat_seconds(*args, **kwargs) -> int:
    settings = kwargs.get("settings") or next((a for a in args if hasattr(a, "max_new_tokens")), None)
    tokens = getattr(settings, "max_new_tokens", 256)
    return min(MAX_SECONDS, int(BASE_SECONDS + tokens * SECONDS_PER_TOKEN) + 30)   # + a picture drawn from chat


def _draw_seconds(*args, **kwargs) -> int:
    settings = kwargs.get("settings") or next((a for a in args if hasattr(a, "steps")), None)
    steps, count = getattr(settings, "steps", 12), getattr(settings, "count", 1)
    return min(MAX_SECONDS, int(BASE_SECONDS + steps * count * SECONDS_PER_STEP))


def adopt(pipeline, environ: Mapping[str, str] | None = None) -> bool:
    """On ZeroGPU: load every role now (on cuda) and route chat/describe/draw through @spaces.GPU. Else False."""
    if not on_zero_gpu(environ):
        return False
    import spaces

    pipeline.preload()                                  # in the main process, before any GPU call forks
    chat, describe_image, describe_audio, draw = (pipeline.chat, pipeline.describe_image, pipeline.describe_audio,
                                                  pipeline.draw)

    @spaces.GPU(duration=_chat_seconds)
    def gpu_chat(text, files, history, settings, search=False):
        yield from chat(text, files, history, settings, **({"search": True} if search else {}))

    @spaces.GPU(duration=_chat_seconds)
    def gpu_describe_image(path, question, settings):
        yield from describe_image(path, question, settings)

    @spaces.GPU(duration=_chat_seconds)
    def gpu_describe_audio(path, question, settings):
        yield from describe_audio(path, question, settings)

    @spaces.GPU(duration=_draw_seconds)
    def gpu_draw(prompt, settings):
        return draw(prompt, settings)

    pipeline.chat = lambda text, files, history, settings, stop=None, search=False: gpu_chat(text, files, history,
                                                                                             settings, search)
    pipeline.describe_image = lambda path, question, settings, stop=None: gpu_describe_image(path, question, settings)
    pipeline.describe_audio = lambda path, question, settings, stop=None: gpu_describe_audio(path, question, settings)
    pipeline.draw = lambda prompt, settings, on_step=None, stop=None: gpu_draw(prompt, settings)
    return True
