"""Augmentations that keep labels true: a mirrored picture gets a mirrored scene; sounds keep their description."""
from __future__ import annotations

import io
import math
import random
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..encoders.audio_model import loud_span
from ..world.pictures import DrawnScene, RenderStyle, Scene, draw_scene
from ..world.sounds import Sound, SoundStyle, synthesize

IMAGE_MEAN = 0.5
IMAGE_STD = 0.5


def training_style(rng: random.Random, free_share: float, side: int) -> RenderStyle:
    """How one training picture is drawn: a share `free_share` the ways people draw (people_style), the rest in the
    world's own way at the encoder's `side`: mostly anti-aliased; half with twice the usual shade and position
    variation, so that slightly other colours and places still read as the same words (at 0.3, a run from scratch
    lost 6 points of picture R@1 and 8 of exact captions on pictures drawn so)."""
    if rng.random() < free_share:
        return people_style(rng)
    wide = rng.random() < 0.5
    return RenderStyle(size=side, antialias=rng.random() < 0.85, shade_jitter=30 if wide else 14,
                       position_jitter=0.06 if wide else 0.03)


PEOPLE_MAX_ASPECT = 2.5       # longer side over shorter side, either way round


def people_style(rng: random.Random) -> RenderStyle:
    """A way a person might draw the scene in a paint program: any size and aspect, any shade of each colour,
    lone objects from tiny to filling the frame, outlines, slight turns, textured backgrounds."""
    size = rng.choice([32, 48, 64, 96, 128, 160, 256, 384, 512])
    aspect = 1.0 if rng.random() < 0.4 else math.exp(rng.uniform(-math.log(PEOPLE_MAX_ASPECT),
                                                                 math.log(PEOPLE_MAX_ASPECT)))
    return RenderStyle(size=size, aspect=aspect, antialias=rng.random() < 0.7, shade_jitter=30,
                       free_geometry=True, any_shade=0.8, outline=0.25 if rng.random() < 0.5 else 0.0,
                       max_rotation=15.0 if rng.random() < 0.5 else 0.0,
                       texture=rng.choice(["plain", "plain", "noise", "gradient", "speckle"]),
                       star_inner=(0.36, 0.55))


def training_picture(scene: Scene, rng: random.Random, free_share: float, side: int) -> torch.Tensor:
    """The scene drawn in a training style and brought to the encoder's `side` pixels as the studio brings an upload
    (squashed to a square), three in ten with JPEG artefacts (at one in five, a run from scratch lost 8 points of
    exact captions at quality 30): (3, side, side), normalised."""
    return drawn_for_training(scene, rng, free_share, side)[0]


def drawn_for_training(scene: Scene, rng: random.Random, free_share: float, side: int
                       ) -> tuple[torch.Tensor, DrawnScene]:
    """training_picture's picture, and where its objects were drawn (for labels that follow the pixels)."""
    drawn = draw_scene(scene, training_style(rng, free_share, side))
    image = drawn.image
    if rng.random() < 0.3:
        image = with_jpeg_artefacts(image, rng)
    return picture_to_tensor(as_the_studio_sees(image, side)), drawn


def as_the_studio_sees(image: Image.Image, side: int) -> Image.Image:
    """Any picture as the image encoder's preprocessing gives it (open_clip's "squash" resize): `side` pixels square,
    bicubic. Squashed rather than padded, an object's place in the picture's own frame (the world's place_of) is its
    place in the square: with the border colour as padding, the frame's edge cannot be seen."""
    image = image.convert("RGB")
    return image if image.size == (side, side) else image.resize((side, side), Image.Resampling.BICUBIC)


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
    """Gain from quiet to clipped, background hiss, a time shift and sometimes a lower recording rate; the
    description stays the same. (samples,) -> (samples',)."""
    return shifted_augmentation(samples, rng, rate)[0]


def shifted_augmentation(samples: np.ndarray, rng: random.Random, rate: int = 16_000) -> tuple[np.ndarray, int]:
    """augment_sound's samples, and how many samples of silence it put in front (sample i is now at i + shift)."""
    if rng.random() < 0.2:
        samples = band_limited(samples, rng.choice([8000, 11025, 12000]), rate)
    gain = rng.uniform(0.5, 1.6) if rng.random() < 0.6 else math.exp(rng.uniform(math.log(0.05), math.log(4.0)))
    hiss = rng.uniform(0.0, 0.02) if rng.random() < 0.8 else rng.uniform(0.02, 0.05)
    out = samples * gain
    out = out + np.random.default_rng(rng.randrange(1 << 30)).standard_normal(out.shape).astype(np.float32) * hiss
    shift = int(rng.uniform(0.0, 0.3) * rate)
    if shift:
        out = np.concatenate([np.zeros(shift, dtype=np.float32), out])
    return np.clip(out, -1.0, 1.0).astype(np.float32), shift


def training_sound(sound: Sound, wave: np.ndarray, rng: random.Random, free_share: float) -> np.ndarray:
    """The sound made afresh with free timing (SoundStyle), a share `free_share` of the time; else `wave`, its
    world-made samples. (samples,)."""
    if rng.random() < free_share:
        return synthesize(replace(sound, variation_seed=rng.randrange(1 << 30)), style=SoundStyle(free_timing=True))
    return wave


def heard_as_in_studio(samples: np.ndarray, rng: random.Random, trim_below_db: float | None) -> np.ndarray:
    """Augmented (augment_sound), then with its leading and trailing silence cut as the audio encoder does in the
    studio (audio_model.trim_silence). (samples,) -> (samples',)."""
    return heard_with_offset(samples, rng, trim_below_db)[0]


def heard_with_offset(samples: np.ndarray, rng: random.Random, trim_below_db: float | None
                      ) -> tuple[np.ndarray, int]:
    """heard_as_in_studio's samples, and where the original's sample 0 went (sample i is now at i + offset)."""
    out, shift = shifted_augmentation(samples, rng)
    if trim_below_db is None:
        return out, shift
    start, end = loud_span(out, 16_000, trim_below_db)
    return out[start:end], shift - start


def batch_sounds(sounds: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a list of (samples,) arrays with silence to one (B, max_samples) tensor; and their lengths (B,)."""
    longest = max(len(s) for s in sounds)
    out = np.zeros((len(sounds), longest), dtype=np.float32)
    for i, s in enumerate(sounds):
        out[i, : len(s)] = s
    return torch.from_numpy(out), torch.tensor([len(s) for s in sounds])
