"""Augmentations that keep labels true: a mirrored picture gets a mirrored scene; sounds keep their description."""
from __future__ import annotations

import io
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .world_pictures import Scene

IMAGE_MEAN = 0.5
IMAGE_STD = 0.5


def picture_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> (3, H, W) normalised the way the image encoder's preprocessing does."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0      # (H, W, 3)
    return (torch.from_numpy(array).permute(2, 0, 1) - IMAGE_MEAN) / IMAGE_STD


def with_jpeg_artefacts(image: Image.Image, rng: random.Random) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=rng.randint(25, 80))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def mirror(pictures: torch.Tensor, scenes: list[Scene], flip: list[bool]) -> tuple[torch.Tensor, list[Scene]]:
    """Flip the chosen pictures left-right; their scenes swap left and right so captions stay true.

    pictures: (B, 3, H, W)."""
    mask = torch.tensor(flip, dtype=torch.bool)[:, None, None, None]
    flipped = torch.where(mask, pictures.flip(-1), pictures)
    return flipped, [s.mirrored() if f else s for s, f in zip(scenes, flip)]


def resample_blur(pictures: torch.Tensor, rng: random.Random, probability: float = 0.25) -> torch.Tensor:
    """Some pictures down to 24..48 pixels and back up: what small or resized uploads look like. (B, 3, H, W)."""
    if rng.random() >= probability:
        return pictures
    side = pictures.shape[-1]
    small = rng.randint(24, 48)
    down = F.interpolate(pictures, size=(small, small), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(down, size=(side, side), mode="bilinear", align_corners=False)


def augment_sound(samples: np.ndarray, rng: random.Random, rate: int = 16_000) -> np.ndarray:
    """Gain, faint noise and a time shift; the description stays the same. (samples,) -> (samples',)."""
    out = samples * rng.uniform(0.5, 1.6)
    out = out + np.random.default_rng(rng.randrange(1 << 30)).standard_normal(out.shape).astype(np.float32) \
        * rng.uniform(0.0, 0.02)
    shift = int(rng.uniform(0.0, 0.3) * rate)
    if shift:
        out = np.concatenate([np.zeros(shift, dtype=np.float32), out])
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def batch_sounds(sounds: list[np.ndarray]) -> torch.Tensor:
    """Pad a list of (samples,) arrays with silence to one (B, max_samples) tensor."""
    longest = max(len(s) for s in sounds)
    out = np.zeros((len(sounds), longest), dtype=np.float32)
    for i, s in enumerate(sounds):
        out[i, : len(s)] = s
    return torch.from_numpy(out)
