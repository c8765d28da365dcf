"""The picture tower's convolutional stem: trained, saved in the open_clip folder, and read back by the studio."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from transformers import AutoTokenizer

from modules.encoders.image import ImageEncoder
from modules.encoders.picture_stem import ConvStem, StemConfig, load_open_clip, stem_of
from modules.training.augment import picture_to_tensor
from modules.training.suite_config import EncoderStage
from modules.training.train_encoders import build_clip, open_clip_config, save_image_encoder, stage_for_saved_tower

MINI = Path(__file__).resolve().parents[1] / "assets" / "mini"
SMALL_STEM = EncoderStage(image_size=64, patch_size=16, picture_stem=StemConfig(channels=(8, 16)), vision_width=32,
                          vision_layers=1, text_width=32, text_layers=1, embed_dim=16)


def star_on_paper(side: int) -> Image.Image:
    image = Image.new("RGB", (side, side), (240, 240, 240))
    ImageDraw.Draw(image).regular_polygon((side / 2, side / 2, side / 4), 5, fill=(200, 30, 40))
    return image


@pytest.fixture(scope="module")
def saved_stem_tower(tmp_path_factory):
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(MINI / "image_encoder"))
    clip = build_clip(SMALL_STEM, len(tokenizer)).eval()
    out = tmp_path_factory.mktemp("stem")
    save_image_encoder(clip, SMALL_STEM, tokenizer, out)
    return clip, out / "image_encoder"


def test_the_studio_sees_a_picture_as_the_trained_stem_tower_does(saved_stem_tower):
    clip, folder = saved_stem_tower
    picture = star_on_paper(SMALL_STEM.image_size)
    with torch.no_grad():
        trained = F.normalize(clip.visual(picture_to_tensor(picture)[None]), dim=-1)[0]       # (embed_dim,)
    studio = ImageEncoder.load(str(folder), torch.device("cpu"), torch.float32).encode(picture)
    assert isinstance(clip.visual.conv1, ConvStem)
    assert stem_of(folder) == SMALL_STEM.picture_stem
    assert torch.allclose(studio.embedding, trained, atol=1e-5)
    assert studio.tokens.shape[0] == (SMALL_STEM.image_size // SMALL_STEM.patch_size) ** 2


def test_a_stock_open_clip_folder_loads_without_a_stem():
    model, _ = load_open_clip(MINI / "image_encoder")
    assert stem_of(MINI / "image_encoder") is None
    assert isinstance(model.visual.conv1, torch.nn.Conv2d)


def test_an_unknown_stem_setting_is_named(saved_stem_tower, tmp_path):
    _, folder = saved_stem_tower
    config = json.loads((folder / "open_clip_config.json").read_text())
    config["picture_stem"]["kernel"] = 5
    (tmp_path / "open_clip_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"unknown picture_stem settings \['kernel'\]; valid: \['channels'\]"):
        stem_of(tmp_path)


def test_a_patch_a_stem_cannot_cover_is_refused():
    with pytest.raises(ValueError, match="multiple of 4 and at least 8.*got 6"):
        ConvStem(StemConfig(), width=32, patch_size=6)


def test_a_tower_saved_before_the_stem_is_saved_back_as_it_was():
    """A later stage (the places phase) that trains the saved tower and saves it again writes the folder's own
    architecture, not the recipe's current defaults: the shipped 64 px tower stays a stock open_clip folder."""
    folder = MINI / "image_encoder"
    shipped = json.loads((folder / "open_clip_config.json").read_text())
    stage = stage_for_saved_tower(EncoderStage(), folder)
    assert EncoderStage().picture_stem is not None and stage.picture_stem is None
    assert open_clip_config(stage, shipped["model_cfg"]["text_cfg"]["vocab_size"]) == shipped
