"""Auxiliary losses: what each region holds, read linearly from the picture encoder's patch tokens (or the bridge's
cells).

Contrastive training alone taught the 64-pixel ViT colour, size and place but almost no shape (zero-shot shape
on single objects stayed at chance after 1,000 steps): the batch can be told apart without it. Asking the patch
tokens of each region to name the colour, shape and size of the object there (or "none") gives shape a direct
gradient, and it lands where the prefix bridge reads: the patch tokens. The heads are dropped after training;
the saved model is a plain open_clip CLIP.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..world.pictures import BACKGROUNDS, COLORS, POSITIONS, REGION_CENTERS, SHAPES, SIZES, Scene

REGIONS = sorted(POSITIONS)
CLASSES = {"color": ["none", *sorted(COLORS)], "shape": ["none", *sorted(SHAPES)], "size": ["none", *sorted(SIZES)]}
REGION_RADIUS = 0.16          # fraction of the side: patches whose centre is this close to a region's centre


def region_weights(grid: int) -> torch.Tensor:
    """(regions, grid*grid): each row averages the patches around one region's centre (row-major patches)."""
    steps = (torch.arange(grid) + 0.5) / grid
    ys, xs = torch.meshgrid(steps, steps, indexing="ij")
    centres = torch.stack([xs.flatten(), ys.flatten()], dim=-1)                       # (grid*grid, [x, y])
    rows = [((centres - torch.tensor(REGION_CENTERS[r])).norm(dim=-1) < REGION_RADIUS).float() for r in REGIONS]
    weights = torch.stack(rows)
    return weights / weights.sum(dim=1, keepdim=True)


def region_targets(scenes: list[Scene], attribute: str) -> torch.Tensor:
    """(B, regions) class index of the attribute of the object in each region, 0 ("none") where it is empty."""
    classes = CLASSES[attribute]
    rows = []
    for scene in scenes:
        by_region = {o.position: getattr(o, attribute) for o in scene.objects}
        rows.append([classes.index(by_region.get(r, "none")) for r in REGIONS])
    return torch.tensor(rows)


def cell_weights(bridge_config) -> torch.Tensor:
    """(regions, cells²): each row picks the bridge cell that holds one region's centre (PrefixBridgeConfig.cell_of).
    With the recipe's margin of one patch these are the cells whose patches region_weights reads."""
    cells = bridge_config.image_cells ** 2
    return torch.stack([F.one_hot(torch.tensor(bridge_config.cell_of(*REGION_CENTERS[region])), cells).float()
                        for region in REGIONS])


class RegionAttributeHeads(nn.Module):
    """Linear colour, shape and size heads over each region's average of the tokens that `weights` (regions, tokens)
    picks: region_weights(grid) for an encoder's patches, cell_weights(...) for the bridge's cells."""

    def __init__(self, width: int, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", weights, persistent=False)
        self.heads = nn.ModuleDict({name: nn.Linear(width, len(classes)) for name, classes in CLASSES.items()})

    def logits(self, patch_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """patch_tokens (B, tokens, width) -> attribute -> (B, regions, classes)."""
        regions = torch.einsum("rn,bnw->brw", self.weights, patch_tokens)               # (B, regions, width)
        return {name: head(regions) for name, head in self.heads.items()}

    def loss(self, patch_tokens: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        """Summed cross-entropy over regions and attributes."""
        total = patch_tokens.new_zeros(())
        for name, logits in self.logits(patch_tokens).items():
            target = region_targets(scenes, name).to(patch_tokens.device)               # (B, regions)
            total = total + F.cross_entropy(logits.flatten(0, 1), target.flatten())
        return total

    @torch.no_grad()
    def accuracy(self, patch_tokens: torch.Tensor, scenes: list[Scene]) -> dict[str, float]:
        """Share of objects whose colour, shape and size the heads name right, and of scenes right in full."""
        scene_right = torch.ones(len(scenes), len(REGIONS), dtype=torch.bool)
        out = {}
        for name, logits in self.logits(patch_tokens).items():
            target = region_targets(scenes, name)                                       # (B, regions)
            right = logits.argmax(-1).cpu() == target
            scene_right &= right
            out[name] = right[target > 0].float().mean().item()
        out["whole scene"] = scene_right.all(dim=1).float().mean().item()
        return out


class PooledPlaceHeads(nn.Module):
    """Linear heads naming each place's colour, shape and size (or "none") from one pooled embedding: a picture's
    (the places phase) or a caption's (the encoders stage's joint phase)."""

    def __init__(self, dim: int):
        super().__init__()
        self.heads = nn.ModuleDict({name: nn.Linear(dim, len(REGIONS) * len(classes))
                                    for name, classes in CLASSES.items()})

    def loss(self, pooled: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        """pooled (B, D) -> cross-entropy summed over colour, shape and size, averaged over the places."""
        total = pooled.new_zeros(())
        for name, head in self.heads.items():
            logits = head(pooled).view(len(scenes), len(REGIONS), len(CLASSES[name]))      # (B, places, classes)
            target = region_targets(scenes, name).to(pooled.device)                         # (B, places)
            total = total + F.cross_entropy(logits.flatten(0, 1), target.flatten())
        return total


class BackgroundHead(nn.Module):
    """The background's colour from the picture's normalised pooled embedding, by cosine to one learnt direction per
    colour at a fixed scale. No caption names the background, so contrastive training left it a faint direction:
    the same scene on white and on black had pooled embeddings at cosine 0.997, and the language model, reading a
    bridge made from them, gave one background for every picture (a linear probe still told them apart). At a
    fixed scale the head cannot grow its own weights to separate them: the embedding itself has to move."""

    def __init__(self, dim: int, scale: float):
        super().__init__()
        self.directions = nn.Parameter(torch.randn(len(BACKGROUNDS), dim) * dim ** -0.5)
        self.scale = scale

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled (B, D) -> (B, backgrounds), in sorted(BACKGROUNDS) order."""
        return self.scale * F.normalize(pooled, dim=-1) @ F.normalize(self.directions, dim=-1).T

    def loss(self, pooled: torch.Tensor, scenes: list[Scene]) -> torch.Tensor:
        names = sorted(BACKGROUNDS)
        target = torch.tensor([names.index(s.background) for s in scenes], device=pooled.device)
        return F.cross_entropy(self.logits(pooled), target)
