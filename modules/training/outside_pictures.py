"""A second picture renderer, used only for evaluation: the world's scenes drawn by other code, at other sizes,
places, shades and file formats than the training renderer, each picture labelled from its own geometry."""
from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..world.pictures import (BACKGROUNDS, COLORS, FILLING_RADIUS, LARGE_FROM, POSITIONS, REGION_CENTERS, SHAPES,
                              TINY_RADIUS, Scene, SceneObject, place_of, size_word)

# Each colour word as a person picks it in a paint program, and a few nearby shades; a picture jitters around one.
PAINT: dict[str, tuple[tuple[int, int, int], ...]] = {
    "red": ((255, 0, 0), (204, 0, 0), (230, 30, 50)),
    "green": ((0, 128, 0), (0, 200, 0), (34, 170, 70)),
    "blue": ((0, 0, 255), (20, 60, 200), (0, 100, 230)),
    "yellow": ((255, 255, 0), (250, 230, 20), (240, 240, 60)),
    "purple": ((128, 0, 128), (150, 40, 200), (110, 30, 160)),
    "orange": ((255, 165, 0), (255, 140, 0), (245, 150, 40)),
}
# Each background word: the range its base shade is drawn from (the same value on all three channels).
PAPER: dict[str, tuple[int, int]] = {"white": (232, 255), "black": (0, 28), "gray": (105, 150)}
TEXTURES = ("plain", "noise", "gradient", "blotches")
PICTURE_FORMATS = ("png", "jpeg", "webp", "rgba", "palette", "grey")
COLOUR_FORMATS = ("png", "jpeg", "webp", "rgba", "palette")     # those that keep colour ("grey" does not)


@dataclass(frozen=True)
class OutsideStyle:
    """The ranges a picture is drawn from. Sizes and places keep away from the boundaries between words."""

    min_side: int = 32                    # each side of the picture, pixels
    max_side: int = 1024
    max_aspect: float = 2.5               # longer side over shorter side
    small_radius: tuple[float, float] = (TINY_RADIUS, LARGE_FROM - 0.025)   # outer radius / longer side
    large_radius: tuple[float, float] = (LARGE_FROM + 0.025, FILLING_RADIUS)
    min_radius_px: float = 3.0            # an object smaller than this cannot be seen, whatever its fraction
    place_margin: float = 0.06            # nearest place centre at least this much nearer than the second
    max_rotation_deg: float = 12.0
    outline_share: float = 0.3            # objects drawn as outlines rather than filled
    shade_jitter: int = 14                # per channel, around the chosen paint shade
    antialias_share: float = 0.7


@dataclass(frozen=True)
class Drawn:
    """One object as drawn: its geometry in pixels and the words its geometry earns."""

    label: SceneObject
    paint: tuple[int, int, int]
    shape: str
    cx: float                  # centre of the shape's construction, pixels
    cy: float
    radius: float              # circumradius of the construction, pixels
    rotation: float            # radians
    outline: float             # stroke width in pixels; 0 for a filled shape
    star_inner: float          # inner radius of a star over its outer radius


# ---- geometry ---------------------------------------------------------------------------------------------

def corners(shape: str, cx: float, cy: float, radius: float, rotation: float, star_inner: float) -> np.ndarray:
    """The polygon of a square, triangle or star, (corners, 2) as (x, y) pixels; a circle has none."""
    if shape == "square":
        angles = rotation + math.pi / 4 + np.arange(4) * math.pi / 2
        radii = np.full(4, radius)
    elif shape == "triangle":
        angles = rotation - math.pi / 2 + np.arange(3) * 2 * math.pi / 3
        radii = np.full(3, radius)
    elif shape == "star":
        angles = rotation - math.pi / 2 + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * star_inner)
    else:
        raise ValueError(f"no corners for shape {shape!r}; shapes with corners: square, triangle, star")
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def extent(obj: Drawn) -> tuple[float, float, float]:
    """(bounding-box centre x, y, outer radius from that centre), pixels, of the shape's outer edge."""
    if obj.shape == "circle":
        return obj.cx, obj.cy, obj.radius + obj.outline / 2
    points = corners(obj.shape, obj.cx, obj.cy, obj.radius, obj.rotation, obj.star_inner)
    bx, by = (points.min(0) + points.max(0)) / 2
    return float(bx), float(by), float(np.hypot(points[:, 0] - bx, points[:, 1] - by).max()) + obj.outline / 2


