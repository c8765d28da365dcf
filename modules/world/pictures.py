"""The built-in world's pictures: scenes of coloured shapes, how they are drawn, and their bilingual captions."""
from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

# English word -> (RGB, 中文). Names and words are fixed by WORLD.md.
COLORS: dict[str, tuple[tuple[int, int, int], str]] = {
    "red": ((220, 40, 40), "红色"),
    "green": ((40, 170, 60), "绿色"),
    "blue": ((40, 80, 220), "蓝色"),
    "yellow": ((235, 210, 40), "黄色"),
    "purple": ((140, 60, 180), "紫色"),
    "orange": ((245, 140, 30), "橙色"),
}
SHAPES: dict[str, str] = {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形"}
SIZES: dict[str, str] = {"small": "小", "large": "大"}
POSITIONS: dict[str, str] = {"left": "左边", "right": "右边", "top": "上边", "bottom": "下边", "center": "中间"}
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], str]] = {
    "white": ((250, 250, 250), "白色"),
    "black": ((12, 12, 12), "黑色"),
    "gray": ((128, 128, 128), "灰色"),
}
POSITION_PHRASES_EN = {"left": "on the left", "right": "on the right", "top": "at the top",
                       "bottom": "at the bottom", "center": "in the center"}
# Centre of each region on a unit canvas (x, y), and radius of each size as a fraction of the side.
REGION_CENTERS = {"left": (0.21, 0.5), "right": (0.79, 0.5), "top": (0.5, 0.21), "bottom": (0.5, 0.79),
                  "center": (0.5, 0.5)}
SIZE_RADII = {"small": 0.085, "large": 0.14}
# What the words mean for a picture drawn any other way. An object's size is "large" when its outer radius (centre to
# its farthest point) is at least LARGE_FROM of the picture's side (of the longer side, for a picture that is not
# square), else "small"; a single object may range from TINY_RADIUS to FILLING_RADIUS. An object's place is the
# nearest of REGION_CENTERS to its centre (the centre of its bounding box), measured in the picture's own frame.
LARGE_FROM = 0.11
TINY_RADIUS = 0.04
FILLING_RADIUS = 0.45
MIRRORED_POSITION = {"left": "right", "right": "left", "top": "top", "bottom": "bottom", "center": "center"}
NUMBER_WORDS_EN = {1: "one", 2: "two", 3: "three", 4: "four"}
NUMBER_WORDS_ZH = {1: "一", 2: "两", 3: "三", 4: "四"}


@dataclass(frozen=True)
class SceneObject:
    color: str
    shape: str
    size: str
    position: str

    def phrase_en(self) -> str:
        return f"a {self.size} {self.color} {self.shape} {POSITION_PHRASES_EN[self.position]}"

    def phrase_zh(self) -> str:
        return f"{POSITIONS[self.position]}有一个{SIZES[self.size]}的{COLORS[self.color][1]}{SHAPES[self.shape]}"


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[SceneObject, ...]
    shade_seed: int = 0           # small shade and placement variations; not part of the content

    def content_key(self) -> str:
        """What the scene shows, independent of object order and small variations (used for splits)."""
        return self.background + "|" + self.objects_key()

    def objects_key(self) -> str:
        """What its objects are and where, in any order: what a caption names (the background it does not)."""
        return ",".join(sorted(f"{o.size}-{o.color}-{o.shape}-{o.position}" for o in self.objects))

    def mirrored(self) -> "Scene":
        """The scene flipped left-right: left and right swap places, everything else stays."""
        objects = tuple(replace(o, position=MIRRORED_POSITION[o.position]) for o in self.objects)
        return replace(self, objects=objects)


def size_word(outer_radius: float) -> str:
    """'small' or 'large' for an object whose outer radius is this fraction of the picture's side."""
    return "large" if outer_radius >= LARGE_FROM else "small"


