"""Auxiliary loss that follows the pixels: every patch token names the colour, shape, size and place of the object
drawn over it (or "none"), wherever that object is and however big.

The region heads (attribute_heads.py) read fixed windows around the five places. People draw an object anywhere
nearer its place than any other and from tiny to filling the frame, so its patches are often outside its place's
window, and a large object's patches lie in the windows of other places too (a large centred circle was captioned
"at the top, on the left and at the bottom"). Labelling each patch with the object it shows, including that
object's place, gives every patch a target that is true wherever the object is: what it is part of, and where that
thing is as a whole. Labels come from each object's drawn geometry (pictures.draw_scene), never from the pixels'
colours.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from ..world.pictures import DrawnScene, Scene, shape_corners
from .attribute_heads import CLASSES as REGION_CLASSES, REGIONS

CLASSES = {**REGION_CLASSES, "place": ["none", *REGIONS]}
COVER_MIN = 0.3               # a patch shows an object when at least this share of it is covered by the (filled) shape
OVERSAMPLE = 4                # coverage is drawn at this many pixels per patch side, then averaged


def coverage(drawn: DrawnScene, grid: int) -> np.ndarray:
    """(objects, grid, grid): the share of each patch that each object covers, drawn filled (an outlined shape's
    inside is still the shape), in the square the picture is squashed into."""
    side = grid * OVERSAMPLE
    covers = []
    for shape in drawn.shapes:
        mask = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(mask)
        corners = shape_corners(shape, drawn.frame, side)
        if shape.shape == "circle":
            draw.ellipse([*corners[0], *corners[1]], fill=255)
        else:
            draw.polygon(corners, fill=255)
        pixels = np.asarray(mask, dtype=np.float32) / 255.0                          # (side, side)
        covers.append(pixels.reshape(grid, OVERSAMPLE, grid, OVERSAMPLE).mean(axis=(1, 3)))
    return np.stack(covers) if covers else np.zeros((0, grid, grid), np.float32)


def owners(cover: np.ndarray) -> np.ndarray:
    """(grid*grid,) index of the object each patch shows, -1 for none: the object covering most of it when that is
    at least COVER_MIN; an object too small to cover any patch that much owns its most covered patch.
    cover: (objects, grid, grid)."""
    flat = cover.reshape(cover.shape[0], -1)                                             # (objects, patches)
    owner = np.full(flat.shape[1], -1, dtype=np.int64)
    if flat.shape[0] == 0:
        return owner
    best = flat.argmax(axis=0)
    shown = flat.max(axis=0) >= COVER_MIN
    owner[shown] = best[shown]
    for k in range(flat.shape[0]):
        if not (owner == k).any():
            owner[flat[k].argmax()] = k
    return owner


def mirrored_owners(owner: np.ndarray, grid: int) -> np.ndarray:
    """The owners of a picture flipped left-right (augment.mirror): (grid*grid,) -> (grid*grid,)."""
    return owner.reshape(grid, grid)[:, ::-1].reshape(-1).copy()


def patch_targets(scenes: list[Scene], owner: torch.Tensor) -> dict[str, torch.Tensor]:
    """attribute -> (B, patches) class index of what each patch shows, 0 ("none") for the background.
    owner (B, patches): object index per patch, -1 for none."""
    targets = {}
    for name, classes in CLASSES.items():
        rows = []
        for scene, row in zip(scenes, owner.tolist()):
            field = "position" if name == "place" else name
            values = [classes.index(getattr(o, field)) for o in scene.objects]
            rows.append([values[k] if k >= 0 else 0 for k in row])
        targets[name] = torch.tensor(rows)
    return targets


class PatchAttributeHeads(nn.Module):
    """Linear colour, shape, size and place heads over every patch token."""

    def __init__(self, width: int):
        super().__init__()
        self.heads = nn.ModuleDict({name: nn.Linear(width, len(classes)) for name, classes in CLASSES.items()})

    def loss(self, patch_tokens: torch.Tensor, scenes: list[Scene], owner: torch.Tensor) -> torch.Tensor:
        """Summed over attributes of the cross-entropy averaged over patches. patch_tokens (B, patches, width)."""
        total = patch_tokens.new_zeros(())
        for name, target in patch_targets(scenes, owner).items():
            logits = self.heads[name](patch_tokens)                                         # (B, patches, classes)
            total = total + F.cross_entropy(logits.flatten(0, 1), target.to(logits.device).flatten())
        return total

    @torch.no_grad()
    def object_accuracy(self, patch_tokens: torch.Tensor, scenes: list[Scene], owner: torch.Tensor
                        ) -> dict[str, float]:
        """Share of objects whose colour, shape, size and place the votes of their own patches name right, and of
        scenes with every object right (and no object seen on the background)."""
        right: dict[str, list[bool]] = {name: [] for name in CLASSES}
        whole = []
        for b, scene in enumerate(scenes):
            scene_right = True
            for name, classes in CLASSES.items():
                predicted = self.heads[name](patch_tokens[b]).argmax(-1).cpu()                  # (patches,)
                field = "position" if name == "place" else name
                for k, obj in enumerate(scene.objects):
                    votes = predicted[owner[b] == k]
                    ok = bool((votes.mode().values == classes.index(getattr(obj, field))).item())
                    right[name].append(ok)
                    scene_right &= ok
                scene_right &= bool((predicted[owner[b] < 0] == 0).float().mean() > 0.9) if name == "shape" else True
            whole.append(scene_right)
        return {**{name: float(np.mean(v)) for name, v in right.items()}, "whole scene": float(np.mean(whole))}