def signed_distance(obj: Drawn, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Distance in pixels from each pixel centre to the shape's edge, negative inside; xs, ys: (h, w)."""
    if obj.shape == "circle":
        return np.hypot(xs - obj.cx, ys - obj.cy) - obj.radius
    points = corners(obj.shape, obj.cx, obj.cy, obj.radius, obj.rotation, obj.star_inner)   # (n, 2)
    nearest = np.full(xs.shape, np.inf)
    inside = np.zeros(xs.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(points, np.roll(points, -1, axis=0)):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        nearest = np.minimum(nearest, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)))
        crosses = (y0 > ys) != (y1 > ys)                           # even-odd rule, a ray towards +x
        with np.errstate(divide="ignore", invalid="ignore"):
            at_x = x0 + (ys - y0) * dx / dy
        inside ^= crosses & (xs < at_x)
    return np.where(inside, -nearest, nearest)


def coverage(obj: Drawn, xs: np.ndarray, ys: np.ndarray, antialias: bool) -> np.ndarray:
    """How much of each pixel the object covers, 0..1, (h, w): a one-pixel ramp across the edge, or a hard step."""
    distance = signed_distance(obj, xs, ys)
    if obj.outline:
        distance = np.abs(distance) - obj.outline / 2              # a stroke centred on the edge
    return np.clip(0.5 - distance, 0.0, 1.0) if antialias else (distance <= 0).astype(np.float64)


# ---- choosing a scene -------------------------------------------------------------------------------------

def clear_place(fx: float, fy: float, margin: float) -> str | None:
    """The place of a centre at frame fractions (fx, fy), or None when two places are nearly as near."""
    distances = sorted(math.hypot(px - fx, py - fy) for px, py in REGION_CENTERS.values())
    return place_of(fx, fy) if distances[1] - distances[0] >= margin else None


def picture_size(rng: random.Random, style: OutsideStyle) -> tuple[int, int]:
    """(width, height): longer side log-uniform, aspect log-uniform up to style.max_aspect, both sides in range."""
    longer = math.exp(rng.uniform(math.log(style.min_side), math.log(style.max_side)))
    aspect = math.exp(rng.uniform(-math.log(style.max_aspect), math.log(style.max_aspect)))
    shorter = max(style.min_side, longer / max(aspect, 1 / aspect))
    width, height = (longer, shorter) if aspect >= 1 else (shorter, longer)
    return int(round(width)), int(round(height))


def try_object(rng: random.Random, place: str, size: str, width: int, height: int, style: OutsideStyle,
               single: bool) -> Drawn | None:
    """One object meant to be at `place` and of `size`; None when the draw lands off the frame or on a boundary."""
    longer = max(width, height)
    low, high = style.small_radius if size == "small" else style.large_radius
    if not single:
        high = min(high, 0.2)                      # several objects must leave each other room
    if low >= high:
        return None
    outer = math.exp(rng.uniform(math.log(low), math.log(high))) * longer      # target outer radius, pixels
    if outer < style.min_radius_px:
        return None
    px, py = REGION_CENTERS[place]
    shape = rng.choice(sorted(SHAPES))
    outline = max(1.5, outer * rng.uniform(0.08, 0.18)) if rng.random() < style.outline_share else 0.0
    color = rng.choice(sorted(COLORS))
    obj = Drawn(SceneObject(color, shape, size, place), shade(rng.choice(PAINT[color]), rng, style.shade_jitter),
                shape, (px + rng.uniform(-0.2, 0.2)) * width, (py + rng.uniform(-0.2, 0.2)) * height,
                outer - outline / 2, math.radians(rng.uniform(-style.max_rotation_deg, style.max_rotation_deg)),
                outline, rng.uniform(0.38, 0.5))
    return labelled(obj, width, height, style)


def labelled(obj: Drawn, width: int, height: int, style: OutsideStyle) -> Drawn | None:
    """The object with the words its own geometry earns (size_word, place_of), or None when it does not fit in the
    frame or when its size or place sits near a boundary between two words."""
    bx, by, outer = extent(obj)
    longer = max(width, height)
    if bx - outer < 1 or by - outer < 1 or bx + outer > width - 1 or by + outer > height - 1:
        return None
    fraction = outer / longer
    near_boundary = style.small_radius[1] < fraction < style.large_radius[0]
    place = clear_place(bx / width, by / height, style.place_margin)
    if near_boundary or place is None:
        return None
    return replace(obj, label=replace(obj.label, size=size_word(fraction), position=place))


