"""Uploaded pictures and sounds: what is refused (and what the message says) and what comes out of the rest."""
from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from modules.contracts import InputError
from modules.media import MediaLimits, display_name, load_audio, load_image

MB = 1024 * 1024


# ---------------------------------------------------------------------------------------------- helpers


def refusal(load, path, *expected: str, limits: MediaLimits | None = None) -> str:
    """The InputError message for loading `path`; it names the file (base name only) and each expected phrase."""
    with pytest.raises(InputError) as caught:
        load(path) if limits is None else load(path, limits)
    message = str(caught.value)
    if path is not None:
        assert Path(path).name in message
        assert str(Path(path).parent) not in message, "the server's folders must not leak into messages"
    for phrase in expected:
        assert phrase in message, f"{phrase!r} missing from {message!r}"
    return message


def save_picture(picture: Image.Image, path: Path, **options) -> Path:
    picture.save(path, **options)
    return path


def png_with_header_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file whose header claims width×height pixels (IHDR patched, CRC fixed); its pixels are never there."""
    small = path.with_suffix(".small.png")
    Image.new("P", (10, 10)).save(small)
    data = bytearray(small.read_bytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))   # CRC over chunk type + 13 data bytes
    path.write_bytes(bytes(data))
    return path


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` bytes that costs no disk: the size check must refuse it before reading."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def sine(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate               # (frames,)
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))   # (frames // 2 + 1,)
    return float(np.argmax(spectrum)) * rate / len(samples)


def save_sound(path: Path, samples: np.ndarray, rate: int, **options) -> Path:
    sf.write(path, samples, rate, **options)
    return path


def close(pixel, expected, tolerance: int = 6) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, expected))


# ---------------------------------------------------------------------------------------------- names


def test_display_name_is_the_base_name_only(tmp_path):
    assert display_name(tmp_path / "cat.png") == "cat.png"
    assert display_name(str(tmp_path / "sub" / "dog.wav")) == "dog.wav"
    assert display_name(None) == "(no file)"


# ---------------------------------------------------------------------------------------------- files refused


@pytest.mark.parametrize("load", [load_image, load_audio])
def test_missing_file_is_refused(tmp_path, load):
    refusal(load, tmp_path / "gone.png", "could not be found")


@pytest.mark.parametrize("load", [load_image, load_audio])
def test_no_file_is_refused(load):
    message = refusal(load, None)
    assert "No " in message


@pytest.mark.parametrize("load", [load_image, load_audio])
def test_folder_is_refused(tmp_path, load):
    folder = tmp_path / "uploads"
    folder.mkdir()
    refusal(load, folder, "folder")


@pytest.mark.parametrize("load", [load_image, load_audio])
def test_zero_byte_file_is_refused_as_empty(tmp_path, load):
    empty = tmp_path / "empty.bin"
    empty.touch()
    refusal(load, empty, "empty", "0 bytes")


@pytest.mark.parametrize("load", [load_image, load_audio])
def test_file_over_the_size_limit_is_refused_with_size_and_limit(tmp_path, load):
    big = sparse_file(tmp_path / "big.bin", 21 * MB)
    refusal(load, big, "21.0 MB", "20 MB")


def test_size_limit_comes_from_the_limits(tmp_path):
    picture = save_picture(Image.new("RGB", (64, 64), "red"), tmp_path / "red.bmp")   # 12 KB
    assert load_image(picture).size == (64, 64)
    refusal(load_image, picture, "MB", limits=MediaLimits(max_file_bytes=1024))


# ---------------------------------------------------------------------------------------------- pictures refused


def test_truncated_png_is_refused(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = save_picture(Image.fromarray(noise), tmp_path / "whole.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    refusal(load_image, cut, "is not a picture we can read", "PNG, JPEG")


def test_truncated_jpeg_is_refused(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = save_picture(Image.fromarray(noise), tmp_path / "whole.jpg", quality=95).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 3])
    refusal(load_image, cut, "is not a picture we can read")


def test_corrupt_png_body_is_refused(tmp_path):
    noise = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = bytearray(save_picture(Image.fromarray(noise), tmp_path / "ok.png").read_bytes())
    data[60:400] = bytes(340)   # overwrite the compressed pixels
    broken = tmp_path / "broken.png"
    broken.write_bytes(bytes(data))
    refusal(load_image, broken, "is not a picture we can read")


def test_text_file_given_as_picture_is_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is a shopping list, not a picture\n" * 20)
    refusal(load_image, text, "is not a picture we can read")


def test_sound_given_as_picture_is_refused(tmp_path):
    sound = save_sound(tmp_path / "tone.wav", sine(440, 0.5, 16_000), 16_000)
    refusal(load_image, sound, "is not a picture we can read")


def test_picture_in_a_format_outside_the_list_is_refused(tmp_path):
    ppm = save_picture(Image.new("RGB", (32, 32), "red"), tmp_path / "red.ppm")
    refusal(load_image, ppm, "is not a picture we can read", "PNG, JPEG, WebP, GIF, BMP, TIFF")


def test_decompression_bomb_is_refused_quickly(tmp_path):
    bomb = png_with_header_size(tmp_path / "bomb.png", 20_000, 20_000)
    assert bomb.stat().st_size < 1_000
    started = time.perf_counter()
    refusal(load_image, bomb, "pixels", "40,000,000")
    assert time.perf_counter() - started < 2.0


def test_picture_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    wide = png_with_header_size(tmp_path / "wide.png", 8_000, 8_000)   # 64 M pixels: under PIL's own guard
    started = time.perf_counter()
    refusal(load_image, wide, "8000×8000", "40,000,000")
    assert time.perf_counter() - started < 2.0


def test_pixel_limit_comes_from_the_limits(tmp_path):
    picture = save_picture(Image.new("RGB", (100, 100), "red"), tmp_path / "square.png")
    refusal(load_image, picture, "100×100", "5,000", limits=MediaLimits(max_image_pixels=5_000))


@pytest.mark.parametrize("size", [(1, 1), (4, 300)])
def test_too_small_picture_is_refused_with_its_size_and_the_minimum(tmp_path, size):
    tiny = save_picture(Image.new("RGB", size, "red"), tmp_path / "dot.png")
    refusal(load_image, tiny, f"{size[0]}×{size[1]}", "8×8", "too small")


# ---------------------------------------------------------------------------------------------- pictures converted


@pytest.mark.parametrize("suffix", ["png", "jpg", "webp", "gif", "bmp", "tiff"])
def test_each_listed_format_comes_out_rgb_with_its_colours(tmp_path, suffix):
    picture = Image.new("RGB", (32, 16), (200, 30, 40))
    picture.paste((20, 40, 220), (16, 0, 32, 16))                     # right half blue
    loaded = load_image(save_picture(picture, tmp_path / f"two.{suffix}"))
    assert (loaded.mode, loaded.size) == ("RGB", (32, 16))
    assert close(loaded.getpixel((4, 8)), (200, 30, 40), tolerance=12)
    assert close(loaded.getpixel((28, 8)), (20, 40, 220), tolerance=12)


@pytest.mark.parametrize("suffix", ["gif", "webp"])
def test_animation_gives_its_first_frame(tmp_path, suffix):
    red, blue, green = (Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0)))
    path = tmp_path / f"blink.{suffix}"
    red.save(path, save_all=True, append_images=[blue, green], duration=100, loop=0, lossless=True)
    assert Image.open(path).n_frames == 3
    loaded = load_image(path)
    assert loaded.mode == "RGB"
    assert close(loaded.getpixel((8, 8)), (255, 0, 0))


def test_transparent_area_becomes_white(tmp_path):
    picture = Image.new("RGBA", (16, 16), (0, 0, 0, 0))                # fully transparent black
    picture.paste((0, 160, 0, 255), (8, 0, 16, 16))                    # right half opaque green
    loaded = load_image(save_picture(picture, tmp_path / "cutout.png"))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((2, 8)) == (255, 255, 255)
    assert loaded.getpixel((12, 8)) == (0, 160, 0)


def test_half_transparent_black_becomes_grey(tmp_path):
    picture = Image.new("RGBA", (16, 16), (0, 0, 0, 128))
    loaded = load_image(save_picture(picture, tmp_path / "shadow.png"))
    assert close(loaded.getpixel((8, 8)), (127, 127, 127), tolerance=2)


def test_grey_with_alpha_becomes_white_where_transparent(tmp_path):
    picture = Image.new("LA", (16, 16), (0, 0))
    picture.paste((90, 255), (8, 0, 16, 16))
    loaded = load_image(save_picture(picture, tmp_path / "grey_cutout.png"))
    assert loaded.getpixel((2, 8)) == (255, 255, 255)
    assert loaded.getpixel((12, 8)) == (90, 90, 90)


@pytest.mark.parametrize("suffix", ["png", "gif"])
def test_palette_transparency_becomes_white(tmp_path, suffix):
    picture = Image.new("P", (16, 16), 0)
    picture.putpalette([0, 0, 0, 200, 0, 0] + [0, 0, 0] * 254)        # index 0 black, index 1 red
    picture.paste(1, (8, 0, 16, 16))
    loaded = load_image(save_picture(picture, tmp_path / f"sticker.{suffix}", transparency=0))
    assert loaded.getpixel((2, 8)) == (255, 255, 255)
    assert close(loaded.getpixel((12, 8)), (200, 0, 0))


def test_grey_picture_comes_out_rgb_with_equal_channels(tmp_path):
    picture = Image.new("L", (16, 16), 70)
    loaded = load_image(save_picture(picture, tmp_path / "grey.png"))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((8, 8)) == (70, 70, 70)


def test_black_and_white_picture_comes_out_rgb(tmp_path):
    picture = Image.new("1", (16, 16), 0)
    picture.paste(1, (8, 0, 16, 16))
    loaded = load_image(save_picture(picture, tmp_path / "bw.png"))
    assert loaded.getpixel((2, 8)) == (0, 0, 0)
    assert loaded.getpixel((12, 8)) == (255, 255, 255)


def test_16_bit_grey_keeps_its_relative_brightness(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 32).round().astype(np.uint16), (8, 1))   # (8, 32) dark → bright
    path = save_picture(Image.fromarray(ramp), tmp_path / "ramp16.png")
    assert Image.open(path).mode == "I;16"
    red = np.asarray(load_image(path))[0, :, 0].astype(int)                          # (32,)
    assert red[0] == 0 and red[-1] == 255
    assert abs(red[16] - round(ramp[0, 16] / 257)) <= 1                             # the middle stays mid-grey
    assert np.all(np.diff(red) > 0)                                                  # brighter stays brighter


def test_cmyk_picture_comes_out_rgb(tmp_path):
    picture = Image.new("CMYK", (16, 16), (255, 0, 0, 0))                          # pure cyan ink
    loaded = load_image(save_picture(picture, tmp_path / "print.tiff"))
    assert loaded.mode == "RGB"
    assert close(loaded.getpixel((8, 8)), (0, 255, 255))


def test_exif_orientation_is_applied(tmp_path):
    picture = Image.new("RGB", (40, 20), (220, 0, 0))                              # left half red
    picture.paste((0, 0, 220), (20, 0, 40, 20))                                     # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6                                                                # "rotate 90° clockwise to view"
    loaded = load_image(save_picture(picture, tmp_path / "phone.jpg", exif=exif, quality=95))
    assert loaded.size == (20, 40)
    assert close(loaded.getpixel((10, 5)), (220, 0, 0), tolerance=20)             # red on top
    assert close(loaded.getpixel((10, 35)), (0, 0, 220), tolerance=20)            # blue below


# ---------------------------------------------------------------------------------------------- sounds refused


def test_picture_given_as_sound_is_refused(tmp_path):
    picture = save_picture(Image.new("RGB", (32, 32), "red"), tmp_path / "red.wav", format="PNG")
    refusal(load_audio, picture, "is not a sound we can read", "WAV, FLAC, OGG, MP3")


def test_text_given_as_sound_is_refused(tmp_path):
    text = tmp_path / "lyrics.mp3"
    text.write_text("la la la, this is not audio\n" * 50)
    refusal(load_audio, text, "is not a sound we can read")


def test_truncated_wav_header_is_refused(tmp_path):
    whole = save_sound(tmp_path / "whole.wav", sine(440, 1.0, 16_000), 16_000).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[:30])
    refusal(load_audio, cut, "is not a sound we can read")


def test_sound_with_no_samples_is_refused(tmp_path):
    hollow = save_sound(tmp_path / "hollow.wav", np.zeros(0, dtype=np.float32), 16_000)
    refusal(load_audio, hollow, "no sound", "0 seconds")


def test_over_long_sound_is_refused_with_length_and_limit(tmp_path):
    long = save_sound(tmp_path / "speech.wav", np.zeros(31 * 8_000, dtype=np.int16), 8_000)
    refusal(load_audio, long, "31 seconds", "at most 30 seconds")


def test_length_limit_comes_from_the_limits(tmp_path):
    sound = save_sound(tmp_path / "tone.wav", sine(440, 2.0, 16_000), 16_000)
    assert load_audio(sound).shape == (32_000,)
    refusal(load_audio, sound, "2 seconds", "at most 1.5 seconds", limits=MediaLimits(max_audio_seconds=1.5))


def test_too_short_sound_is_refused_with_length_and_minimum(tmp_path):
    blip = save_sound(tmp_path / "blip.wav", sine(440, 0.05, 16_000), 16_000)
    refusal(load_audio, blip, "0.05 seconds", "at least 0.1 seconds")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_sound_with_invalid_samples_is_refused(tmp_path, bad):
    samples = sine(440, 0.5, 16_000)
    samples[100] = bad
    broken = save_sound(tmp_path / "broken.wav", samples, 16_000, subtype="FLOAT")
    refusal(load_audio, broken, "invalid samples")


# ---------------------------------------------------------------------------------------------- sounds converted


def test_stereo_with_a_tone_on_the_left_comes_out_mono_16k_at_440_hz(tmp_path):
    left = sine(440, 1.0, 44_100, amplitude=0.8)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)                        # (frames, 2)
    samples = load_audio(save_sound(tmp_path / "left.wav", stereo, 44_100))
    assert samples.dtype == np.float32 and samples.shape == (16_000,)
    assert abs(dominant_frequency(samples, 16_000) - 440) < 3
    assert abs(np.abs(samples[1000:-1000]).max() - 0.4) < 0.02                   # the mean of both channels


def test_six_channels_are_mixed_down_by_their_mean(tmp_path):
    channels = np.stack([np.full(8_000, level, dtype=np.float32) for level in (0.6, 0, 0, 0, 0, 0)], axis=1)
    samples = load_audio(save_sound(tmp_path / "surround.wav", channels, 16_000, subtype="FLOAT"))
    assert samples.shape == (8_000,)
    assert np.allclose(samples, 0.1, atol=1e-6)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_any_rate_comes_out_at_16k_with_the_same_length_and_pitch(tmp_path, rate):
    samples = load_audio(save_sound(tmp_path / f"tone{rate}.wav", sine(1_000, 0.5, rate), rate))
    assert samples.shape == (8_000,)                                             # 0.5 s at 16 kHz
    assert abs(dominant_frequency(samples, 16_000) - 1_000) < 5


def test_target_rate_comes_from_the_limits(tmp_path):
    sound = save_sound(tmp_path / "tone.wav", sine(440, 1.0, 48_000), 48_000)
    samples = load_audio(sound, MediaLimits(sample_rate=24_000))
    assert samples.shape == (24_000,)
    assert abs(dominant_frequency(samples, 24_000) - 440) < 3


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32"])
def test_integer_pcm_comes_out_as_floats_of_the_same_loudness(tmp_path, subtype):
    samples = load_audio(save_sound(tmp_path / "tone.wav", sine(440, 0.5, 16_000, 0.5), 16_000, subtype=subtype))
    assert samples.dtype == np.float32
    assert abs(np.abs(samples).max() - 0.5) < 0.02


def test_full_scale_integer_sound_stays_within_one(tmp_path):
    square = np.where(np.arange(16_000) % 40 < 20, 32767, -32768).astype(np.int16)
    samples = load_audio(save_sound(tmp_path / "square.wav", square, 44_100))   # resampling overshoots
    assert samples.max() <= 1.0 and samples.min() >= -1.0
    assert np.abs(samples).max() > 0.99


def test_too_loud_float_sound_is_clipped(tmp_path):
    loud = sine(440, 0.5, 16_000, amplitude=1.5)
    samples = load_audio(save_sound(tmp_path / "loud.wav", loud, 16_000, subtype="FLOAT"))
    assert samples.max() == 1.0 and samples.min() == -1.0


def test_silence_is_returned_not_refused(tmp_path):
    samples = load_audio(save_sound(tmp_path / "quiet.wav", np.zeros(16_000, dtype=np.int16), 16_000))
    assert samples.shape == (16_000,)
    assert not samples.any()


@pytest.mark.parametrize(("suffix", "options"), [
    ("flac", {}),
    ("ogg", {"format": "OGG", "subtype": "VORBIS"}),
    ("mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
])
def test_compressed_sounds_are_decoded(tmp_path, suffix, options):
    path = tmp_path / f"tone.{suffix}"
    try:
        sf.write(path, sine(440, 1.0, 22_050), 22_050, **options)
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        pytest.skip(f"this libsndfile cannot write {suffix}: {exc}")
    samples = load_audio(path)
    assert abs(len(samples) - 16_000) < 1_000                                     # codecs pad a little
    assert abs(dominant_frequency(samples, 16_000) - 440) < 3
