"""The second renderer and synthesiser tell the truth about what they make, checked from the pixels and samples
alone, and every file format they save survives the studio's upload path."""
import colorsys
import random
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from modules.media import load_audio, load_image
from modules.training.evaluate_outside import number_in, pixel_check
from modules.training.outside_pictures import (PICTURE_FORMATS, OutsideStyle, draw_outside, save_outside_picture,
                                               visible_in_grey)
from modules.training.outside_sounds import (RATES, SOUND_FORMATS, OutsideSoundStyle, glide, make_outside,
                                             save_outside_sound)
from modules.world.pictures import LARGE_FROM, Scene, SceneObject, place_of, render_scene
from modules.world.sounds import PITCHES, Sound, pitch_of

FILLED = OutsideStyle(outline_share=0.0)
# Hue ranges in degrees, written for this test: which colour word a painted pixel deserves.
HUES = {"red": [(0, 15), (340, 360)], "orange": [(18, 47)], "yellow": [(48, 72)], "green": [(80, 170)],
        "blue": [(190, 255)], "purple": [(256, 320)]}


def hue_word(rgb: np.ndarray) -> str | None:
    hue = colorsys.rgb_to_hsv(*(rgb / 255.0))[0] * 360
    return next((word for word, spans in HUES.items() if any(a <= hue <= b for a, b in spans)), None)


def blobs(picture) -> list[tuple[str, str | None, str]]:
    """Every blob far from the border's colour: (place of its box centre, hue word of its core, size word)."""
    rgb = np.asarray(picture.convert("RGB"), dtype=float)                                # (h, w, 3)
    height, width = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    distance = np.linalg.norm(rgb - np.median(border, axis=0), axis=2)                   # (h, w)
    labels, count = ndimage.label(distance > 60)
    found = []
    for k in range(1, count + 1):
        ys, xs = np.nonzero(labels == k)
        if len(xs) < 4:
            continue                                          # a speck of compression noise, not an object
        core = distance[ys, xs] >= np.percentile(distance[ys, xs], 75)
        half = distance[ys, xs] >= distance[ys[core], xs[core]].mean() / 2      # covered at least half
        cx, cy = (xs[half].min() + xs[half].max() + 1) / 2, (ys[half].min() + ys[half].max() + 1) / 2
        outer = np.hypot(xs[half] + 0.5 - cx, ys[half] + 0.5 - cy).max()
        size = "large" if outer / max(width, height) >= LARGE_FROM else "small"
        found.append((place_of(cx / width, cy / height), hue_word(np.median(rgb[ys[core], xs[core]], axis=0)), size))
    return sorted(found)


def expected_blobs(scene: Scene, with_colour: bool = True) -> list[tuple[str, str | None, str]]:
    return sorted((o.position, o.color if with_colour else None, o.size) for o in scene.objects)


def test_filled_pictures_show_the_objects_their_labels_name_apart_from_each_other():
    rng = random.Random(11)
    for _ in range(40):
        drawn = draw_outside(rng, FILLED)
        assert blobs(drawn.image) == expected_blobs(drawn.scene), (drawn.image.size, drawn.scene)


def test_pictures_cover_the_ranges_asked_for():
    rng = random.Random(5)
    drawn = [draw_outside(rng) for _ in range(100)]
    sizes = [d.image.size for d in drawn]
    assert min(min(s) for s in sizes) >= 32 and max(max(s) for s in sizes) <= 1024
    assert max(max(s) for s in sizes) > 600 and any(w > 1.8 * h for w, h in sizes) and any(h > 1.8 * w for w, h in sizes)
    objects = [o for d in drawn for o in d.scene.objects]
    assert {o.size for o in objects} == {"small", "large"} and len({o.position for o in objects}) == 5
    assert {len(d.scene.objects) for d in drawn} == {1, 2, 3}
    assert {d.scene.background for d in drawn} == {"white", "black", "gray"}


