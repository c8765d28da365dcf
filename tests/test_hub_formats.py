"""Checkpoints in each hub format (DeepSeek-V3 transformers LM, open_clip CoCa, transformers CLAP, diffusers Stable
Diffusion), tiny and random, made here: each loads through a profile (load_config → Components, the same code the
studio runs), from a local folder and, in a Hugging Face cache written by hand, from its hub id."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modules.config import load_config
from modules.contracts import GenerationSettings
from tests.tiny_checkpoints import HUB_IDS, IMAGE_LABELS, SOUND_LABELS, put_in_hub_cache, tiny_suite, write_profiles

REPO = Path(__file__).resolve().parent.parent
SHORT = GenerationSettings(max_new_tokens=6)


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    return tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")


@pytest.fixture(scope="module")
def components(suite, tmp_path_factory):
    from modules.components import Components

    path = write_profiles(tmp_path_factory.mktemp("profiles") / "spaces.yaml", {"hub": {
        **{role: {"source": str(folder)} for role, folder in suite.items()}, "device": "cpu", "dtype": "float32"}})
    return Components(load_config(["--config", str(path)], {}))


def test_a_deepseek_v3_checkpoint_made_elsewhere_loads_streams_and_records_experts(components):
    from modules.language_model import GenerationStats

    lm = components.get("language_model")
    assert type(lm.model).__name__ == "DeepseekV3ForCausalLM"
    assert lm.moe_layers == [1, 2] and lm.num_experts == 4
    assert not lm.supports_media("image")          # a hub chat model: no <|image|> marker, so the text bridge
    stats = GenerationStats()
    texts = list(lm.stream([{"role": "user", "content": "hello"}], GenerationSettings(max_new_tokens=8), stats))
    assert texts and stats.answer_tokens == 8 and len(stats.experts) == 8
    total, active = lm.parameter_counts()
    assert 0 < active < total


def test_a_coca_encoder_in_laion_layout_captions_and_tags(components):
    encoder = components.get("image_encoder")
    assert type(encoder.model).__name__ == "CoCa" and encoder.can_caption
    picture = Image.new("RGB", (40, 30), (220, 30, 30))
    caption = encoder.caption(picture, max_tokens=6)
    assert isinstance(caption, str) and caption
    assert caption == encoder.caption(picture, max_tokens=6)           # greedy: the same picture, the same words
    tags = encoder.tags(picture, IMAGE_LABELS, k=3)
    assert [label for label, _ in tags] != [] and all(label in IMAGE_LABELS for label, _ in tags)
    assert all(0 < p <= 1 for _, p in tags) and tags == sorted(tags, key=lambda t: -t[1])
    encoded = encoder.encode(picture)
    side = int(encoded.tokens.shape[0] ** 0.5)
    assert side * side == encoded.tokens.shape[0]                      # a square grid for a prefix bridge


def test_a_clap_checkpoint_is_recognised_by_its_config_and_tags_sounds(components):
    encoder = components.get("audio_encoder")
    assert type(encoder).__name__ == "ClapAudioEncoder" and encoder.model_rate == 48_000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)).astype(np.float32)   # 1 s at 16 kHz
    tags = encoder.tags(tone, SOUND_LABELS, k=4)
    assert len(tags) == 4 and all(label in SOUND_LABELS for label, _ in tags)
    assert abs(sum(p for _, p in encoder.tags(tone, SOUND_LABELS, k=len(SOUND_LABELS))) - 1) < 1e-4
    long = np.tile(tone, 14)                                           # 14 s: longer than CLAP's 10 s window
    first, again = encoder.encode(long), encoder.encode(long)
    assert np.allclose(first.embedding.numpy(), again.embedding.numpy())   # no random crop: repeatable


def test_a_stable_diffusion_pipeline_in_diffusers_layout_draws(components):
    decoder = components.get("image_decoder")
    steps = []
    picture = decoder.draw("a red circle", steps=2, guidance=1.0, seed=3, on_step=lambda s, n: steps.append(s))
    assert picture is not None and picture.size == (256, 256) and steps == [1, 2]


def test_the_inspector_can_show_the_memory_each_role_takes(components):
    for role in ("language_model", "image_encoder", "audio_encoder", "image_decoder"):
        components.get(role)
    memory = components.memory()
    lm = components.get("language_model")
    assert memory["language_model"] == sum(p.numel() * p.element_size() for p in lm.model.parameters()) + \
        sum(b.numel() * b.element_size() for b in lm.model.buffers())
    assert all(memory[role] > 0 for role in ("image_encoder", "audio_encoder", "image_decoder"))


HUB_SCRIPT = r"""
import json, sys
from modules.config import load_config
from modules.offline import missing_sources
from modules.pipeline import Pipeline
from modules.contracts import GenerationSettings, DrawSettings
config = load_config(["--config", sys.argv[1]])
assert all(not s.source.startswith("/") for s in config.roles.values() if s.kind != "text"), config.roles
result = {"missing": [m.repo_id for m in missing_sources(config)]}
pipeline = Pipeline(config)
pipeline.preload()
result["status"] = pipeline.status()
result["chat"] = list(pipeline.chat("hello", None, [], GenerationSettings(max_new_tokens=5)))[-1].text
result["describe"] = list(pipeline.describe_image(sys.argv[2], "", GenerationSettings(max_new_tokens=5)))[-1]
result["drawn"] = len(pipeline.draw("a red circle", DrawSettings(steps=1, seed=1)))
print("RESULT " + json.dumps(result))
"""


@pytest.mark.parametrize("branch", ["main", "v1"])
def test_hub_ids_load_offline_from_the_hugging_face_cache(suite, tmp_path, branch):
    """The same checkpoints named by hub id, in a cache laid out as a download leaves it, with HF_HUB_OFFLINE=1.
    With branch v1 the cache holds no main at all, so every role loads only if its `revision:` is passed on."""
    cache = tmp_path / "hub-cache"
    for role, repo_id in HUB_IDS.items():
        put_in_hub_cache(suite[role], repo_id, cache, branch=branch)
    pinned = {} if branch == "main" else {"revision": branch}
    roles = {role: {"source": repo_id, **pinned} for role, repo_id in HUB_IDS.items()}
    roles["language_model"]["source"] = "hf-hub:" + HUB_IDS["language_model"]     # either spelling of a hub id
    profiles = write_profiles(tmp_path / "spaces.yaml", {"hub": {**roles, "bridge": {"kind": "text"},
                                                                 "device": "cpu"}})
    picture = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (220, 30, 30)).save(picture)
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", HUB_SCRIPT, str(profiles), str(picture)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, result.stderr[-4000:]
    found = json.loads(line[len("RESULT "):])
    assert found["missing"] == []
    assert all(state == "ready" for state in found["status"].values()), found["status"]
    assert found["chat"] and found["describe"] and found["drawn"] == 1