def place_of(cx: float, cy: float) -> str:
    """The place (POSITIONS) whose centre is nearest to (cx, cy), both fractions of the picture's frame."""
    return min(REGION_CENTERS, key=lambda p: (REGION_CENTERS[p][0] - cx) ** 2 + (REGION_CENTERS[p][1] - cy) ** 2)


def caption_en(scene: Scene) -> str:
    phrases = [o.phrase_en() for o in scene.objects]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def caption_zh(scene: Scene) -> str:
    return "，".join(o.phrase_zh() for o in scene.objects)


def random_scene(rng: random.Random, max_objects: int = 3, background: str | None = None) -> Scene:
    count = rng.randint(1, max_objects)
    positions = rng.sample(sorted(POSITIONS), count)
    objects = tuple(
        SceneObject(rng.choice(sorted(COLORS)), rng.choice(sorted(SHAPES)), rng.choice(sorted(SIZES)), p)
        for p in positions
    )
    return Scene(background or rng.choice(sorted(BACKGROUNDS)), objects, rng.randrange(1 << 30))


STAR_INNER = 0.45                  # the world's star: inner radius over outer radius


@dataclass(frozen=True)
class RenderStyle:
    """How a scene is drawn. The defaults are the world's own look; the rest are the ways people draw the same scene.
    Every choice that varies per object (shade, size, place within its region, outline, rotation) is drawn from
    the scene's shade_seed, so a scene and a style give one picture."""

    size: int = 64                 # the longer side, in pixels
    aspect: float = 1.0            # width / height; places are measured in the picture's own frame
    antialias: bool = True
    shade_jitter: int = 14         # max change per colour channel of the world's own shade
    position_jitter: float = 0.03  # max shift of an object's centre, fraction of the side (world geometry)
    free_geometry: bool = False    # sizes over each word's whole range (a lone object from tiny to filling the
                                   # frame) and a lone object anywhere nearer its place than any other
    any_shade: float = 0.0         # share of objects drawn in any shade their colour's name covers (else the
                                   # world's own shade, jittered)
    outline: float = 0.0           # share of objects drawn as an outline rather than filled
    max_rotation: float = 0.0      # degrees; each shape turns by up to this much either way
    texture: str = "plain"         # the background: plain, noise, gradient or speckle (its colour's name stays)
    star_inner: tuple[float, float] = (STAR_INNER, STAR_INNER)   # a star's inner radius over its outer radius,
                                   # drawn per star from this range (people draw fatter and thinner stars)

    def __post_init__(self):
        if self.texture not in TEXTURES:
            raise ValueError(f"texture must be one of {list(TEXTURES)}; got {self.texture!r}")
        if not 0.25 <= self.aspect <= 4.0:
            raise ValueError(f"aspect (width / height) must be in 0.25..4; got {self.aspect!r}")


TEXTURES = ("plain", "noise", "gradient", "speckle")
# Which shades each colour's name covers: (hue range in degrees, saturation range, value range), as HSV.
SHADE_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "red": ((-10.0, 8.0), (0.65, 1.0), (0.55, 1.0)),
    "orange": ((22.0, 40.0), (0.75, 1.0), (0.85, 1.0)),
    "yellow": ((49.0, 62.0), (0.65, 1.0), (0.85, 1.0)),
    "green": ((95.0, 150.0), (0.55, 1.0), (0.4, 1.0)),
    "blue": ((205.0, 245.0), (0.55, 1.0), (0.5, 1.0)),
    "purple": ((268.0, 308.0), (0.45, 1.0), (0.4, 0.9)),
}
BACKGROUND_VALUES = {"white": (0.9, 1.0), "black": (0.0, 0.12), "gray": (0.38, 0.62)}   # HSV value, saturation ≤ 0.05
LONE_CENTRE_RANGE = (0.13, 0.87)   # a lone object's centre stays off the outer eighth of the frame, which the
                                   # prefix bridge's cells leave out
