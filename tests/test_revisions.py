"""`revision:` in a profile picks that revision's weights in every loader: a local Hugging Face cache holds two
revisions of each tiny checkpoint (main, and v2 with every weight doubled), and each role loaded by hub id with
`revision: v2` has the v2 weights, without it main's: the language model and its tokenizer, a native multimodal
checkpoint and its processor, the picture and sound encoders, the image decoder."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_checkpoints import put_in_hub_cache, tiny_suite, write_profiles
from tests.tiny_native import build_vl_moe

REPO = Path(__file__).resolve().parent.parent
HUB_IDS = {"language_model": "tiny-org/lm", "native": "tiny-org/vl-moe", "image_encoder": "tiny-org/coca",
           "audio_encoder": "tiny-org/clap", "image_decoder": "tiny-org/sd"}


def doubled(source: Path, target: Path) -> Path:
    """A copy of a checkpoint folder with every floating-point weight times 2 (same shapes, other numbers) and a
    tokenizer whose model_max_length is 777."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    for path in target.rglob("tokenizer_config.json"):
        settings = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps({**settings, "model_max_length": 777}), encoding="utf-8")
    for path in target.rglob("*.safetensors"):
        tensors = load_file(path)
        save_file({k: v * 2 if v.is_floating_point() else v for k, v in tensors.items()}, path,
                  metadata={"format": "pt"})
    return target


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("revisions")
    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    (root / "vl").mkdir()
    build_vl_moe(root / "vl")
    folders = {"language_model": suite["language_model"], "native": root / "vl",
               "image_encoder": suite["image_encoder"], "audio_encoder": suite["audio_encoder"],
               "image_decoder": suite["image_decoder"]}
    hub = root / "hub-cache"
    for role, folder in folders.items():
        put_in_hub_cache(folder, HUB_IDS[role], hub, branch="main")
        put_in_hub_cache(doubled(folder, root / f"{role}-v2"), HUB_IDS[role], hub, branch="v2")
    return hub


FINGERPRINT = r"""
import json, sys
from modules.components import Components, component_modules
from modules.config import load_config
components = Components(load_config(["--config", sys.argv[1], "--profile", sys.argv[2]]))
sums = {}
for role in ("language_model", "image_encoder", "audio_encoder", "image_decoder"):
    component = components.get(role)
    sums[role] = sum(float(p.double().abs().sum()) for m in component_modules(component) for p in m.parameters())
lm = components.get("language_model")
sums["tokenizer_max_length"] = lm.tokenizer.model_max_length
print("RESULT " + json.dumps(sums))
"""


def fingerprints(cache: Path, tmp_path: Path, lm: str, revision: str | None) -> dict:
    pinned = {"revision": revision} if revision else {}
    roles = {role: {"source": HUB_IDS[role], **pinned} for role in ("image_encoder", "audio_encoder", "image_decoder")}
    roles["language_model"] = {"source": HUB_IDS[lm], **pinned, **({"kind": "native"} if lm == "native" else {})}
    profiles = write_profiles(tmp_path / f"{lm}-{revision}.yaml", {"hub": {**roles, "bridge": {"kind": "text"},
                                                                          "device": "cpu", "dtype": "float32"}})
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", FINGERPRINT, str(profiles), "hub"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, result.stderr[-4000:]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("lm", ["language_model", "native"])
def test_each_loader_reads_the_revision_the_profile_names(cache, tmp_path, lm):
    main, v2 = fingerprints(cache, tmp_path, lm, None), fingerprints(cache, tmp_path, lm, "v2")
    for role in ("language_model", "image_encoder", "audio_encoder", "image_decoder"):
        assert v2[role] == pytest.approx(2 * main[role], rel=1e-4), (role, main[role], v2[role])
    # the tokenizer (a native model's: its processor's) comes from the same revision as the weights
    assert main["tokenizer_max_length"] == 1024 and v2["tokenizer_max_length"] == 777
