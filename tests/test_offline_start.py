"""Offline start-up: a profile whose hub checkpoints are not all in the local cache stops within 30 s with exit code
2, naming every missing source and the commands that fetch them; a complete cache starts."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny_checkpoints import put_in_hub_cache, tiny_suite, write_profiles

REPO = Path(__file__).resolve().parent.parent
MISSING = {"language_model": "deepseek-ai/DeepSeek-V2-Lite-Chat",
           "image_encoder": "laion/mscoco_finetuned_CoCa-ViT-L-14-laion2B-s13B-b90k",
           "audio_encoder": "laion/larger_clap_general",
           "image_decoder": "stabilityai/sd-turbo"}


def run(args: list[str], cache: Path, extra_env: dict | None = None, timeout: float = 60):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIMOE_", "HF_", "GRADIO_", "SPACE_ID"))}
    env.update({"HF_HUB_CACHE": str(cache), "HF_HOME": str(cache.parent / "hf-home"), **(extra_env or {})})
    started = time.monotonic()
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=timeout)
    return result, time.monotonic() - started


@pytest.fixture
def hub_profile(tmp_path):
    roles = {role: {"source": repo} for role, repo in MISSING.items()}
    roles["bridge"] = {"source": str(tmp_path / "no-such-bridge-folder"), "kind": "prefix"}   # local: not a hub id
    return write_profiles(tmp_path / "spaces.yaml", {"hub-gpu": {**roles, "device": "cpu"}})


def test_offline_stop_names_every_missing_source_and_how_to_fetch_it(hub_profile, tmp_path):
    result, seconds = run(["app.py", "--config", str(hub_profile), "--port", "7999"], tmp_path / "empty-cache",
                          {"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert seconds < 30, f"the stop took {seconds:.1f} s"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    message = result.stderr
    for role, repo in MISSING.items():
        assert f"{role}: {repo}" in message, message
        assert f"hf download {repo} " in message, message
    assert "no-such-bridge-folder" not in message                # a local folder is not a download
    assert "python -m modules.offline --profile hub-gpu" in message and "--download" in message
    assert message.startswith("error: ") and "HF_HUB_OFFLINE" in message
    assert '--exclude "*.fp16.safetensors"' in message               # the decoder's command skips half variants


def test_without_network_the_same_stop_happens_without_HF_HUB_OFFLINE(hub_profile, tmp_path):
    """No HF_HUB_OFFLINE, but the hub does not answer (an endpoint on a closed local port)."""
    result, seconds = run(["app.py", "--config", str(hub_profile)], tmp_path / "empty-cache",
                          {"HF_ENDPOINT": "https://127.0.0.1:9"})
    assert result.returncode == 2 and seconds < 30 and "Traceback" not in result.stderr
    assert all(repo in result.stderr for repo in MISSING.values()), result.stderr


def test_a_partial_cache_names_only_what_is_missing_and_a_full_one_passes(tmp_path_factory, tmp_path):
    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    cache = tmp_path / "cache"
    put_in_hub_cache(suite["language_model"], "acme/lm-complete", cache)
    put_in_hub_cache(suite["image_encoder"], "acme/coca-no-weights", cache,
                     skip=("open_clip_pytorch_model.safetensors",))              # an interrupted download
    put_in_hub_cache(suite["image_decoder"], "acme/sd-no-unet", cache,
                     skip=("unet/diffusion_pytorch_model.safetensors",))
    profiles = write_profiles(tmp_path / "spaces.yaml", {
        "partial": {"language_model": {"source": "acme/lm-complete"},
                    "image_encoder": {"source": "hf-hub:acme/coca-no-weights"},
                    "image_decoder": {"source": "acme/sd-no-unet"}},
        "complete": {"language_model": {"source": "acme/lm-complete"}}})
    result, _ = run(["-m", "modules.offline", "--config", str(profiles), "--profile", "partial"], cache,
                    {"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "acme/lm-complete" not in result.stdout
    assert "image_encoder: acme/coca-no-weights (missing: safetensors weights)" in result.stdout
    assert "image_decoder: acme/sd-no-unet (missing: unet: safetensors weights)" in result.stdout

    result, _ = run(["-m", "modules.offline", "--config", str(profiles), "--profile", "complete"], cache,
                    {"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0 and "every hub checkpoint is in the local cache" in result.stdout
