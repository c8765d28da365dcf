"""The Inspector's memory table: what each loaded role takes (parameters, MB, device), from Pipeline.memory()."""
import subprocess
import sys
import types

import torch

from modules.config import load_config
from modules.pipeline import Pipeline
from modules.ui.charts import memory_markdown
from modules.ui.inspector_tab import render_memory
from modules.ui.texts import t

SAMPLE = {   # as Pipeline.memory() returns it on a GPU profile with a text bridge
    "language_model": {"parameters": 15_706_484_224, "bytes": 31_412_968_448, "device": "cuda:0"},
    "image_encoder": {"parameters": 638_450_000, "bytes": 1_276_900_000, "device": "cuda:0"},
    "bridge": {"parameters": 0, "bytes": 0, "device": "—"},
    "image_decoder": {"parameters": 12_345, "bytes": 24_690, "device": "cpu"},
}


def rows(markdown: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every body row of a Markdown table."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")][2:]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {c[0]: c[1:] for c in cells}


def test_table_shows_each_role_with_parameters_megabytes_and_device():
    table = rows(memory_markdown(SAMPLE, "empty"))
    assert table["language model"] == ["15.71 B", "31,413.0 MB", "cuda:0"]
    assert table["image encoder"] == ["638.45 M", "1,276.9 MB", "cuda:0"]
    assert table["bridge"] == ["0.00 M", "0.0 MB", "—"]                  # words, not weights
    assert table["image decoder"] == ["0.01 M", "<0.1 MB", "cpu"]        # small, but not shown as nothing
    assert table["**all loaded roles**"][:2] == ["16.34 B", "32,689.9 MB"]
    assert list(table)[:4] == ["language model", "image encoder", "bridge", "image decoder"]


def test_nothing_loaded_says_so():
    assert render_memory({}) == t("no_memory") and render_memory(None) == t("no_memory")
    assert "language model" in render_memory({"language_model": SAMPLE["language_model"]})


def test_pipeline_memory_counts_each_loaded_roles_weights_once(monkeypatch):
    shared = torch.nn.Linear(4, 4, bias=False).half()                   # 16 fp16 parameters = 32 bytes
    loaded = {
        "language_model": types.SimpleNamespace(model=torch.nn.Linear(10, 10), device=torch.device("cpu")),
        "bridge": types.SimpleNamespace(labels={"image": ["dog"]}),     # the text bridge: no weights, no device
        "image_decoder": types.SimpleNamespace(device=torch.device("cpu"), pipeline=types.SimpleNamespace(
            components={"unet": shared, "text_encoder": torch.nn.Sequential(shared), "scheduler": object()})),
    }
    pipeline = Pipeline(load_config(["--profile", "mini"], environ={}))
    monkeypatch.setattr(pipeline.components, "_loader", lambda role: lambda source: loaded[role])
    assert pipeline.memory() == {}                                      # nothing is loaded by asking
    for role in loaded:
        pipeline.components.get(role)
    assert pipeline.memory() == {
        "language_model": {"parameters": 110, "bytes": 440, "device": "cpu"},
        "bridge": {"parameters": 0, "bytes": 0, "device": "—"},
        "image_decoder": {"parameters": 16, "bytes": 32, "device": "cpu"},
    }
    assert rows(render_memory(pipeline.memory()))["language model"] == ["0.00 M", "<0.1 MB", "cpu"]


def test_the_ui_still_never_imports_torch():
    probe = "import sys, modules.ui, modules.ui.inspector_tab; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