SIZE_MARGIN = 0.01                 # a drawn object's outer radius is at least this far from LARGE_FROM
PLACE_MARGIN = 0.04                # an object's centre is at least this much nearer its place than any other
# Outer radii (fractions of the longer side) that free geometry draws for each size word: a lone object from tiny to
# filling the frame; one beside others near the world's own sizes. Beside others at any size up to 0.2 and up to 0.2
# from its place's centre (as the second renderer draws them), a shape phase ended at 0.43 of validation regions'
# shapes named right (0.88 with these ranges): the region heads read each place's patches, and an object 0.2 away
# is no longer in them
LONE_RADII = {"small": (TINY_RADIUS, 0.095), "large": (0.125, FILLING_RADIUS)}
SIDE_BY_SIDE_RADII = {"small": (0.05, 0.095), "large": (0.125, 0.145)}
SIDE_BY_SIDE_SHIFT = 0.06          # of the frame: how far from its place's centre an object beside others may sit


@dataclass(frozen=True)
class Placement:
    """Where and how big one object is drawn, as fractions of the picture's frame (x of the width, y of the
    height) and outer radius of the longer side; angle in degrees."""

    cx: float
    cy: float
    radius: float
    angle: float = 0.0


def free_placements(scene: Scene, style: RenderStyle, rng: random.Random) -> list[Placement] | None:
    """With free geometry, one placement per object, true to its size word and place (size_word, place_of); None
    when several objects find no room in the style's frame (three large ones in a long thin frame). (The world's
    own geometry is placed object by object as it is drawn: _world_placement.)"""
    if len(scene.objects) == 1:
        return [_lone_placement(scene.objects[0], style, rng)]
    return _placements_side_by_side(scene.objects, style, rng)


WORLD_SQUARE_REACH = 0.86 * math.sqrt(2)   # the world's square has half-side 0.86 r: its corners reach this far


def _world_placement(obj: SceneObject, style: RenderStyle, rng: random.Random) -> Placement:
    cx, cy = REGION_CENTERS[obj.position]
    cx += rng.uniform(-style.position_jitter, style.position_jitter)
    cy += rng.uniform(-style.position_jitter, style.position_jitter)
    reach = WORLD_SQUARE_REACH if obj.shape == "square" else 1.0
    angle = rng.uniform(-style.max_rotation, style.max_rotation) if style.max_rotation else 0.0
    return Placement(cx, cy, SIZE_RADII[obj.size] * reach, angle)


def _frame(style: RenderStyle) -> tuple[float, float]:
    """(width, height) of the frame as fractions of its longer side."""
    return (1.0, 1.0 / style.aspect) if style.aspect >= 1 else (style.aspect, 1.0)


def _fits(cx: float, cy: float, radius: float, style: RenderStyle) -> bool:
    width, height = _frame(style)
    return radius <= cx * width <= width - radius and radius <= cy * height <= height - radius


def _lone_placement(obj: SceneObject, style: RenderStyle, rng: random.Random) -> Placement:
    """A lone object: any size its word covers (large: up to FILLING_RADIUS) and any centre nearer its place
    than any other place by PLACE_MARGIN, inside the frame. Shrinks towards the world's size when nothing fits."""
    low, high = LONE_RADII[obj.size]
    angle = rng.uniform(-style.max_rotation, style.max_rotation)
    for attempt in range(80):
        radius = math.exp(rng.uniform(math.log(low), math.log(high)))
        where = Placement(rng.uniform(*LONE_CENTRE_RANGE), rng.uniform(*LONE_CENTRE_RANGE), radius, angle)
        cx, cy, outer = extent(obj.shape, where, style)
        if (_fits(where.cx, where.cy, radius, style) and _clearly_at(cx, cy, obj.position)
                and _clearly_sized(outer, obj.size)):
            return where
        high = max(low, high * 0.95) if attempt % 4 == 3 else high
    return _world_placement(obj, RenderStyle(position_jitter=0.0), rng)


