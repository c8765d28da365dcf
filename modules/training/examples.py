"""Writes the studio's example pictures and sounds, hand-picked from the built-in world, into assets/examples/."""
from __future__ import annotations

import sys
from pathlib import Path

import soundfile

from .suite_config import REPO_ROOT
from ..world.pictures import Scene, SceneObject, caption_en, render_scene, RenderStyle
from ..world.sounds import Sound, describe_en, synthesize

EXAMPLE_PICTURES = {
    "red-circle-left": Scene("white", (SceneObject("red", "circle", "large", "left"),), 11),
    "blue-star-and-yellow-square": Scene("gray", (SceneObject("blue", "star", "large", "center"),
                                                  SceneObject("yellow", "square", "small", "top")), 12),
    "three-shapes-on-black": Scene("black", (SceneObject("green", "triangle", "large", "right"),
                                             SceneObject("orange", "circle", "small", "bottom"),
                                             SceneObject("purple", "star", "small", "left")), 13),
}
EXAMPLE_SOUNDS = {
    "three-high-beeps": Sound("beeps", "high", "pure", 3, variation_seed=21),
    "long-low-buzzy-tone": Sound("tone", "low", "buzzy", variation_seed=22),
    "rising-sweep": Sound("rising", None, "pure", variation_seed=23),
}


def write_examples(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, scene in EXAMPLE_PICTURES.items():
        path = folder / f"{name}.png"
        render_scene(scene, RenderStyle(size=256)).save(path)
        written.append(path)
        print(f"{path.name}: {caption_en(scene)}")
    for name, sound in EXAMPLE_SOUNDS.items():
        path = folder / f"{name}.wav"
        soundfile.write(path, synthesize(sound), 16_000, subtype="PCM_16")
        written.append(path)
        print(f"{path.name}: {describe_en(sound)}")
    return written


if __name__ == "__main__":
    write_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "assets" / "examples")
