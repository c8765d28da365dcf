"""python -m modules.training.projector: a projector trained from a folder of captioned pictures lowers the caption
loss, saves in the bridge's own format, and a profile naming it reads pictures through the prefix again."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from modules.config import load_config
from modules.contracts import GenerationSettings
from modules.training.projector import main, read_captions
from tests.tiny_checkpoints import tiny_deepseek_v3_config, tiny_suite, write_profiles

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 220), "yellow": (240, 220, 30)}


@pytest.fixture(scope="module")
def marked_lm(tmp_path_factory) -> Path:
    """A tiny DeepSeek-V3 whose tokenizer has <|image|>/<|audio|> markers (as the built-in models do)."""
    from transformers import DeepseekV3ForCausalLM

    from modules.training.corpus import tokenizer_corpus
    from modules.training.tokenizer import train_tokenizer

    folder = tmp_path_factory.mktemp("marked-lm")
    tokenizer = train_tokenizer(tokenizer_corpus(0, 200), 400, 256)
    config = tiny_deepseek_v3_config(len(tokenizer), layers=2, context=256, bos=1, eos=2, pad=0,
                                     initializer_range=0.2)
    torch.manual_seed(0)
    DeepseekV3ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def captioned(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("captioned")
    rows = []
    for name, colour in COLOURS.items():
        Image.new("RGB", (40, 40), colour).save(folder / f"{name}.png")
        rows.append({"file_name": f"{name}.png", "text": f"a {name} square"})
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


def test_captions_are_read_from_metadata_or_beside_each_picture(captioned, tmp_path):
    assert [(p.name, c) for p, c in read_captions(captioned)][:2] == [("red.png", "a red square"),
                                                                      ("green.png", "a green square")]
    Image.new("RGB", (8, 8)).save(tmp_path / "dark.png")
    (tmp_path / "dark.txt").write_text("a dark square\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "uncaptioned.png")
    assert [(p.name, c) for p, c in read_captions(tmp_path)] == [("dark.png", "a dark square")]


def test_a_trained_projector_lowers_the_loss_and_brings_the_prefix_back(marked_lm, captioned, tmp_path_factory,
                                                                        tmp_path, capsys):
    from modules.pipeline import Pipeline

    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    profiles = write_profiles(tmp_path / "spaces.yaml", {"marked": {
        "language_model": {"source": str(marked_lm)}, "image_encoder": {"source": str(suite["image_encoder"])},
        "audio_encoder": {"source": str(suite["audio_encoder"])}, "device": "cpu"}})
    out = tmp_path / "bridge"
    assert main(["--profile", "marked", "--config", str(profiles), "--data", str(captioned), "--out", str(out),
                 "--steps", "60", "--batch", "4", "--lr", "1e-2"]) == 0
    printed = capsys.readouterr().out
    first, last = (float(x) for x in printed.split("(loss ")[1].split(",")[0].split(" -> "))
    assert last < 0.8 * first, printed
    assert {"config.json", "model.safetensors"} <= {p.name for p in out.iterdir()}

    profiles = write_profiles(tmp_path / "with-bridge.yaml", {"marked": {
        "language_model": {"source": str(marked_lm)}, "image_encoder": {"source": str(suite["image_encoder"])},
        "audio_encoder": {"source": str(suite["audio_encoder"])}, "bridge": {"kind": "prefix", "source": str(out)},
        "device": "cpu"}})
    pipeline = Pipeline(load_config(["--config", str(profiles)], {}))
    lm = pipeline.components.get("language_model")
    calls, stream = [], lm.stream
    lm.stream = lambda messages, settings, stats, kind=None, prefix=None, stop=None: (
        calls.append((messages[-1]["content"], kind, None if prefix is None else tuple(prefix.shape))) or
        stream(messages, settings, stats, kind, prefix, stop))
    list(pipeline.describe_image(str(captioned / "red.png"), "", GenerationSettings(max_new_tokens=4)))
    assert calls[-1] == ("<|image|>", "image", (4, 64))                # 4x4 CoCa queries pooled to 2x2, LM width
    import numpy as np
    import soundfile as sf
    sf.write(tmp_path / "tone.wav", (0.2 * np.sin(np.arange(16_000) / 5)).astype(np.float32), 16_000)
    list(pipeline.describe_audio(str(tmp_path / "tone.wav"), "", GenerationSettings(max_new_tokens=4)))
    assert calls[-1][1] is None and "sound events" in calls[-1][0]     # pictures only were trained: sounds as words
