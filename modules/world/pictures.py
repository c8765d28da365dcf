"""The built-in world's pictures: scenes of coloured shapes, how they are drawn, and their bilingual captions."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class RenderStyle:
    """How a scene is drawn; the defaults are the training look, the rest are robustness variations."""

    size: int = 64
    antialias: bool = True
    shade_jitter: int = 14        # max change per colour channel
    position_jitter: float = 0.03  # max shift of an object's centre, fraction of the side


def _shape_points(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        h = r * 0.86
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}; valid: {sorted(SHAPES)}")


def _jitter_color(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(min(max(c + rng.randint(-amount, amount), 0), 255) for c in rgb)  # type: ignore[return-value]


def render_scene(scene: Scene, style: RenderStyle = RenderStyle()) -> Image.Image:
    """Draw a scene as an RGB picture of style.size × style.size pixels."""
    rng = random.Random(scene.shade_seed)
    scale = 4 if style.antialias else 1
    side = style.size * scale
    background = _jitter_color(BACKGROUNDS[scene.background][0], rng, style.shade_jitter // 2)
    image = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        cx, cy = REGION_CENTERS[obj.position]
        cx += rng.uniform(-style.position_jitter, style.position_jitter)
        cy += rng.uniform(-style.position_jitter, style.position_jitter)
        r = SIZE_RADII[obj.size] * side
        fill = _jitter_color(COLORS[obj.color][0], rng, style.shade_jitter)
        if obj.shape == "circle":
            draw.ellipse([cx * side - r, cy * side - r, cx * side + r, cy * side + r], fill=fill)
        else:
            draw.polygon(_shape_points(obj.shape, cx * side, cy * side, r), fill=fill)
    if scale > 1:
        image = image.resize((style.size, style.size), Image.Resampling.LANCZOS)
    return image