def apart(a: Drawn, b: Drawn, gap: float) -> bool:
    ax, ay, ar = extent(a)
    bx, by, br = extent(b)
    return math.hypot(ax - bx, ay - by) >= ar + br + gap


def shade(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c + rng.randint(-amount, amount)))) for c in rgb)  # type: ignore[return-value]


def layout(rng: random.Random, width: int, height: int, style: OutsideStyle) -> list[Drawn] | None:
    """One to three objects at different places that do not overlap; None when this frame gives no room."""
    count = rng.randint(1, 3)
    places = rng.sample(sorted(POSITIONS), count)
    objects: list[Drawn] = []
    for place in places:
        for _ in range(40):
            obj = try_object(rng, place, rng.choice(["small", "large"]), width, height, style, count == 1)
            gap = max(2.0, 0.02 * max(width, height))
            if obj is not None and obj.label.position == place and all(apart(obj, o, gap) for o in objects):
                objects.append(obj)
                break
        else:
            return None
    return objects


# ---- painting ---------------------------------------------------------------------------------------------

def paper(background: str, texture: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The background as float RGB, (height, width, 3): a base shade of the word with a light texture on it."""
    low, high = PAPER[background]
    base = np.full((height, width), float(rng.uniform(low, high)))
    if texture == "noise":
        base += rng.normal(0.0, rng.uniform(2.0, 8.0), (height, width))
    elif texture == "gradient":
        ramp = np.linspace(-1.0, 1.0, width)[None, :] * np.cos(rng.uniform(0, math.pi)) \
            + np.linspace(-1.0, 1.0, height)[:, None] * np.sin(rng.uniform(0, math.pi))   # (height, width)
        base += ramp * rng.uniform(4.0, 10.0)
    elif texture == "blotches":
        coarse = rng.normal(0.0, 1.0, (max(2, height // 16), max(2, width // 16)))
        smooth = np.asarray(Image.fromarray(coarse.astype(np.float32), mode="F").resize(
            (width, height), Image.Resampling.BICUBIC))                                  # (height, width)
        base += smooth * rng.uniform(3.0, 7.0)
    tint = rng.uniform(-3.0, 3.0, 3)                                                     # (3,)
    return np.clip(base[:, :, None] + tint[None, None, :], 0.0, 255.0)


def paint(objects: list[Drawn], canvas: np.ndarray, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """The objects laid over the canvas, (height, width, 3), and how much of each pixel they cover, (height, width);
    each is rasterised only inside its own box."""
    height, width = canvas.shape[:2]
    covered = np.zeros((height, width))
    for obj in objects:
        bx, by, outer = extent(obj)
        x0, x1 = max(0, int(bx - outer) - 2), min(width, int(bx + outer) + 3)
        y0, y1 = max(0, int(by - outer) - 2), min(height, int(by + outer) + 3)
        ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5                                           # pixel centres
        alpha = coverage(obj, xs, ys, antialias)[:, :, None]                             # (h, w, 1)
        box = canvas[y0:y1, x0:x1]
        canvas[y0:y1, x0:x1] = box * (1 - alpha) + np.array(obj.paint, dtype=np.float64) * alpha
        covered[y0:y1, x0:x1] = np.maximum(covered[y0:y1, x0:x1], alpha[:, :, 0])
    return canvas, covered


@dataclass
class OutsidePicture:
    image: Image.Image         # RGB
    scene: Scene               # what its geometry earns
    covered: np.ndarray        # how much of each pixel the objects cover, 0..1, (height, width)
    paints: tuple[tuple[int, int, int], ...]   # each object's colour, as a palette file keeps it exactly
    objects: tuple[Drawn, ...] = ()            # each object as drawn, in scene.objects' order


def draw_outside(rng: random.Random, style: OutsideStyle = OutsideStyle()) -> OutsidePicture:
    """A random picture of the world drawn by this renderer and the Scene that its geometry earns."""
    while True:
        width, height = picture_size(rng, style)
        objects = layout(rng, width, height, style)
        if objects:
            break
    background = rng.choice(sorted(BACKGROUNDS))
    noise = np.random.default_rng(rng.randrange(1 << 30))
    canvas = paper(background, rng.choice(TEXTURES), width, height, noise)
    pixels, covered = paint(objects, canvas, rng.random() < style.antialias_share)
    image = Image.fromarray(np.round(pixels).astype(np.uint8), mode="RGB")
    scene = Scene(background, tuple(o.label for o in objects), rng.randrange(1 << 30))
    return OutsidePicture(image, scene, covered, tuple(o.paint for o in objects), tuple(objects))


# ---- files ------------------------------------------------------------------------------------------------

def encoded_picture(drawn: OutsidePicture, kind: str, rng: random.Random) -> tuple[bytes, str, Scene]:
    """The picture as the bytes of a file of this kind (PICTURE_FORMATS), its suffix, and the scene as the file
    shows it: an RGBA file has a transparent background, which a viewer (and the studio) puts on white."""
    image, scene = drawn.image, drawn.scene
    buffer = io.BytesIO()
    if kind == "png":
        image.save(buffer, format="PNG")
    elif kind == "jpeg":
        image.save(buffer, format="JPEG", quality=rng.randint(55, 95))
    elif kind == "webp":
        image.save(buffer, format="WEBP", quality=rng.randint(60, 95), lossless=rng.random() < 0.3)
    elif kind == "rgba":
        alpha = np.round(drawn.covered * 255).astype(np.uint8)                          # (height, width)
        Image.fromarray(np.dstack([np.asarray(image), alpha]), mode="RGBA").save(buffer, format="PNG")
        scene = replace(scene, background="white")
    elif kind == "palette":
        image.quantize(palette=palette_of(drawn, rng.choice([4, 16, 64])), dither=Image.Dither.NONE).save(
            buffer, format="PNG")
    elif kind == "grey":
        image.convert("L").save(buffer, format="PNG")
    else:
        raise ValueError(f"unknown picture format {kind!r}; valid: {', '.join(PICTURE_FORMATS)}")
    suffix = {"jpeg": ".jpg", "webp": ".webp"}.get(kind, ".png")
    return buffer.getvalue(), suffix, scene


def palette_of(drawn: OutsidePicture, shades: int) -> Image.Image:
    """A palette as a drawing program keeps one: each object's colour exactly, three blends of it with the
    background (for soft edges), and `shades` background shades from the picture's darkest to its lightest."""
    rgb = np.asarray(drawn.image, dtype=np.float64).reshape(-1, 3)                     # (pixels, 3)
    background = rgb[drawn.covered.reshape(-1) < 0.01]                                 # (background pixels, 3)
    low, high = np.percentile(background, 1, axis=0), np.percentile(background, 99, axis=0)
    middle = np.median(background, axis=0)
    colours = [low + (high - low) * t for t in np.linspace(0.0, 1.0, shades)]
    for paint in drawn.paints:
        colours += [middle + (np.array(paint) - middle) * t for t in (0.25, 0.5, 0.75, 1.0)]
    flat = [int(round(c)) for colour in colours[:256] for c in colour]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - len(flat) // 3))
    return palette


def visible_in_grey(drawn: OutsidePicture, contrast: float = 45.0) -> bool:
    """Whether every object stays apart from the background once colour is dropped: a green star on gray paper
    can turn into the paper's own grey, and a greyscale file of it then shows one object fewer."""
    grey = np.asarray(drawn.image.convert("L"), dtype=np.float64)                      # (height, width)
    paper_grey = float(np.median(grey[drawn.covered < 0.01]))
    weights = np.array([0.299, 0.587, 0.114])                                         # PIL's RGB -> L
    return all(abs(float(np.dot(paint, weights)) - paper_grey) >= contrast for paint in drawn.paints)


def save_outside_picture(drawn: OutsidePicture, folder: Path, name: str, rng: random.Random,
                         kinds: tuple[str, ...] = PICTURE_FORMATS) -> tuple[Path, str, Scene]:
    """Saves the picture in a random one of `kinds` that shows all of it (greyscale only where every object stays
    visible without colour): (path, kind, scene as the file shows it)."""
    fitting = [kind for kind in kinds if kind != "grey" or visible_in_grey(drawn)]
    if not fitting:
        raise ValueError(f"none of the formats {kinds} shows every object of this picture: an object's grey is "
                         "too near the background's; draw another or allow a colour format")
    kind = rng.choice(fitting)
    data, suffix, shown = encoded_picture(drawn, kind, rng)
    path = Path(folder) / f"{name}{suffix}"
    path.write_bytes(data)
    return path, kind, shown