def extent(shape: str, where: Placement, style: RenderStyle) -> tuple[float, float, float]:
    """(centre x, centre y, outer radius) of a drawn object as the words measure them (size_word, place_of): the
    centre of its bounding box, in fractions of the frame, and the distance from there to its farthest point, as
    a fraction of the frame's longer side."""
    if shape == "circle":
        return where.cx, where.cy, where.radius
    width, height = _frame(style)
    corners = _shape_points(shape, where.cx * width, where.cy * height, where.radius, where.angle)
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    bx, by = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return bx / width, by / height, max(math.hypot(x - bx, y - by) for x, y in corners)


def _clearly_sized(outer: float, size: str) -> bool:
    """The outer radius names the size with room to spare (SIZE_MARGIN either side of LARGE_FROM)."""
    return outer >= LARGE_FROM + SIZE_MARGIN if size == "large" else outer <= LARGE_FROM - SIZE_MARGIN


def _clearly_at(cx: float, cy: float, position: str) -> bool:
    distances = sorted((math.hypot(REGION_CENTERS[p][0] - cx, REGION_CENTERS[p][1] - cy), p) for p in REGION_CENTERS)
    return distances[0][1] == position and distances[1][0] - distances[0][0] >= PLACE_MARGIN


def _placements_side_by_side(objects, style: RenderStyle, rng: random.Random) -> list[Placement] | None:
    """Several objects, placed one after another: each of any size its word covers beside others (SIDE_BY_SIDE_RADII)
    and centred anywhere up to SIDE_BY_SIDE_SHIFT from its place's centre, as long as it is clearly at its place
    (place_of, PLACE_MARGIN) and clearly of its size, inside the frame and apart from the others. None when the
    frame gives no room."""
    for _ in range(12):
        chosen: list[Placement] = []
        for obj in objects:
            where = _one_beside(obj, chosen, style, rng)
            if where is None:
                break
            chosen.append(where)
        else:
            return chosen
    return None


def _one_beside(obj: SceneObject, chosen: list[Placement], style: RenderStyle, rng: random.Random
                ) -> Placement | None:
    """One object's placement beside those already chosen, or None when 30 draws found no room."""
    low, high = SIDE_BY_SIDE_RADII[obj.size]
    px, py = REGION_CENTERS[obj.position]
    for _ in range(30):
        where = Placement(px + rng.uniform(-SIDE_BY_SIDE_SHIFT, SIDE_BY_SIDE_SHIFT),
                          py + rng.uniform(-SIDE_BY_SIDE_SHIFT, SIDE_BY_SIDE_SHIFT),
                          math.exp(rng.uniform(math.log(low), math.log(high))),
                          rng.uniform(-style.max_rotation, style.max_rotation))
        cx, cy, outer = extent(obj.shape, where, style)
        if (_fits(where.cx, where.cy, where.radius, style) and _clearly_at(cx, cy, obj.position)
                and _clearly_sized(outer, obj.size) and _apart([*chosen, where], style)):
            return where
    return None


def _apart(chosen: list[Placement], style: RenderStyle, gap: float = 0.015) -> bool:
    width, height = _frame(style)
    return all(math.hypot((a.cx - b.cx) * width, (a.cy - b.cy) * height) >= a.radius + b.radius + gap
               for i, a in enumerate(chosen) for b in chosen[i + 1:])


