"""`mini train --quick` runs every stage and its output loads through the studio's own loaders, like a hub checkpoint."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from modules.config import load_config
from modules.contracts import DrawSettings, GenerationSettings
from modules.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    run = subprocess.run([sys.executable, "-m", "modules.training.mini", "train", "--quick", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "picture-caption cleaning" in run.stdout and "removed" in run.stdout
    return out


def test_every_role_is_saved_in_its_library_format(quick_suite):
    assert (quick_suite / "language_model" / "config.json").exists()
    assert json.loads((quick_suite / "language_model" / "config.json").read_text())["model_type"] == "deepseek_v3"
    assert (quick_suite / "image_encoder" / "open_clip_config.json").exists()
    assert (quick_suite / "image_decoder" / "model_index.json").exists()
    weights = [p for p in quick_suite.rglob("*") if p.suffix in (".bin", ".pth", ".pt", ".pkl")]
    assert not weights, f"pickled weights written: {weights}"
    assert list(quick_suite.rglob("*.safetensors"))


def test_the_studio_runs_on_the_trained_output(quick_suite, tmp_path):
    yaml = tmp_path / "spaces.yaml"
    yaml.write_text(f"""default_profile: quick
profiles:
  quick:
    language_model: {{source: {quick_suite / 'language_model'}}}
    image_encoder:  {{source: "local-dir:{quick_suite / 'image_encoder'}"}}
    audio_encoder:  {{source: {quick_suite / 'audio_encoder'}}}
    bridge:         {{kind: prefix, source: {quick_suite / 'bridge'}}}
    image_decoder:  {{source: {quick_suite / 'image_decoder'}}}
""")
    pipeline = Pipeline(load_config(["--config", str(yaml)], {}))
    pipeline.preload()
    assert set(pipeline.status().values()) == {"ready"}
    events = list(pipeline.chat("hello", [], [], GenerationSettings(max_new_tokens=5)))
    assert events[-1].done and pipeline.last_trace()["answer_tokens"] <= 5
    steps = []
    pictures = pipeline.draw("a red circle", DrawSettings(steps=3, seed=1), on_step=lambda s, t: steps.append((s, t)))
    assert steps == [(1, 3), (2, 3), (3, 3)] and pictures[0].seed == 1 and pictures[0].image.size == (256, 256)
