"""Launches the studio as a user would (`python app.py --port N`) for end-to-end tests; not a test module itself.

Test modules import the module-scoped fixture `studio_url` (one launch per module) and, where they need a
Pipeline in-process, `studio_argv()`. The tests run on the DEFAULT config (spaces.yaml → assets/mini, the trained
built-in models). While those are not there yet they are skipped, saying why. For development only,
OMNIMOE_TEST_CONFIG=/path/to/profiles.yaml runs them against another profiles file (e.g. small untrained models:
every code path runs, the content assertions fail). CI leaves OMNIMOE_TEST_CONFIG unset.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINI_MARKER = ROOT / "assets" / "mini" / "language_model" / "config.json"
TEST_CONFIG_VAR = "OMNIMOE_TEST_CONFIG"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def chosen_config() -> str | None:
    """The profiles file the tests run on instead of the default, or None (the default: spaces.yaml)."""
    return os.environ.get(TEST_CONFIG_VAR) or None


def studio_argv() -> list[str]:
    """Config flags for load_config / app.py: [] (the default profile) unless OMNIMOE_TEST_CONFIG is set."""
    config = chosen_config()
    return ["--config", config] if config else []


def skip_unless_models() -> None:
    """Skip the calling test/fixture while the trained built-in models are absent (and no test config is set)."""
    if chosen_config() is None and not MINI_MARKER.is_file():
        pytest.skip(f"the trained built-in models are not there yet ({MINI_MARKER.relative_to(ROOT)} is missing); "
                    f"train them (python -m modules.training.mini) or set {TEST_CONFIG_VAR}=profiles.yaml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log_path: Path, chars: int = 6000) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_studio(log_path: Path, extra_args: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free port; returns (process, base URL) once the page answers. Fails with the log."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    for name in ("OMNIMOE_CONFIG", "OMNIMOE_PROFILE", "OMNIMOE_HOST", "OMNIMOE_PORT"):
        env.pop(name, None)        # the tests decide these, not whatever the developer's shell holds
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *studio_argv(),
               *(extra_args or [])]
    log = open(log_path, "wb")     # a file, not a pipe: a chatty server can never block on a full pipe
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the studio exited with code {process.returncode} before serving; its log:\n"
                        f"{_log_tail(log_path)}", pytrace=False)
        if _answers(url + "/"):
            return process, url
        time.sleep(1.0)
    stop_studio(process)
    pytest.fail(f"the studio did not answer at {url}/ within {START_TIMEOUT_S:.0f} s; its log:\n{_log_tail(log_path)}",
                pytrace=False)


def stop_studio(process: subprocess.Popen) -> None:
    """Terminate the server we started and wait for it; kill it if it does not go."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


LOGS: dict[str, Path] = {}       # base URL -> the log file of the studio serving it (while it runs)


def studio_log(url: str) -> str:
    """Everything the studio serving `url` has printed so far (stdout and stderr)."""
    return LOGS[url].read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def studio_url() -> Iterator[str]:
    """The base URL of a studio launched for this test module (http://127.0.0.1:PORT), stopped afterwards;
    studio_log(url) reads what it prints."""
    skip_unless_models()
    with tempfile.TemporaryDirectory(prefix="omnimoe-e2e-") as folder:
        log_path = Path(folder) / "studio.log"
        process, url = start_studio(log_path)
        LOGS[url] = log_path
        try:
            yield url
        finally:
            stop_studio(process)
            LOGS.pop(url, None)
            if os.environ.get("OMNIMOE_TEST_SHOW_LOG"):
                print(f"\n--- studio log ---\n{_log_tail(log_path, 20000)}")


# ---- media from the built-in world (shared by the end-to-end tests) ----

RED_CIRCLE_LEFT = ("red", "circle", "large", "left")


def world_picture(path: Path, objects=(RED_CIRCLE_LEFT,), background: str = "white") -> Path:
    """A picture of the built-in world (default: a large red circle on the left, on white) saved as PNG."""
    from modules.world.pictures import Scene, SceneObject, render_scene

    render_scene(Scene(background, tuple(SceneObject(*o) for o in objects))).save(path, format="PNG")
    return path


def world_beeps(count: int = 3, pitch: str = "high", timbre: str = "pure", variation_seed: int = 5,
                rate: int = 16_000):
    """Samples (float32, shape (samples,)) of `count` beeps from the built-in world, synthesised at `rate`."""
    from modules.world.sounds import Sound, synthesize

    return synthesize(Sound("beeps", pitch, timbre, count, variation_seed=variation_seed), rate=rate)


def world_sound(path: Path, count: int = 3, rate: int = 16_000, channels: int = 1) -> Path:
    """`count` high pure beeps written as a WAV file at `rate` Hz with `channels` channels."""
    import numpy as np
    import soundfile as sf

    samples = world_beeps(count, rate=rate)                           # (samples,)
    if channels > 1:
        samples = np.stack([samples] * channels, axis=1)              # (samples, channels)
    sf.write(path, samples, rate)
    return path


CJK = "\u4e00-\u9fff"


def has_chinese(text: str) -> bool:
    import re

    return re.search(f"[{CJK}]", text) is not None


def studio_client(url: str):
    """A gradio_client Client for the studio whose repr is one line (pytest prints fixtures in failures)."""
    from gradio_client import Client

    class StudioClient(Client):
        def __repr__(self) -> str:
            return f"Client({self.src!r})"

        __str__ = __repr__

    return StudioClient(url, verbose=False)


@contextmanager
def studio_in_process(pipeline) -> Iterator:
    """The studio's page built around `pipeline` and served in this process on a free port, its OpenAI-compatible
    /v1 routes beside it as app.py serves them; yields a gradio_client Client for it (client.src is the base URL),
    and closes the page afterwards."""
    from gradio_client import Client

    from modules.api import api_app_kwargs
    from modules.ui import build_studio

    demo = build_studio(pipeline, pipeline.config)
    demo.queue()
    demo.launch(prevent_thread_lock=True, server_port=free_port(), ssr_mode=False, quiet=True,
                app_kwargs=api_app_kwargs(pipeline, pipeline.config))
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()