def _shape_points(shape: str, cx: float, cy: float, r: float, angle: float = 0.0, star_inner: float = STAR_INNER
                  ) -> list[tuple[float, float]]:
    """Corners of a shape of outer radius r centred on (cx, cy), turned by angle degrees (a star's inner corners at
    star_inner of r)."""
    turn = math.radians(angle)
    if shape == "square":
        corners = [(-math.pi * 3 / 4 + k * math.pi / 2, r) for k in range(4)]
    elif shape == "triangle":
        corners = [(a, r) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif shape == "star":
        corners = [(-math.pi / 2 + k * math.pi / 5, r if k % 2 == 0 else r * star_inner) for k in range(10)]
    else:
        raise ValueError(f"unknown shape {shape!r}; valid: {sorted(SHAPES)}")
    return [(cx + radius * math.cos(a + turn), cy + radius * math.sin(a + turn)) for a, radius in corners]


def _jitter_color(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(min(max(c + rng.randint(-amount, amount), 0), 255) for c in rgb)  # type: ignore[return-value]


def any_shade_of(color: str, rng: random.Random) -> tuple[int, int, int]:
    """A shade the colour's name covers (SHADE_RANGES)."""
    (h0, h1), (s0, s1), (v0, v1) = SHADE_RANGES[color]
    r, g, b = colorsys.hsv_to_rgb((rng.uniform(h0, h1) % 360) / 360, rng.uniform(s0, s1), rng.uniform(v0, v1))
    return int(r * 255), int(g * 255), int(b * 255)


def _object_fill(color: str, style: RenderStyle, rng: random.Random) -> tuple[int, int, int]:
    if style.any_shade and rng.random() < style.any_shade:
        return any_shade_of(color, rng)
    return _jitter_color(COLORS[color][0], rng, style.shade_jitter)


def _background(scene: Scene, style: RenderStyle, rng: random.Random, width: int, height: int) -> Image.Image:
    """The background in its colour (the world's shade, or any grey its name covers), with its texture."""
    if style.any_shade > 0 and rng.random() < style.any_shade:
        value = int(255 * rng.uniform(*BACKGROUND_VALUES[scene.background]))
        base = _jitter_color((value, value, value), rng, 6)
    else:
        base = _jitter_color(BACKGROUNDS[scene.background][0], rng, style.shade_jitter // 2)
    if style.texture == "plain":
        return Image.new("RGB", (width, height), base)
    noise = np.random.default_rng(rng.randrange(1 << 30))
    pixels = np.broadcast_to(np.array(base, dtype=np.float32), (height, width, 3)).copy()   # (H, W, 3)
    if style.texture == "noise":
        pixels += noise.normal(0.0, rng.uniform(3.0, 12.0), (height, width, 1))
    elif style.texture == "gradient":
        ramp = np.linspace(-1.0, 1.0, width if rng.random() < 0.5 else height, dtype=np.float32)
        ramp = ramp[None, :, None] if ramp.shape[0] == width else ramp[:, None, None]
        pixels += ramp * rng.uniform(6.0, 18.0)
    else:
        dots = noise.random((height, width, 1)) < rng.uniform(0.01, 0.04)
        pixels += dots * noise.choice([-1.0, 1.0]) * rng.uniform(20.0, 40.0)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def render_scene(scene: Scene, style: RenderStyle = RenderStyle()) -> Image.Image:
    """Draw a scene as an RGB picture whose longer side is style.size pixels (square by default)."""
    return draw_scene(scene, style).image


@dataclass(frozen=True)
class DrawnShape:
    """One object as it was drawn: its shape, where (Placement) and a star's inner radius over its outer one."""

    shape: str
    where: Placement
    star_inner: float


@dataclass(frozen=True)
class DrawnScene:
    """A rendered scene with the geometry of each of its objects (in scene.objects' order) and its frame
    ((width, height) as fractions of the longer side): what a training label that follows the pixels needs."""

    image: Image.Image
    shapes: tuple[DrawnShape, ...]
    frame: tuple[float, float]


def draw_scene(scene: Scene, style: RenderStyle = RenderStyle()) -> DrawnScene:
    """Draw a scene as an RGB picture whose longer side is style.size pixels, and say where each object went."""
    rng = random.Random(scene.shade_seed)
    planned = None
    if style.free_geometry:
        style, planned = _fitting_frame(scene, style, rng)
    frame_w, frame_h = _frame(style)
    width, height = max(1, round(style.size * frame_w)), max(1, round(style.size * frame_h))
    scale = _supersampling(style) if style.antialias else 1
    image = _background(scene, style, rng, width * scale, height * scale)
    draw = ImageDraw.Draw(image)
    shapes = []
    for k, obj in enumerate(scene.objects):
        where = planned[k] if planned else _world_placement(obj, style, rng)
        fill = _object_fill(obj.color, style, rng)
        line = _outline_width(where.radius * style.size * scale, style, rng)
        star_inner = _star_inner(style, rng)
        _draw_shape(draw, obj.shape, where.cx * width * scale, where.cy * height * scale,
                    where.radius * style.size * scale, where.angle, fill, line, star_inner)
        shapes.append(DrawnShape(obj.shape, where, star_inner))
    if scale > 1:
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return DrawnScene(image, tuple(shapes), (frame_w, frame_h))


def shape_corners(drawn: DrawnShape, frame: tuple[float, float], side: float) -> list[tuple[float, float]]:
    """The corners of a drawn polygon in a `side`-pixel square that the picture's frame is squashed into (as the
    image encoder sees it); for a circle, its bounding box's two corners."""
    width, height = frame
    where = drawn.where
    if drawn.shape == "circle":
        rx, ry = where.radius / width, where.radius / height
        return [((where.cx - rx) * side, (where.cy - ry) * side), ((where.cx + rx) * side, (where.cy + ry) * side)]
    corners = _shape_points(drawn.shape, where.cx * width, where.cy * height, where.radius, where.angle,
                            drawn.star_inner)
    return [(x / width * side, y / height * side) for x, y in corners]


def _fitting_frame(scene: Scene, style: RenderStyle, rng: random.Random) -> tuple[RenderStyle, list[Placement]]:
    """The style, its frame made less long and thin until the scene's objects find room (free_placements), and
    their placements; in a square frame at the world's own places when even that fails."""
    for _ in range(4):
        planned = free_placements(scene, style, rng)
        if planned is not None:
            return style, planned
        style = replace(style, aspect=math.sqrt(style.aspect))
    style = replace(style, aspect=1.0)
    return style, [_world_placement(o, RenderStyle(position_jitter=0.0), rng) for o in scene.objects]


def _supersampling(style: RenderStyle) -> int:
    """How many times larger an anti-aliased picture is drawn before it is brought down to its size: the world's own
    look 4 times (up to 512 px); other looks only as much as a 64-pixel encoder can tell (they train by the
    thousand)."""
    if not style.free_geometry:
        return 4 if style.size <= 512 else 2
    return 4 if style.size <= 64 else 2 if style.size <= 160 else 1


def _outline_width(radius_px: float, style: RenderStyle, rng: random.Random) -> int:
    """0 (filled) or the width of the outline an object is drawn with."""
    if style.outline and rng.random() < style.outline:
        return max(1, round(radius_px * rng.uniform(0.12, 0.3)))
    return 0


def _star_inner(style: RenderStyle, rng: random.Random) -> float:
    """A star's inner radius over its outer one; the world's own (no draw from rng) when the style fixes it."""
    low, high = style.star_inner
    return low if low == high else rng.uniform(low, high)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, angle: float,
                fill: tuple[int, int, int], line: int, star_inner: float = STAR_INNER) -> None:
    """One shape of outer radius r (pixels) centred on (cx, cy): filled, or outlined `line` pixels wide."""
    if shape == "circle":
        box = [cx - r, cy - r, cx + r, cy + r]
        if line:
            draw.ellipse(box, outline=fill, width=line)
        else:
            draw.ellipse(box, fill=fill)
        return
    corners = _shape_points(shape, cx, cy, r, angle, star_inner)
    if line:
        draw.polygon(corners, outline=fill, width=line)
    else:
        draw.polygon(corners, fill=fill)
