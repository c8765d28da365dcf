"""Side-by-side evaluation on pictures and sounds the models never trained with: the same measures on the training
renderer and synthesiser and on the second ones (outside_pictures, outside_sounds), every item saved as a file and
read back through the studio's own upload path; drawings judged by the image encoder and by a pixel check.

    python -m modules.training.evaluate_outside --limit 50
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image
from scipy import ndimage

from ..media import load_audio, load_image
from ..world.language import language_of
from ..world.pictures import COLORS, Scene, place_of, render_scene, size_word
from ..world.sounds import SAMPLE_RATE, Sound, synthesize
from ..world.talk import DRAW_TEMPLATES, Exchange, draw_object_phrase, picture_question
from .corpus import scenes_for, single_object_scenes_for, sounds_for
from .evaluate import (DESCRIBE, DRAW, SingleObjectJudge, Suite, expected_description, normalise, parse_caption,
                       scene_labels)
from .outside_pictures import COLOUR_FORMATS, draw_outside, save_outside_picture, visible_in_grey
from .outside_sounds import make_outside, save_outside_sound

# The bars for the held-out columns; the gap to the training column may be at most MAX_GAP_POINTS.
OUTSIDE_BARS = {"caption_exact_en": 0.95, "caption_exact_zh": 0.90, "picture_qa": 0.90, "object_count": 0.95,
                "beep_count": 0.95, "sound_description": 0.90, "answer_language": 1.00, "drawing_color": 0.95,
                "drawing_shape": 0.95, "drawing_place": 0.85, "drawing_size": 0.80}
MAX_GAP_POINTS = 5.0
COLUMNS = ("training", "outside")
COUNT_QUESTION = {"en": "How many objects are there?", "zh": "图中有几个物体？"}
BEEP_QUESTION = {"en": "How many beeps are there?", "zh": "有几声蜂鸣？"}
DESCRIBE_SOUND = {"en": "Describe this sound.", "zh": "描述这段声音。"}


@dataclass(frozen=True)
class OutsideConfig:
    items: int = 100            # test items per measure and column
    drawings: int = 60          # prompts for the drawing measures
    seed: int = 7


def question_about(scene: Scene, lang: str, rng: random.Random, held_out: bool) -> Exchange:
    """The one place where the wording of a picture question is chosen: a trained wording, or (held_out) one
    whose template, frame or prefix training never saw (modules/world/phrasing.py)."""
    return picture_question(scene, lang, rng, held_out=held_out)


# ---- items, read back as the studio reads an upload -------------------------------------------------------

@dataclass
class PictureItem:
    scene: Scene
    picture: Image.Image        # as load_image returns it
    kind: str                   # file format
    encoded: object = None      # the image encoder's output, computed once


@dataclass
class SoundItem:
    sound: Sound
    wave: np.ndarray            # as load_audio returns it, (samples,) at 16 kHz
    kind: str
    encoded: object = None


def training_pictures(count: int, seed: int, folder: Path) -> list[PictureItem]:
    items = []
    for k, scene in enumerate(scenes_for("test", count, seed)):
        path = folder / f"train-{k}.png"
        render_scene(scene).save(path)
        items.append(PictureItem(scene, load_image(path), "png"))
    return items


def outside_picture_items(count: int, seed: int, folder: Path, kinds: tuple[str, ...]) -> list[PictureItem]:
    rng = random.Random(f"outside-pictures-{seed}-{','.join(kinds)}")
    items = []
    while len(items) < count:
        drawn = draw_outside(rng)
        if kinds == ("grey",) and not visible_in_grey(drawn):
            continue                                        # colour alone told an object from the paper
        path, kind, shown = save_outside_picture(drawn, folder, f"outside-{kinds[0]}-{len(items)}", rng, kinds)
        items.append(PictureItem(shown, load_image(path), kind))
    return items


def training_sounds(sounds: list[Sound], folder: Path) -> list[SoundItem]:
    items = []
    for k, sound in enumerate(sounds):
        path = folder / f"train-{k}.wav"
        sf.write(path, synthesize(sound), SAMPLE_RATE, subtype="FLOAT")
        items.append(SoundItem(sound, load_audio(path), "wav-float"))
    return items


def outside_sound_items(sounds: list[Sound], seed: int, folder: Path) -> list[SoundItem]:
    """The same words as the training items, made by the second synthesiser with variations of its own."""
    rng = random.Random(f"outside-sounds-{seed}")
    items = []
    for k, sound in enumerate(sounds):
        made = make_outside(Sound(sound.kind, sound.pitch, sound.timbre, sound.count, rng.randrange(1 << 30)))
        path, kind = save_outside_sound(made, folder, f"outside-{sound.kind}-{k}", rng)
        items.append(SoundItem(made.sound, load_audio(path), kind))
    return items


def encoded(suite: Suite, item) -> object:
    if item.encoded is None:
        item.encoded = (suite.image_encoder.encode(item.picture) if isinstance(item, PictureItem)
                        else suite.audio_encoder.encode(item.wave))
    return item.encoded


# ---- measures: each returns [right, asked] and adds every answer, with its language, to `answers` -----------

_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_ZH_NUMBERS = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6}


def number_in(answer: str, lang: str) -> int | None:
    """The first count an answer names ("There are two objects." -> 2, "有三声蜂鸣。" -> 3); None when none."""
    if lang == "en":
        found = re.search(r"\b(one|two|three|four|five|six|\d)\b", answer.lower())
        return None if found is None else _EN_NUMBERS.get(found.group(1)) or int(found.group(1))
    found = re.search(r"([一两二三四五六]|\d)\s*[个声]", answer)
    return None if found is None else _ZH_NUMBERS.get(found.group(1)) or int(found.group(1))


def ask(suite: Suite, question: str, item, answers: list, lang: str) -> str:
    kind = "image" if isinstance(item, PictureItem) else "audio"
    text = suite.answer(question, kind, encoded(suite, item))
    answers.append((lang, text))
    return text


def captions(suite: Suite, items: list[PictureItem], lang: str, answers: list, by_kind: dict,
             by_attribute: dict) -> list[int]:
    """Exact captions; by_kind collects [right, asked] per file format, by_attribute per attribute (the caption
    names the right colours, in any order, whatever it says of the rest; likewise shapes, sizes, places, count)."""
    right = 0
    for item in items:
        named, true = parse_caption(ask(suite, DESCRIBE[lang], item, answers, lang), lang), scene_labels(item.scene)
        hit = named == true
        right += hit
        add(by_kind, item.kind, hit)
        add(by_attribute, "count", len(named) == len(true))
        for k, attribute in enumerate(("size", "color", "shape", "place")):
            add(by_attribute, attribute, sorted(o[k] for o in named) == sorted(o[k] for o in true))
    return [right, len(items)]


def add(tallies: dict[str, list[int]], key: str, hit: bool) -> None:
    tally = tallies.setdefault(key, [0, 0])
    tally[0], tally[1] = tally[0] + hit, tally[1] + 1


def questions(suite: Suite, items: list[PictureItem], lang: str, answers: list, seed: int, held_out: bool
              ) -> list[int]:
    rng = random.Random(f"outside-qa-{lang}-{seed}")
    right = 0
    for item in items:
        exchange = question_about(item.scene, lang, rng, held_out)
        right += normalise(ask(suite, exchange.question, item, answers, lang)) == normalise(exchange.answer)
    return [right, len(items)]


def object_counts(suite: Suite, items: list[PictureItem], lang: str, answers: list) -> list[int]:
    right = sum(number_in(ask(suite, COUNT_QUESTION[lang], item, answers, lang), lang) == len(item.scene.objects)
                for item in items)
    return [right, len(items)]


def beep_counts(suite: Suite, items: list[SoundItem], lang: str, answers: list) -> list[int]:
    right = sum(number_in(ask(suite, BEEP_QUESTION[lang], item, answers, lang), lang) == item.sound.count
                for item in items)
    return [right, len(items)]


def descriptions(suite: Suite, items: list[SoundItem], lang: str, answers: list, by_kind: dict) -> list[int]:
    right = 0
    for item in items:
        hit = expected_description(item.sound, lang).lower() in ask(suite, DESCRIBE_SOUND[lang], item, answers,
                                                                    lang).lower()
        right += hit
        add(by_kind, item.sound.kind, hit)
    return [right, len(items)]


@dataclass
class Column:
    """The items of one distribution and what the models made of them."""

    pictures: list[PictureItem]
    sounds: list[SoundItem]
    beeps: list[SoundItem]
    tallies: dict[str, list[int]] = field(default_factory=dict)
    answers: list[tuple[str, str]] = field(default_factory=list)
    captions_by_format: dict[str, list[int]] = field(default_factory=dict)
    captions_by_attribute: dict[str, list[int]] = field(default_factory=dict)
    sounds_by_kind: dict[str, list[int]] = field(default_factory=dict)
    held_out_wordings: bool = False    # picture questions worded only as training never words them

    def measure(self, suite: Suite, seed: int) -> None:
        for lang in ("en", "zh"):
            a = self.answers
            self.tallies[f"caption_exact_{lang}"] = captions(suite, self.pictures, lang, a, self.captions_by_format,
                                                             self.captions_by_attribute)
            self.tallies[f"picture_qa_{lang}"] = questions(suite, self.pictures, lang, a, seed,
                                                             self.held_out_wordings)
            self.tallies[f"object_count_{lang}"] = object_counts(suite, self.pictures, lang, a)
            self.tallies[f"beep_count_{lang}"] = beep_counts(suite, self.beeps, lang, a)
            self.tallies[f"sound_description_{lang}"] = descriptions(suite, self.sounds, lang, a, self.sounds_by_kind)
        self.tallies["answer_language"] = [sum(language_of(text) == lang for lang, text in self.answers),
                                           len(self.answers)]


# ---- drawings ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Blob:
    color: str
    position: str
    size: str


def pixel_check(image: Image.Image, min_distance: float = 60.0) -> Blob | None:
    """The largest blob of pixels far from the background (the median of the border): the world colour nearest
    its median colour, the place of its bounding-box centre (place_of) and the size of its outer radius, centre
    to farthest pixel, over the longer side (size_word); box and radius are measured on the pixels the blob
    covers at least half (as far from the background as half its inside is), so a soft edge does not grow it. The colour is read from the quarter of the blob's pixels
    farthest from the background, so that a soft edge fading into white does not turn red into orange.
    None when nothing stands out."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)                              # (h, w, 3)
    height, width = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])                     # (n, 3)
    distance = np.linalg.norm(rgb - np.median(border, axis=0), axis=2)                    # (h, w)
    foreground = distance > min_distance
    labels, count = ndimage.label(foreground)
    if count == 0:
        return None
    largest = 1 + int(np.argmax(ndimage.sum(foreground, labels, range(1, count + 1))))
    ys, xs = np.nonzero(labels == largest)
    core = distance[ys, xs] >= np.percentile(distance[ys, xs], 75)       # the blob's inside, not its soft edge
    half = distance[ys, xs] >= 0.5 * np.median(distance[ys[core], xs[core]])   # pixels at least half covered
    px, py = xs[half] + 0.5, ys[half] + 0.5                                                # pixel centres
    cx, cy = (px.min() + px.max()) / 2, (py.min() + py.max()) / 2
    outer = float(np.hypot(px - cx, py - cy).max())
    names = sorted(COLORS)
    palette = np.array([COLORS[name][0] for name in names], dtype=np.float64)            # (colours, 3)
    median = np.median(rgb[ys[core], xs[core]], axis=0)                                   # (3,)
    color = names[int(np.linalg.norm(palette - median, axis=1).argmin())]
    return Blob(color, place_of(cx / width, cy / height), size_word(outer / max(width, height)))