@pytest.mark.parametrize("kind", PICTURE_FORMATS)
def test_every_picture_format_reads_back_through_the_upload_path_showing_the_same(kind, tmp_path):
    rng = random.Random(f"formats-{kind}")
    for k in range(8):
        drawn = draw_outside(rng, replace(FILLED, min_side=96))
        while kind == "grey" and not visible_in_grey(drawn):
            drawn = draw_outside(rng, replace(FILLED, min_side=96))
        path, saved_as, shown = save_outside_picture(drawn, tmp_path, f"p{k}", rng, (kind,))
        loaded = load_image(path)
        assert saved_as == kind and loaded.mode == "RGB" and loaded.size == drawn.image.size
        assert blobs(loaded) == expected_blobs(shown, with_colour=kind != "grey") or kind == "grey" and [
            (p, s) for p, _, s in blobs(loaded)] == [(p, s) for p, _, s in expected_blobs(shown)], (kind, drawn.scene)
        if kind == "rgba":      # the transparent background comes out white, as the label now says
            assert shown.background == "white" and np.asarray(loaded)[0].mean() > 240


def test_the_pixel_check_reads_colour_place_and_size_of_the_training_renderers_pictures():
    rng = random.Random(3)
    for _ in range(30):
        obj = SceneObject(rng.choice(list(HUES)), rng.choice(["circle", "square", "triangle", "star"]),
                          rng.choice(["small", "large"]), rng.choice(["left", "right", "top", "bottom", "center"]))
        blob = pixel_check(render_scene(Scene("white", (obj,), rng.randrange(1000))))
        assert (blob.color, blob.position, blob.size) == (obj.color, obj.position, obj.size), obj


def test_a_greyscale_file_is_refused_for_a_picture_whose_objects_would_vanish_without_colour(tmp_path):
    rng = random.Random(9)
    drawn = draw_outside(rng, FILLED)
    while visible_in_grey(drawn):
        drawn = draw_outside(rng, FILLED)
    with pytest.raises(ValueError, match="grey"):
        save_outside_picture(drawn, tmp_path, "p", rng, ("grey",))


def test_counts_are_read_from_answers_in_both_languages():
    assert number_in("There are three objects.", "en") == 3 and number_in("There is one beep.", "en") == 1
    assert number_in("图中有两个物体。", "zh") == 2 and number_in("有四声蜂鸣。", "zh") == 4
    assert number_in("A large red circle in the center.", "en") is None


# ---- sounds -----------------------------------------------------------------------------------------------

def mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def beeps_heard(samples: np.ndarray, rate: int) -> int:
    """Beeps counted from the loudness envelope alone: runs of 5 ms frames above a third of the loudest."""
    frame = max(1, rate // 200)
    wave = mono(samples)[: len(samples) // frame * frame]
    loudness = np.sqrt((wave.reshape(-1, frame) ** 2).mean(axis=1))                    # (frames,)
    loud = loudness > loudness.max() / 3
    return int(np.sum(loud[1:] & ~loud[:-1]) + loud[0])


def dominant_hz(samples: np.ndarray, rate: int, start: float, length: float = 0.12) -> float:
    piece = mono(samples)[int(start * rate): int((start + length) * rate)]
    spectrum = np.abs(np.fft.rfft(piece * np.hanning(len(piece)), n=1 << 17))
    return float(np.argmax(spectrum) * rate / (1 << 17))


@pytest.mark.parametrize("beep,gap", [((0.05, 0.05), (0.05, 0.05)), ((0.4, 0.4), (0.6, 0.6)),
                                      ((0.05, 0.05), (0.6, 0.6)), ((0.4, 0.4), (0.05, 0.05)),
                                      ((0.05, 0.4), (0.05, 0.6))])
def test_the_beep_count_can_be_heard_in_the_samples_over_the_whole_range_of_beeps_and_gaps(beep, gap):
    style = OutsideSoundStyle(beep_seconds=beep, gap_seconds=gap)
    for seed in range(24):
        count = 1 + seed % 4
        made = make_outside(Sound("beeps", "medium", ("pure", "buzzy")[seed % 2], count, seed), style)
        assert beeps_heard(made.samples, made.rate) == count, (beep, gap, seed, made.rate)
        assert 0.3 <= len(made.samples) / made.rate <= 6.0 + 1e-3


def test_tones_stay_on_their_pitch_and_sweeps_glide_the_way_they_are_named():
    """A tone holds one frequency that its pitch word names (the nearest of the three on a log scale), anywhere in
    the word's range, not only at 220, 440 or 880 Hz."""
    heard = {pitch: [] for pitch in PITCHES}
    for seed in range(30):
        for pitch in PITCHES:
            made = make_outside(Sound("tone", pitch, ("pure", "buzzy")[seed % 2], None, seed))
            seconds = len(made.samples) / made.rate
            start, end = dominant_hz(made.samples, made.rate, 0.05), dominant_hz(made.samples, made.rate,
                                                                                    seconds - 0.17)
            assert abs(end / start - 1) < 0.02 and pitch_of(start) == pitch, (pitch, seed, start)
            heard[pitch].append(start)
        for kind in ("rising", "falling"):
            made = make_outside(Sound(kind, None, ("pure", "buzzy")[seed % 2], None, seed))
            seconds = len(made.samples) / made.rate
            ratio = dominant_hz(made.samples, made.rate, seconds - 0.15, 0.1) / dominant_hz(
                made.samples, made.rate, 0.05, 0.1)
            assert (ratio > 2.0) if kind == "rising" else (ratio < 0.5), (kind, seed, ratio)
    assert all(max(hz) / min(hz) > 1.5 for hz in heard.values()), {p: (min(hz), max(hz)) for p, hz in heard.items()}


def overtone_share(samples: np.ndarray, rate: int, start: float, seconds: float = 0.05) -> float:
    """The share of a window's energy above 1.5x its strongest frequency: about 0.1 with a square's third
    harmonic, near 0 for a sine."""
    window = samples[int(start * rate): int((start + seconds) * rate)]
    power = np.abs(np.fft.rfft(window * np.hanning(len(window)))) ** 2                  # (bins,)
    freqs = np.fft.rfftfreq(len(window), 1 / rate)
    return float(power[freqs > 1.5 * freqs[np.argmax(power)]].sum() / power.sum())


@pytest.mark.parametrize("rate", RATES)
def test_a_buzzy_sweep_keeps_overtones_at_every_rate_and_a_pure_one_has_none(rate):
    for seed in range(12):
        for kind in ("rising", "falling"):
            frames = int(1.0 * rate)
            buzzy = glide(kind, "buzzy", frames, rate, random.Random(seed))
            pure = glide(kind, "pure", frames, rate, random.Random(seed))
            highest = 0.9 if kind == "rising" else 0.05                          # where the sweep is highest
            assert overtone_share(buzzy, rate, highest) > 0.04, (kind, seed)
            assert overtone_share(pure, rate, highest) < 0.01, (kind, seed)


@pytest.mark.parametrize("kind", SOUND_FORMATS)
def test_every_sound_format_reads_back_through_the_upload_path_with_its_beeps_and_pitch(kind, tmp_path):
    rng = random.Random(f"sound-formats-{kind}")
    for k in range(6):
        made = make_outside(Sound("beeps", "high", "pure", 1 + k % 4, 100 + k))
        path, saved_as = save_outside_sound(made, tmp_path, f"s{k}", rng, (kind,))
        heard = load_audio(path)                                                # (samples,) at 16 kHz
        assert saved_as == kind
        assert abs(len(heard) / 16_000 - len(made.samples) / made.rate) < 0.08
        assert beeps_heard(heard, 16_000) == made.sound.count, (kind, made.rate)
        assert pitch_of(dominant_hz(heard, 16_000, 0.0, len(heard) / 16_000)) == "high"
