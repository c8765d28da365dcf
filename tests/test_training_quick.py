"""`mini train --quick` runs every stage, alone or data-parallel, and its output loads through the studio's own loaders,
like a hub checkpoint."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modules.config import load_config
from modules.contracts import DrawSettings, GenerationSettings
from modules.encoders.picture_stem import stem_of
from modules.pipeline import Pipeline
from modules.training.suite_config import EncoderStage

ROOT = Path(__file__).resolve().parents[1]


def train_quick(out: Path, processes: int) -> subprocess.CompletedProcess:
    """`mini train --quick`, as `python -m` or, for several processes, under torch's launcher (what `accelerate
    launch` runs on several GPUs; here on CPU processes that talk over gloo)."""
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
    run = subprocess.run([*launcher, "-m", "modules.training.mini", "train", "--quick", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    run = train_quick(out, processes=1)
    assert "picture-caption cleaning" in run.stdout and "removed" in run.stdout
    if torch.get_num_threads() >= 2:      # on a CPU with two cores or more, the decoder trains in a second process
        assert "stage decoder:" in run.stdout and "beside the language model" in run.stdout, run.stdout[-2000:]
        # it starts as soon as the picture and text towers are final: beside the audio stage, not after it
        assert run.stdout.index("decoder: training beside") < run.stdout.index("stage audio:"), run.stdout[-2000:]
        assert "unet" in (out / ".work" / "decoder.log").read_text()
    return out


@pytest.fixture(scope="module")
def parallel_suite(tmp_path_factory) -> Path:
    """Two data-parallel processes: each stage ends by checking that both hold the same weights (else it fails)."""
    out = tmp_path_factory.mktemp("mini-parallel")
    run = train_quick(out, processes=2)
    for stage in ("encoders", "places", "audio", "language", "questions", "grounding", "sounds", "decoder"):
        assert run.stdout.count(f"stage {stage}:") == 2, run.stdout[-2000:]     # both processes ran every stage
    return out


@pytest.fixture(params=["one process", "two processes"])
def trained_suite(request) -> Path:
    return request.getfixturevalue("quick_suite" if request.param == "one process" else "parallel_suite")


def weights_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.safetensors"))}


def test_the_audio_stage_trains_the_sound_tower_alone(quick_suite, tmp_path):
    """`--stage audio` on saved weights changes the sound tower and leaves every other role as it was."""
    out = tmp_path / "suite"
    shutil.copytree(quick_suite, out)
    (out / ".work" / "audio.safetensors").unlink()          # else the stage finds itself done and only saves
    before = {role: weights_of(out / role) for role in ("audio_encoder", "image_encoder", "bridge", "language_model")}
    run = subprocess.run([sys.executable, "-m", "modules.training.mini", "train", "--quick", "--stage", "audio",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "stage audio:" in run.stdout
    after = {role: weights_of(out / role) for role in before}
    assert after["audio_encoder"] != before["audio_encoder"]
    assert {role: after[role] for role in ("image_encoder", "bridge", "language_model")} == \
        {role: before[role] for role in ("image_encoder", "bridge", "language_model")}


def test_the_picture_stem_rests_in_the_joint_phase(quick_suite):
    """The stem's weights end the encoders stage as the shape phase left them; the tower's trunk moved on."""
    work = quick_suite / ".work"
    shape_phase, final = (load_file(str(work / name))
                          for name in ("encoders-shape-phase.safetensors", "encoders.safetensors"))
    stem = [key for key in shape_phase if key.startswith("model/clip/visual.conv1.")]
    trunk = [key for key in shape_phase if key.startswith("model/clip/visual.transformer.")]
    assert stem and trunk
    assert all(torch.equal(shape_phase[key], final[key]) for key in stem)
    assert not all(torch.equal(shape_phase[key], final[key]) for key in trunk)


def test_every_role_is_saved_in_its_library_format(quick_suite):
    assert (quick_suite / "language_model" / "config.json").exists()
    assert json.loads((quick_suite / "language_model" / "config.json").read_text())["model_type"] == "deepseek_v3"
    assert (quick_suite / "image_encoder" / "open_clip_config.json").exists()
    assert stem_of(quick_suite / "image_encoder") == EncoderStage().picture_stem     # rebuilt by the studio's loader
    assert (quick_suite / "image_decoder" / "model_index.json").exists()
    weights = [p for p in quick_suite.rglob("*") if p.suffix in (".bin", ".pth", ".pt", ".pkl")]
    assert not weights, f"pickled weights written: {weights}"
    assert list(quick_suite.rglob("*.safetensors"))


def test_the_studio_runs_on_the_trained_output(trained_suite, tmp_path):
    quick_suite = trained_suite
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


def test_the_sounds_phase_moves_only_the_bridge_s_sound_half(quick_suite, tmp_path):
    """What it trains on sounds cannot change a word the studio says about a picture or a chat without a sound."""
    import shutil

    import torch
    from accelerate import Accelerator
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from modules.training.suite_config import LanguageStage, SuiteConfig
    from modules.training.train_language import tune_sound_bridge

    suite_dir = tmp_path / "suite"
    shutil.copytree(quick_suite, suite_dir, ignore=shutil.ignore_patterns("sounds.safetensors"))
    before = {role: load_file(suite_dir / role / "model.safetensors") for role in ("language_model", "bridge")}
    suite = SuiteConfig(out_dir=suite_dir, work_dir=suite_dir / ".work",
                        language=LanguageStage(scenes=200, sounds=100, batch=4, sound_steps=3, sound_phase_sounds=100))
    tune_sound_bridge(suite, AutoTokenizer.from_pretrained(str(suite_dir / ".work" / "tokenizer")),
                      Accelerator(cpu=True))
    after = {role: load_file(suite_dir / role / "model.safetensors") for role in ("language_model", "bridge")}
    changed = {(role, name) for role in before for name, value in before[role].items()
               if not torch.equal(value, after[role][name])}
    assert changed, "the sounds phase trained nothing"
    assert {role for role, _ in changed} == {"bridge"}, sorted(changed)
    assert all(name.startswith("audio_") for _, name in changed), sorted(changed)


def test_stages_run_on_saved_models_read_text_with_the_saved_tokenizer(tmp_path):
    """`mini train --stage audio --stage sounds --out F` on a copy of the shipped models: a tokenizer retrained from
    today's corpus numbers its tokens otherwise, and fitting the bridge to those ids garbled every answer."""
    import dataclasses

    from transformers import AutoTokenizer

    from modules.training.mini import load_or_train_tokenizer
    from modules.training.suite_config import SuiteConfig

    shipped = ROOT / "assets" / "mini" / "language_model"
    shutil.copytree(shipped, tmp_path / "language_model", ignore=shutil.ignore_patterns("*.safetensors"))
    suite = dataclasses.replace(SuiteConfig(), out_dir=tmp_path, work_dir=tmp_path / ".work")
    tokenizer = load_or_train_tokenizer(suite, retrain=False)
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(str(shipped)).get_vocab()
    assert (tmp_path / ".work" / "tokenizer" / "tokenizer.json").exists()      # the stages after read it there