def drawings(suite: Suite, count: int, seed: int) -> dict[str, dict[str, list[int]]]:
    """Prompts naming colour and shape, and half the time size and place; each drawing judged twice: by the best
    single-object caption of the image encoder and by pixel_check (which cannot judge shape). Place and size are
    measured only for prompts that name them."""
    reader = SingleObjectJudge(suite.image_encoder)
    rng = random.Random(f"outside-draw-{seed}")
    judges: dict[str, dict[str, list[int]]] = {"encoder": {}, "pixels": {}}
    for k, scene in enumerate(single_object_scenes_for("test", count, seed)):
        lang, obj = ("en", "zh")[k % 2], scene.objects[0]
        named_size, named_place = rng.random() < 0.5, rng.random() < 0.5
        prompt = rng.choice(DRAW_TEMPLATES[lang]).format(
            x=draw_object_phrase(obj, lang, rng, named_size, named_place))
        image = suite.image_decoder.draw(prompt, DRAW.steps, DRAW.guidance, seed + k)
        best = reader.read(image)
        blob = pixel_check(image)
        asked = {"color": True, "shape": True, "size": named_size, "place": named_place}
        for judge, seen in (("encoder", best), ("pixels", blob)):
            for attribute, wanted in asked.items():
                if not wanted or (judge == "pixels" and attribute == "shape"):
                    continue
                name = "position" if attribute == "place" else attribute
                hit = seen is not None and getattr(seen, name) == getattr(obj, name)
                tally = judges[judge].setdefault(f"drawing_{attribute}", [0, 0])
                tally[0], tally[1] = tally[0] + hit, tally[1] + 1
    return judges


