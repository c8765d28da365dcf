"""The picture encoder's per-patch labels: each patch names the object drawn over it, wherever and however big."""
from __future__ import annotations

import random

import numpy as np
import torch

from modules.training.augment import as_the_studio_sees, people_style
from modules.training.patch_heads import CLASSES, PatchAttributeHeads, coverage, mirrored_owners, owners, patch_targets
from modules.world.pictures import RenderStyle, Scene, SceneObject, draw_scene
from tests.fitting import fit

GRID = 8


def _painted_share(image, grid: int) -> np.ndarray:
    """(grid, grid) share of each patch of the squashed picture that is not the plain white background."""
    pixels = np.asarray(as_the_studio_sees(image, grid * 8), dtype=np.float32)           # (side, side, 3)
    painted = (np.abs(pixels - 255.0).max(axis=-1) > 60).astype(np.float32)              # (side, side)
    return painted.reshape(grid, 8, grid, 8).mean(axis=(1, 3))


def test_owners_follow_the_pixels_of_freely_drawn_objects():
    """In pictures drawn the ways people draw (any aspect, tiny to filling, shifted, turned), the patches that the
    labels give an object are the patches its paint covers, and every object owns at least one patch."""
    rng = random.Random(3)
    errors = []
    for k in range(40):
        style = people_style(rng)
        style = RenderStyle(size=256, aspect=style.aspect, free_geometry=True, antialias=False, texture="plain",
                            shade_jitter=0, outline=0.0, max_rotation=style.max_rotation)
        count = rng.randint(1, 3)
        places = rng.sample(["left", "right", "top", "bottom", "center"], count)
        scene = Scene("white", tuple(SceneObject(rng.choice(["red", "blue", "green"]), rng.choice(["circle", "square",
                      "triangle", "star"]), rng.choice(["small", "large"]), p) for p in places), k + 1)
        drawn = draw_scene(scene, style)
        cover = coverage(drawn, GRID)                                      # (objects, grid, grid)
        owner = owners(cover)
        assert set(owner[owner >= 0].tolist()) == set(range(count))
        errors.append(np.abs(cover.sum(axis=0) - _painted_share(drawn.image, GRID)))
    errors = np.stack(errors)
    assert errors.mean() < 0.02 and np.quantile(errors, 0.99) < 0.2


def test_a_large_object_gives_its_place_to_every_patch_it_covers():
    scene = Scene("white", (SceneObject("red", "circle", "large", "center"),), 5)
    drawn = draw_scene(scene, RenderStyle(size=128, free_geometry=True))
    owner = torch.from_numpy(owners(coverage(drawn, GRID)))[None]                   # (1, patches)
    places = patch_targets([scene], owner)["place"][0]
    covered = owner[0] >= 0
    assert covered.sum() >= 1
    assert {CLASSES["place"][k] for k in places[covered].tolist()} == {"center"}
    assert {CLASSES["place"][k] for k in places[~covered].tolist()} == {"none"}


def test_mirrored_owners_match_the_mirrored_picture():
    scene = Scene("white", (SceneObject("blue", "square", "small", "left"), SceneObject("red", "star", "large",
                                                                                         "right")), 9)
    drawn = draw_scene(scene, RenderStyle(size=64))
    flipped = draw_scene(scene.mirrored(), RenderStyle(size=64))
    owner = owners(coverage(drawn, GRID))
    assert (mirrored_owners(owner, GRID) >= 0).sum() == (owner >= 0).sum()
    left_half = mirrored_owners(owner, GRID).reshape(GRID, GRID)[:, : GRID // 2]
    assert (left_half == 1).any() and not (left_half == 0).any()       # the red star is now on the left
    assert flipped.shapes[0].where.cx > 0.5                            # and the blue square on the right


def test_the_heads_learn_what_the_patches_show():
    """Tokens that carry each patch's shape can be read; the loss falls far below its start."""
    torch.manual_seed(0)
    shapes = ["circle", "square", "triangle", "star"]
    scenes = [Scene("white", (SceneObject("red", s, "small", "left"),)) for s in shapes]
    owner = torch.full((4, 64), -1)
    owner[:, :8] = 0
    tokens = torch.zeros(4, 64, 16)
    for k in range(4):
        tokens[k, :8, k] = 1.0
        tokens[k, 8:, 15] = 1.0
    heads = PatchAttributeHeads(16)
    start = heads.loss(tokens, scenes, owner).item()
    fit(heads, lambda: heads.loss(tokens, scenes, owner), steps=300)
    assert heads.loss(tokens, scenes, owner).item() < 0.05 * start
    assert heads.object_accuracy(tokens, scenes, owner)["shape"] == 1.0
