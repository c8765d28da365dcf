"""Training pictures and sounds made the ways people make them: every label stays true, and training sees them as the
studio does."""
import random

import numpy as np
import torch
from PIL import Image

from modules.encoders.audio_model import MiniAudioConfig, MiniAudioEncoder, trim_silence
from modules.training.augment import as_the_studio_sees, people_style, picture_to_tensor
from modules.training.corpus import scenes_for, sounds_for
from modules.training.evaluate_outside import pixel_check
from modules.world.pictures import RenderStyle, Scene, SceneObject, free_placements, render_scene
from modules.world.sounds import LONGEST_SECONDS, PITCHES, Sound, SoundStyle, pitch_of, synthesize

RATE = 16_000


def test_lone_objects_drawn_the_ways_people_draw_are_where_and_as_big_as_their_words_say():
    rng = random.Random(3)
    checked = 0
    for scene in scenes_for("train", 400, 5):
        if len(scene.objects) != 1:
            continue
        style = people_style(rng)
        style = RenderStyle(size=256, aspect=style.aspect, free_geometry=True, any_shade=1.0,
                            max_rotation=style.max_rotation)                 # filled, plain, large enough to measure
        blob = pixel_check(render_scene(scene, style))
        obj = scene.objects[0]
        assert (blob.position, blob.size) == (obj.position, obj.size), (scene, style)
        checked += 1
    assert checked > 80


def blobs_by_place(image: Image.Image) -> dict[str, str]:
    """Place -> size word of every blob that stands out from the background (filled shapes on plain paper)."""
    from scipy import ndimage
    from modules.world.pictures import place_of, size_word
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)                              # (h, w, 3)
    height, width = rgb.shape[:2]
    labels, count = ndimage.label(np.linalg.norm(rgb - rgb[0, 0], axis=2) > 60)
    found = {}
    for k in range(1, count + 1):
        ys, xs = np.nonzero(labels == k)
        if len(ys) < 4:
            continue
        px, py = xs + 0.5, ys + 0.5
        cx, cy = (px.min() + px.max()) / 2, (py.min() + py.max()) / 2
        found[place_of(cx / width, cy / height)] = size_word(float(np.hypot(px - cx, py - cy).max()) / max(width, height))
    return found


def test_several_objects_drawn_the_ways_people_draw_keep_their_places_and_sizes_in_any_frame():
    rng = random.Random(4)
    checked = 0
    for scene in scenes_for("train", 300, 6):
        if len(scene.objects) == 1:
            continue
        style = RenderStyle(size=512, aspect=people_style(rng).aspect, free_geometry=True, antialias=False,
                            star_inner=(0.36, 0.55))
        found = blobs_by_place(render_scene(scene, style))
        assert found == {o.position: o.size for o in scene.objects}, (scene, style)
        checked += 1
    assert checked > 150


def test_people_style_reaches_from_tiny_objects_to_ones_that_fill_the_frame():
    """The placements drawn (the test above reads them back from the pixels): outer radii of lone circles."""
    style = RenderStyle(size=256, free_geometry=True)
    outers = [free_placements(Scene("white", (SceneObject("red", "circle", size, "center"),)), style,
                              random.Random(k))[0].radius
              for size in ("small", "large") for k in range(60)]
    assert min(outers) < 0.05 and max(outers) > 0.35


def test_training_brings_a_picture_to_the_encoder_exactly_as_the_studio_does():
    from modules.encoders.image import ImageEncoder
    encoder = ImageEncoder.load("local-dir:assets/mini/image_encoder", torch.device("cpu"), torch.float32)
    scene = scenes_for("test", 1, 2)[0]
    upload = render_scene(scene, RenderStyle(size=300, aspect=1.6, free_geometry=True))
    studio = encoder._pixels(upload)[0]                                                    # (3, 64, 64)
    assert torch.allclose(picture_to_tensor(as_the_studio_sees(upload, 64)), studio, atol=1e-5)


def loud_stretches(samples: np.ndarray, frame: int = 80) -> list[tuple[int, int]]:
    """(start, end) frames of 5 ms whose RMS is above a tenth of the loudest."""
    count = len(samples) // frame
    rms = np.sqrt((samples[: count * frame].reshape(count, frame) ** 2).mean(axis=1))
    loud = rms > rms.max() * 0.1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def test_freely_timed_beeps_stay_countable_and_every_sound_lasts_0_3_to_6_seconds():
    for k in range(300):
        sound = Sound("beeps", "medium", "pure" if k % 2 else "buzzy", 1 + k % 4, k)
        samples = synthesize(sound, style=SoundStyle(free_timing=True))
        assert len(loud_stretches(samples)) == sound.count, sound
        assert 0.3 <= len(samples) / RATE <= LONGEST_SECONDS
    lengths = [len(synthesize(s, style=SoundStyle(free_timing=True))) / RATE for s in sounds_for("train", 200, 1)]
    assert min(lengths) < 0.8 and max(lengths) > 4.0


