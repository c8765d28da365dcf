"""The prefix bridge: which picture cells and sound tokens it reads, and what its summary tokens carry."""
from __future__ import annotations

import torch

from modules.training.attribute_heads import REGIONS, cell_weights, region_weights


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
    picked = cell_weights(bridge.config) @ cells                                      # what the cell heads read
    assert torch.allclose(picked, heads_view, atol=1e-6)


def test_cells_cut_from_the_whole_grid_see_an_object_in_the_outer_ring_at_its_place():
    """With bands of 3, 2 and 3 patches, an object in the outer ring of patches (which the margin leaves out)
    reaches its place's cell; the centre cell reads the same patches as with the margin."""
    from modules.bridge_model import PrefixBridge, PrefixBridgeConfig
    margin = PrefixBridge(PrefixBridgeConfig(image_grid=8, image_pool=2, image_pool_margin=1))
    bands = PrefixBridge(PrefixBridgeConfig(image_grid=8, image_cell_bands=[3, 2, 3]))
    patches = torch.zeros(1, 64, 4)
    patches[0, 4 * 8 + 0] = 1.0                                          # row 4, column 0: at the left, in the ring
    left = REGIONS.index("left")
    assert (cell_weights(bands.config) @ bands.pool_patches(patches)[0])[left].abs().sum() > 0
    assert (cell_weights(margin.config) @ margin.pool_patches(patches)[0])[left].abs().sum() == 0
    both = torch.randn(2, 64, 4)
    assert torch.allclose(bands.pool_patches(both)[:, 4], margin.pool_patches(both)[:, 4])
    block = both[1].reshape(8, 8, 4)[5:8, 0:3].mean(dim=(0, 1))                      # the bottom-left cell
    assert torch.allclose(bands.pool_patches(both)[1, 6], block, atol=1e-6)
    assert [bands.config.cell_of(x, y) for x, y in ((0.21, 0.5), (0.5, 0.21), (0.79, 0.5), (0.5, 0.79))] == \
        [3, 1, 5, 7]


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
    from modules.bridge_model import PrefixBridge, PrefixBridgeConfig
    from modules.training.train_language import hide_global_tokens
    bridge = PrefixBridge(PrefixBridgeConfig(image_grid=8, image_pool=2, image_pool_margin=1, image_embed_dim=16,
                                             image_global_tokens=4, image_width=16))
    prefix = bridge.project_image(torch.randn(2, 64, 16), torch.randn(2, 16))               # two different pictures
    hidden = hide_global_tokens(prefix, bridge, torch.tensor([True, True]))
    assert torch.equal(hidden[0, :4], hidden[1, :4])                                       # globals: places only
    assert not torch.allclose(hidden[0, 4:], hidden[1, 4:])                                 # cells: the pictures
    kept = hide_global_tokens(prefix, bridge, torch.tensor([False, False]))
    assert torch.equal(kept, prefix)
    one = hide_global_tokens(prefix, bridge, torch.tensor([False, True]))
    assert torch.equal(one[0], prefix[0]) and torch.equal(one[1], hidden[1])



def test_the_sound_summary_tokens_hear_when_things_happen_not_only_how_much():
    """A mean over time (the sound embedding) cannot tell a sound from the same sound reversed, or three beeps
    from three beeps with one twice as long; the summary tokens read each time token with its own weights."""
    from modules.bridge_model import PrefixBridge, PrefixBridgeConfig
    bridge = PrefixBridge(PrefixBridgeConfig(audio_width=16, audio_tokens=12, audio_global_tokens=2))
    sound = torch.randn(1, 12, 16)                                                          # (B, T, width)
    reversed_in_time = sound.flip(1)
    forward, backward = bridge.project_audio(sound), bridge.project_audio(reversed_in_time)
    assert forward.shape[1] == bridge.config.audio_prefix_tokens == 14
    assert not torch.allclose(forward[:, :2], backward[:, :2], atol=1e-4)                 # the summaries differ
    plain = PrefixBridge(PrefixBridgeConfig(audio_width=16, audio_tokens=12))
    assert plain.project_audio(sound).shape[1] == plain.config.audio_prefix_tokens == 12    # off by default