# ---- the whole comparison ---------------------------------------------------------------------------------

def evaluate_outside(suite: Suite, config: OutsideConfig = OutsideConfig()) -> dict:
    """Every measure for each column, the drawings by each judge, and the bars: a dict ready for metrics.json."""
    started = time.time()
    n, seed = config.items, config.seed
    sounds = sounds_for("test", n, seed)
    beeps = [s for s in sounds_for("test", 4 * n, seed + 1) if s.kind == "beeps"][:n]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        columns = {"training": Column(training_pictures(n, seed, folder), training_sounds(sounds, folder),
                                      training_sounds(beeps, folder)),
                   "outside": Column(outside_picture_items(n, seed, folder, COLOUR_FORMATS),
                                     outside_sound_items(sounds, seed, folder),
                                     outside_sound_items(beeps, seed + 1, folder), held_out_wordings=True)}
        grey = outside_picture_items(max(1, n // 4), seed, folder, ("grey",))
    for column in columns.values():
        column.measure(suite, seed)
    grey_counts = {f"object_count_{lang}": object_counts(suite, grey, lang, []) for lang in ("en", "zh")}
    judges = drawings(suite, config.drawings, seed)
    return {"items": n, "bars": OUTSIDE_BARS, "max_gap_points": MAX_GAP_POINTS,
            "columns": {name: shares(column.tallies) for name, column in columns.items()},
            "tallies": {name: column.tallies for name, column in columns.items()},
            "outside_captions_by_format": fractions(columns["outside"].captions_by_format),
            "captions_by_attribute": {name: fractions(c.captions_by_attribute) for name, c in columns.items()},
            "sound_descriptions_by_kind": {name: fractions(c.sounds_by_kind) for name, c in columns.items()},
            "outside_greyscale_files": shares(grey_counts),
            "drawings": {judge: shares(tallies) for judge, tallies in judges.items()},
            "drawing_tallies": judges, "seconds": round(time.time() - started, 1)}


def fractions(tallies: dict[str, list[int]]) -> dict[str, str]:
    return {key: f"{right}/{asked}" for key, (right, asked) in sorted(tallies.items())}


def shares(tallies: dict[str, list[int]]) -> dict[str, float]:
    return {key: right / asked for key, (right, asked) in tallies.items() if asked}


def bar_of(key: str, bars: dict[str, float] = OUTSIDE_BARS) -> float | None:
    """A measure's bar: its own, or its language-free name's ("caption_exact_en" -> "caption_exact")."""
    return bars.get(key, bars.get(re.sub(r"_(en|zh)$", "", key)))


def outside_bars_met(figures: dict) -> bool:
    """Every barred outside figure at its bar and within MAX_GAP_POINTS of the training column; drawings' too."""
    training, outside = figures["columns"]["training"], figures["columns"]["outside"]
    columns_met = all(value >= bar_of(key) and 100 * (training[key] - value) <= MAX_GAP_POINTS
                      for key, value in outside.items() if bar_of(key) is not None)
    drawings = {**figures["drawings"]["encoder"], **figures["drawings"]["pixels"]}
    return columns_met and all(value >= bar_of(key) for key, value in drawings.items() if bar_of(key) is not None)


def format_outside_table(figures: dict) -> str:
    """Training and outside columns side by side with the bar and the gap; then drawings by each judge."""
    training, outside = figures["columns"]["training"], figures["columns"]["outside"]
    lines = [f"{'pictures and sounds from outside':<30}{'training':>10}{'outside':>10}{'bar':>7}{'gap':>7}  ok",
             "-" * 70, "(outside: the second renderer and synthesiser, picture questions in held-out wordings)"]
    for key, value in outside.items():
        bar, gap = bar_of(key), 100 * (training[key] - value)
        ok = "" if bar is None else ("yes" if value >= bar and gap <= MAX_GAP_POINTS else "NO")
        lines.append(f"{key:<30}{training[key]:>10.3f}{value:>10.3f}{bar:>7.2f}{gap:>7.1f}  {ok}")
    for key, value in figures["outside_greyscale_files"].items():
        lines.append(f"{key + ' (greyscale files)':<30}{'':>10}{value:>10.3f}{bar_of(key):>7.2f}")
    lines += ["", f"{'drawings (prompted attribute)':<30}{'encoder':>10}{'pixels':>10}{'bar':>7}", "-" * 70]
    encoder, pixels = figures["drawings"]["encoder"], figures["drawings"]["pixels"]
    for key, value in encoder.items():
        by_pixels = f"{pixels[key]:>10.3f}" if key in pixels else f"{'-':>10}"
        asked = figures["drawing_tallies"]["encoder"][key][1]
        lines.append(f"{key + f' ({asked} asked)':<30}{value:>10.3f}{by_pixels}{bar_of(key):>7.2f}")
    lines.append("outside captions right by file format (en and zh): "
                 + "; ".join(f"{k} {v}" for k, v in figures["outside_captions_by_format"].items()))
    for title, key in (("captions naming the right", "captions_by_attribute"),
                       ("sounds described right, by kind", "sound_descriptions_by_kind")):
        for column, tallies in figures[key].items():
            lines.append(f"{title} ({column}): " + "; ".join(f"{k} {v}" for k, v in tallies.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.training.evaluate_outside",
                                     description="Measure the built-in suite on pictures and sounds from outside.")
    parser.add_argument("--folder", type=Path, default=Path("assets/mini"), help="the suite's folder")
    parser.add_argument("--limit", type=int, default=100, help="test items per measure and column")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error(f"--limit must be at least 1 (got {args.limit})")
    figures = evaluate_outside(Suite.load(args.folder), OutsideConfig(items=args.limit,
                                                                        drawings=min(args.limit, 60)))
    print(format_outside_table(figures))
    print(f"({figures['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
