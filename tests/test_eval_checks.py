"""The evaluation's own judges: the pixel colour check passes the world's own pictures and nothing else."""
from __future__ import annotations

import pytest

from modules.training.evaluate import color_present
from modules.world.pictures import COLORS, SHAPES, Scene, SceneObject, render_scene


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_small_object_of_the_world_passes_the_pixel_check_for_its_own_colour_only(shape):
    for color in COLORS:
        for background in ("white", "black", "gray"):
            picture = render_scene(Scene(background, (SceneObject(color, shape, "small", "top"),), shade_seed=3))
            found = {c for c in COLORS if color_present(picture, c)}
            assert found == {color}, f"a small {color} {shape} on {background}: the pixel check found {found}"


def test_an_empty_canvas_shows_no_colour():
    assert not any(color_present(render_scene(Scene("white", ())), c) for c in COLORS)