def share_of_power(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    """The share of a sound's power between two frequencies."""
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float(power[(frequencies >= low_hz) & (frequencies < high_hz)].sum() / power.sum())


def test_freely_made_buzzy_sounds_come_as_naive_band_limited_and_soft_squares():
    """A naive square's harmonics fold back from above the rate (power above 0.45 of it); a band-limited one, as
    other programs make it, has none there; a soft one keeps its first few partials alone (at most the seventh
    harmonic: nothing above 2.5 kHz for a low tone, where the others have their higher harmonics). People bring
    all three, so training hears all three."""
    above = [share_of_power(synthesize(Sound(kind, "high" if kind == "tone" else None, "buzzy", None, k),
                                       style=SoundStyle(free_timing=True)), 0.45 * RATE, RATE / 2)
             for kind in ("tone", "rising") for k in range(20)]
    assert sum(a < 1e-4 for a in above) >= 8 and sum(a > 1e-3 for a in above) >= 8, sorted(above)
    high = [share_of_power(synthesize(Sound("tone", "low", "buzzy", None, k), style=SoundStyle(free_timing=True)),
                           2500, RATE / 2) for k in range(40)]
    assert sum(h < 1e-5 for h in high) >= 6 and sum(h > 1e-3 for h in high) >= 20, sorted(high)


def test_freely_made_noise_comes_white_and_coloured():
    """White noise spreads its power evenly (an eighth below 1 kHz at 16 kHz); coloured noise, as other programs
    and rooms make it, puts most of it low. Both are still "a hiss of noise"."""
    low = [share_of_power(synthesize(Sound("noise", variation_seed=k), style=SoundStyle(free_timing=True)), 0, 1000)
           for k in range(40)]
    assert sum(share < 0.2 for share in low) >= 10 and sum(share > 0.5 for share in low) >= 5, sorted(low)


def test_freely_made_beeps_and_tones_come_at_any_frequency_their_pitch_word_covers():
    """Not only at the world's 220, 440 and 880 Hz: made only there, beeps at 300, 660 or 1,200 Hz were all
    counted "one beep". Every frequency is still the one its word names (pitch_of)."""
    for pitch in PITCHES:
        heard = []
        for k in range(30):
            kind = ("beeps", "tone")[k % 2]
            sound = Sound(kind, pitch, "pure", 1 if kind == "beeps" else None, k)
            samples = synthesize(sound, style=SoundStyle(free_timing=True))
            spectrum = np.abs(np.fft.rfft(samples))                                      # (bins,)
            heard.append(float(np.fft.rfftfreq(len(samples), 1 / RATE)[np.argmax(spectrum)]))
        assert all(pitch_of(hz) == pitch for hz in heard), (pitch, sorted(heard))
        assert max(heard) / min(heard) > 1.5, (pitch, sorted(heard))


def test_a_freely_timed_tone_lasts_longer_than_any_beep():
    for k in range(60):
        samples = synthesize(Sound("tone", "low", "pure", None, k), style=SoundStyle(free_timing=True))
        (start, end), = loud_stretches(samples)
        assert (end - start) * 80 / RATE >= 0.55


def test_silence_around_a_sound_is_cut_and_a_sound_that_is_all_quiet_is_kept_whole():
    beeps = synthesize(Sound("beeps", "high", "pure", 2, 3))
    hiss = np.random.default_rng(0).standard_normal(RATE).astype(np.float32) * 0.002
    padded = np.concatenate([hiss, beeps, hiss])
    trimmed = trim_silence(padded, RATE, 30.0)
    (first, _), *_, (_, last) = loud_stretches(beeps)
    assert abs(len(trimmed) - (last - first) * 80) <= 0.1 * RATE
    assert len(trim_silence(hiss, RATE, 30.0)) > 0.9 * RATE


def test_hiss_only_25_db_under_the_sound_is_cut_as_silence_and_steady_noise_is_kept_whole():
    beeps = synthesize(Sound("beeps", "high", "pure", 3, 4))
    level = np.abs(beeps).max() * 10 ** (-25 / 20)
    hiss = np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32) * level
    padded = np.concatenate([hiss, beeps, hiss]) + 0.0
    padded[3 * RATE: 3 * RATE + len(beeps)] += np.random.default_rng(2).standard_normal(len(beeps)) * level
    (first, _), *_, (_, last) = loud_stretches(beeps)
    assert abs(len(trim_silence(padded, RATE, 30.0)) - (last - first) * 80) <= 0.1 * RATE
    wobble = 1 + 0.3 * np.sin(2 * np.pi * 0.5 * np.arange(2 * RATE) / RATE)           # ±3 dB over 2 s
    noise = (np.random.default_rng(3).standard_normal(2 * RATE) * 0.2 * wobble).astype(np.float32)
    assert len(trim_silence(noise, RATE, 30.0)) > 0.95 * len(noise)


def test_a_sound_in_a_padded_batch_gets_the_time_tokens_it_gets_alone():
    torch.manual_seed(0)
    encoder = MiniAudioEncoder(MiniAudioConfig(tokens=48, time_stride=2, min_seconds=1.5)).eval()
    short = synthesize(Sound("beeps", "high", "pure", 3, 5), style=SoundStyle(free_timing=True))
    long = np.concatenate([short, np.zeros(3 * RATE, np.float32)]) + 0.0
    long[-RATE:] = synthesize(Sound("tone", "low", "buzzy", None, 1))[:RATE]
    batch = torch.zeros(2, len(long))
    batch[0, : len(short)], batch[1] = torch.from_numpy(short), torch.from_numpy(long)
    with torch.no_grad():
        alone = encoder(torch.from_numpy(short)[None])[1][0]                               # (48, width)
        by_length = encoder(batch, torch.tensor([len(short), len(long)]))[1][0]
        by_longest = encoder(batch)[1][0]
    assert (by_length - alone).abs().max() < 0.1 < (by_longest - alone).abs().max()
