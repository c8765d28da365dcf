"""Augmentations that keep labels true: a mirrored picture gets a mirrored scene; sounds keep their description."""
from __future__ import annotations

import io
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..world.pictures import RenderStyle, Scene, render_scene

IMAGE_MEAN = 0.5
IMAGE_STD = 0.5


def training_style(rng: random.Random) -> RenderStyle:
    """How one training picture is drawn: mostly anti-aliased; half with twice the usual shade and position
    variation, so that slightly other colours and places still read as the same words (at 0.3, a run from scratch
    lost 6 points of picture R@1 and 8 of exact captions on pictures drawn so)."""
    wide = rng.random() < 0.5
    return RenderStyle(antialias=rng.random() < 0.85, shade_jitter=30 if wide else 14,
                       position_jitter=0.06 if wide else 0.03)


def training_picture(scene: Scene, rng: random.Random) -> torch.Tensor:
    """The scene drawn in a training style, three in ten with JPEG artefacts (at one in five, a run from scratch
    lost 8 points of exact captions at quality 30): (3, 64, 64), normalised."""
    image = render_scene(scene, training_style(rng))
    return picture_to_tensor(with_jpeg_artefacts(image, rng) if rng.random() < 0.3 else image)


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
    mask = torch.tensor(flip, dtype=torch.bool, device=pictures.device)[:, None, None, None]
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


def band_limited(samples: np.ndarray, low_rate: int, rate: int = 16_000) -> np.ndarray:
    """As if recorded at low_rate and converted back: everything above low_rate / 2 is gone. (samples,)."""
    from math import gcd

    from scipy.signal import resample_poly
    g = gcd(rate, low_rate)
    there = resample_poly(samples, low_rate // g, rate // g)
    return resample_poly(there, rate // g, low_rate // g)[: len(samples)].astype(np.float32)


def augment_sound(samples: np.ndarray, rng: random.Random, rate: int = 16_000) -> np.ndarray:
    """Gain, faint noise, a time shift and sometimes a lower recording rate; the description stays the same.
    (samples,) -> (samples',)."""
    if rng.random() < 0.2:
        samples = band_limited(samples, rng.choice([8000, 11025, 12000]), rate)
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
