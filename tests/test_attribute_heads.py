"""The picture encoder's auxiliary loss: each region's patches, and what the object there is."""
from __future__ import annotations

import torch

from modules.training.attribute_heads import CLASSES, REGIONS, RegionAttributeHeads, region_targets, region_weights
from modules.training.world_pictures import Scene, SceneObject


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
    heads = RegionAttributeHeads(16, 8)
    optimizer = torch.optim.Adam(heads.parameters(), lr=0.1)
    for _ in range(200):
        loss = heads.loss(informative, scenes)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert heads.loss(informative, scenes).item() < 0.05
    assert heads.loss(torch.randn(4, 64, 16), scenes).item() > 0.5


def test_the_bridge_cells_of_the_mini_suite_are_the_regions_the_heads_were_trained_on():
    """Each of the five places reaches the language model as one prefix cell holding exactly its head's patches."""
    from modules.bridge_model import PrefixBridge, PrefixBridgeConfig
    from modules.training.suite_config import LanguageStage
    bridge = PrefixBridge(PrefixBridgeConfig(image_grid=8, image_pool=2,
                                             image_pool_margin=LanguageStage().image_pool_margin))
    patches = torch.randn(1, 64, 16)                                                   # (B, grid², width)
    cells = bridge.pool_patches(patches)[0]                                            # (cells², width)
    heads_view = region_weights(8) @ patches[0]                                        # (regions, width)
    where = {"top": 1, "left": 3, "center": 4, "right": 5, "bottom": 7}                # row-major in the 3x3 cells
    for k, region in enumerate(REGIONS):
        assert torch.allclose(cells[where[region]], heads_view[k], atol=1e-6), region


def test_a_new_bridge_gives_every_prefix_place_its_own_vector():
    """Before training, each cell (and each sound token) already differs from every other, so the language model
    can tell which place a token came from without counting its distance."""
    import torch.nn.functional as F

    from modules.bridge_model import PrefixBridge, PrefixBridgeConfig
    bridge = PrefixBridge(PrefixBridgeConfig(image_grid=8, image_pool=2, image_pool_margin=1))
    for positions in (bridge.image_positions, bridge.audio_positions):
        unit = F.normalize(positions.detach(), dim=-1)
        similarity = unit @ unit.T - torch.eye(len(unit))
        assert similarity.abs().max() < 0.5, similarity.abs().max()


def test_hidden_global_tokens_say_nothing_about_the_picture_and_the_cells_still_do():
    import random

    from modules.bridge_model import PrefixBridge, PrefixBridgeConfig
    from modules.training.train_language import hide_global_tokens
    bridge = PrefixBridge(PrefixBridgeConfig(image_grid=8, image_pool=2, image_pool_margin=1, image_embed_dim=16,
                                             image_global_tokens=4, image_width=16))
    prefix = bridge.project_image(torch.randn(2, 64, 16), torch.randn(2, 16))               # two different pictures
    hidden = hide_global_tokens(prefix, bridge, share=1.0, rng=random.Random(0))
    assert torch.equal(hidden[0, :4], hidden[1, :4])                                       # globals: places only
    assert not torch.allclose(hidden[0, 4:], hidden[1, 4:])                                 # cells: the pictures
    kept = hide_global_tokens(prefix, bridge, share=0.0, rng=random.Random(0))
    assert torch.equal(kept, prefix)
