"""The picture encoder's auxiliary loss: each region's patches, and what the object there is."""
from __future__ import annotations

import torch

from modules.training.attribute_heads import CLASSES, REGIONS, RegionAttributeHeads, region_targets, region_weights
from modules.world.pictures import Scene, SceneObject
from tests.fitting import fit


def test_each_region_reads_only_the_patches_around_its_place():
    weights = region_weights(8).reshape(len(REGIONS), 8, 8)          # (regions, rows, columns)
    assert torch.allclose(weights.sum(dim=(1, 2)), torch.ones(len(REGIONS)))
    left, right = weights[REGIONS.index("left")], weights[REGIONS.index("right")]
    top, bottom = weights[REGIONS.index("top")], weights[REGIONS.index("bottom")]
    assert left[:, 4:].sum() == 0 and left[:, :4].sum() == 1           # nothing from the right half
    assert torch.equal(right, left.flip(-1))                           # mirror images of each other
    assert top[4:].sum() == 0 and torch.equal(bottom, top.flip(0))


def test_targets_name_the_object_in_each_region_and_none_elsewhere():
    scene = Scene("white", (SceneObject("red", "star", "small", "left"), SceneObject("blue", "circle", "large", "top")))
    shapes = region_targets([scene], "shape")[0].tolist()
    expected = {"left": "star", "top": "circle"}
    assert [CLASSES["shape"][k] for k in shapes] == [expected.get(r, "none") for r in REGIONS]
    assert CLASSES["color"][region_targets([scene.mirrored()], "color")[0][REGIONS.index("right")]] == "red"


def test_the_loss_falls_when_the_patches_say_what_is_there():
    """Patch tokens that carry the shape one-hot in the left region can be read by the heads; random ones cannot."""
    torch.manual_seed(0)
    shapes = ["circle", "square", "triangle", "star"]
    scenes = [Scene("white", (SceneObject("red", s, "small", "left"),)) for s in shapes]
    informative = torch.zeros(4, 64, 16)
    left = region_weights(8)[REGIONS.index("left")] > 0
    for k in range(4):
        informative[k][left, k] = 1.0
    heads = RegionAttributeHeads(16, region_weights(8))
    fit(heads, lambda: heads.loss(informative, scenes), steps=200)
    assert heads.loss(informative, scenes).item() < 0.05
    assert heads.loss(torch.randn(4, 64, 16), scenes).item() > 0.5
