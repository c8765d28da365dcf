"""GPU options: --device cuda, bfloat16, --quantize int8|int4|fp8 where a library supports it on the device (a clear
stop where not), device_map across GPUs. On this CPU machine the stops are tested; `gpu` tests run where CUDA is."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modules import quantize
from modules.config import ConfigError, load_config
from modules.quantize import QuantizeUnavailable, _backend
from tests.tiny_checkpoints import tiny_suite, write_profiles

REPO = Path(__file__).resolve().parent.parent


def run_app(*args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIMOE_", "GRADIO_", "SPACE_ID"))}
    return subprocess.run([sys.executable, "app.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the stop is for machines without CUDA")
@pytest.mark.parametrize("args, words", [
    (["--device", "cuda"], ["--device", "'cuda' is not available", "available: ['cpu'"]),
    (["--quantize", "int4"], ["--quantize int4 is not supported", "CUDA", "--quantize none"]),
    (["--quantize", "fp8"], ["--quantize fp8", "8.9"]),
])
def test_an_option_this_machine_cannot_do_stops_start_up_with_a_reason(args, words):
    result = run_app("--profile", "mini", "--port", "7997", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_quantize_comes_from_flag_env_or_profile_and_is_checked(tmp_path):
    path = write_profiles(tmp_path / "p.yaml", {"p": {"language_model": {"source": "org/lm", "quantize": "int8"}}})
    assert load_config(["--config", str(path)], {}).quantize == "int8"
    assert load_config(["--config", str(path)], {"OMNIMOE_QUANTIZE": "fp8"}).quantize == "fp8"
    assert load_config(["--config", str(path), "--quantize", "none"], {"OMNIMOE_QUANTIZE": "fp8"}).quantize is None
    with pytest.raises(ConfigError, match=r"--quantize: 'int3' is not valid; valid choices: none, int8, int4, fp8"):
        load_config(["--config", str(path), "--quantize", "int3"], {})


@pytest.mark.parametrize("method, device, capability, installed, chosen", [
    ("int8", "cuda", (9, 0), {"bitsandbytes"}, "bitsandbytes"),
    ("int4", "cuda", (8, 0), {"bitsandbytes"}, "bitsandbytes"),
    ("int8", "cpu", None, {"torchao"}, "torchao"),
    ("fp8", "cuda", (9, 0), {"kernels"}, "fp8"),
    ("fp8", "cuda", (8, 9), {"torchao"}, "torchao"),
    ("int4", "cpu", None, {"torchao", "bitsandbytes"}, None),      # CPU int4: neither library does it here
    ("int4", "cuda", (9, 0), {"torchao", "mslk"}, "torchao"),
    ("int4", "cuda", (9, 0), {"torchao"}, None),                   # torchao's int4 weights need mslk's kernels
    ("fp8", "cuda", (8, 0), {"kernels", "torchao"}, None),         # an A100 has no FP8 units
    ("int8", "cpu", None, set(), None),
])
def test_each_method_goes_to_a_library_that_can_do_it_or_stops(monkeypatch, method, device, capability, installed,
                                                               chosen):
    monkeypatch.setattr(quantize, "_has", lambda package: package in installed)
    if chosen is None:
        with pytest.raises(QuantizeUnavailable) as error:
            _backend(method, device, capability)
        assert f"--quantize {method}" in str(error.value) and "needs" in str(error.value)
    else:
        assert _backend(method, device, capability) == chosen


def test_a_device_map_loads_the_language_model_through_accelerate(tmp_path_factory, monkeypatch):
    from transformers import AutoModelForCausalLM

    from modules.components import Components
    from modules.contracts import GenerationSettings
    from modules.language_model import GenerationStats

    asked, load = [], AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        lambda *args, **kwargs: asked.append(kwargs.get("device_map")) or load(*args, **kwargs))
    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite", roles=("language_model",))
    path = write_profiles(tmp_path_factory.mktemp("map") / "p.yaml", {"p": {
        "language_model": {"source": str(suite["language_model"]), "device_map": "auto"}, "device": "cpu"}})
    lm = Components(load_config(["--config", str(path)], {})).get("language_model")
    assert asked == ["auto"] and lm.device == torch.device("cpu")
    texts = list(lm.stream([{"role": "user", "content": "hi"}], GenerationSettings(max_new_tokens=4),
                           GenerationStats()))
    assert texts


@pytest.mark.gpu
def test_on_cuda_in_bfloat16_the_model_chats_and_reports_its_memory(tmp_path_factory):
    from modules.pipeline import Pipeline
    from modules.contracts import GenerationSettings

    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite", roles=("language_model",))
    path = write_profiles(tmp_path_factory.mktemp("cuda") / "p.yaml", {"p": {
        "language_model": {"source": str(suite["language_model"])}, "device": "cuda", "dtype": "bfloat16"}})
    pipeline = Pipeline(load_config(["--config", str(path)], {}))
    answer = list(pipeline.chat("hello", None, [], GenerationSettings(max_new_tokens=6)))[-1]
    lm = pipeline.components.get("language_model")
    assert answer.text and next(lm.model.parameters()).dtype == torch.bfloat16
    assert pipeline.components.memory()["language_model"] == sum(p.numel() * 2 for p in lm.model.parameters()) + \
        sum(b.numel() * b.element_size() for b in lm.model.buffers())


def test_on_zero_gpu_the_pipeline_runs_inside_spaces_gpu_with_durations_per_request(monkeypatch, tmp_path):
    """A stand-in `spaces` package (the real one exists only on Spaces): models go to cuda, each call is wrapped."""
    import importlib.machinery
    import types

    from modules import spaces_gpu
    from modules.contracts import DrawSettings, GenerationSettings

    durations, wrapped = [], []
    fake = types.ModuleType("spaces")
    fake.__spec__ = importlib.machinery.ModuleSpec("spaces", None)

    def gpu(duration):
        def decorate(fn):
            def run(*args, **kwargs):
                durations.append(duration(*args, **kwargs))
                return fn(*args, **kwargs)
            wrapped.append(fn.__name__)
            return run
        return decorate

    fake.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake)
    env = {"SPACE_ID": "org/studio", "SPACES_ZERO_GPU": "true"}
    assert not spaces_gpu.on_zero_gpu({"SPACE_ID": "org/studio"})          # a CPU Space: nothing changes
    path = write_profiles(tmp_path / "p.yaml", {"p": {"language_model": {"source": "org/lm"}}})
    config = load_config(["--config", str(path)], env)
    assert spaces_gpu.prepare(config, env).device == "cuda" and spaces_gpu.prepare(config, {}).device == "auto"

    class Pipe:
        preloaded = False

        def preload(self):
            self.preloaded = True

        def chat(self, text, files, history, settings, stop=None):
            yield f"chat:{text}:{stop}"

        def describe_image(self, path, question, settings, stop=None):
            yield "image"

        def describe_audio(self, path, question, settings, stop=None):
            yield "audio"

        def draw(self, prompt, settings, on_step=None, stop=None):
            return [prompt]

    pipe = Pipe()
    assert spaces_gpu.adopt(pipe, env) and pipe.preloaded
    import threading
    assert list(pipe.chat("hi", [], [], GenerationSettings(max_new_tokens=100), threading.Event())) == ["chat:hi:None"]
    assert pipe.draw("a cat", DrawSettings(steps=4, count=2), on_step=print) == ["a cat"]
    assert durations == [20 + 12 + 30, 20 + 12]                        # tokens x 0.12 s (+ a drawing); steps x 1.5 s
    assert sorted(wrapped) == ["gpu_chat", "gpu_describe_audio", "gpu_describe_image", "gpu_draw"]
