"""The built-in world: deterministic generation, disjoint splits, true captions and answers, label-keeping flips."""
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from modules.training.augment import augment_sound, band_limited, mirror, picture_to_tensor
from modules.training.corpus import every_sound_content_for, scenes_for, sounds_for, split_of, sound_split_of
from modules.world.pictures import COLORS, Scene, SceneObject, caption_en, caption_zh, render_scene
from modules.world.sounds import Sound, all_sound_contents, describe_en, describe_zh, synthesize
from modules.world.language import language_of
from modules.world.talk import picture_question, sound_exchange

RED_LEFT = SceneObject("red", "circle", "large", "left")
BLUE_TOP = SceneObject("blue", "square", "small", "top")


def test_captions_name_every_object_with_all_four_attributes_in_both_languages():
    scene = Scene("white", (RED_LEFT, BLUE_TOP))
    assert caption_en(scene) == "a large red circle on the left and a small blue square at the top"
    assert caption_zh(scene) == "左边有一个大的红色圆形，上边有一个小的蓝色正方形"


def test_generation_is_deterministic_from_the_seed():
    assert scenes_for("train", 50, seed=3) == scenes_for("train", 50, seed=3)
    assert scenes_for("train", 50, seed=3) != scenes_for("train", 50, seed=4)
    a, b = render_scene(scenes_for("test", 1, 1)[0]), render_scene(scenes_for("test", 1, 1)[0])
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_splits_share_no_item():
    train = {s.content_key() for s in scenes_for("train", 2000, 0)}
    test = {s.content_key() for s in scenes_for("test", 300, 0)}
    validation = {s.content_key() for s in scenes_for("validation", 300, 0)}
    assert not train & test and not train & validation and not test & validation
    assert all(split_of(k) == "test" for k in test)
    sounds = sounds_for("test", 100, 0)
    assert all(sound_split_of(s) == "test" for s in sounds)


def test_the_every_content_sample_holds_each_sound_equally_often_and_only_test_items():
    sample = every_sound_content_for("test", 3, seed=7)
    keys = [s.content_key() for s in sample]
    assert all(keys.count(c.content_key()) == 3 for c in all_sound_contents())
    assert {sound_split_of(s) for s in sample} == {"test"}
    assert len({s.variation_seed for s in sample}) == len(sample)


def test_rendered_picture_shows_the_named_colour_where_the_object_is():
    picture = np.asarray(render_scene(Scene("white", (RED_LEFT,), 1)), dtype=int)   # (64, 64, 3)
    left, right = picture[:, :24], picture[:, 40:]
    is_red = lambda region: ((region[..., 0] > 150) & (region[..., 1] < 100) & (region[..., 2] < 100)).sum()
    assert is_red(left) > 100 and is_red(right) == 0


def test_mirroring_swaps_left_and_right_in_picture_and_text():
    scene = Scene("white", (RED_LEFT, BLUE_TOP), 2)
    pictures, scenes = mirror(picture_to_tensor(render_scene(scene))[None], [scene], [True])
    assert caption_en(scenes[0]) == "a large red circle on the right and a small blue square at the top"
    red = (pictures[0, 0] > 0.2) & (pictures[0, 1] < -0.2)                        # normalised channels
    assert red[:, 40:].sum() > 100 and red[:, :24].sum() == 0


def test_answers_to_questions_are_true_for_the_scene():
    scene = Scene("black", (RED_LEFT, BLUE_TOP))
    rng = random.Random(0)
    answers = {(e.kind, e.wording[1:2]) if e.kind == "shape at a place" else (e.kind, e.question.lower().count("star"))
               : e.answer for e in (picture_question(scene, "en", rng) for _ in range(400))}
    assert answers[("count", 0)] == "There are two objects."
    assert answers[("background", 0)] == "The background is black."
    assert answers[("is there a shape", 1)] == "No, there is no star."
    assert answers[("colour of a shape", 0)] in ("The circle is red.", "The square is blue.")
    assert answers[("shape at a place", ("on the left",))] == "There is a red circle on the left."
    zh = {e.question: e.answer for e in (picture_question(scene, "zh", rng) for _ in range(400))
          if e.kind == "place of an object" and "红色圆形" in e.question}
    assert zh and set(zh.values()) == {"红色圆形在左边。"}


def test_sounds_have_the_described_pitch_and_count():
    sound = Sound("beeps", "high", "pure", 3, variation_seed=9)
    wave = synthesize(sound)
    spectrum = np.abs(np.fft.rfft(wave))
    peak_hz = np.argmax(spectrum) * 16_000 / len(wave)
    assert 830 < peak_hz < 930
    loud = np.abs(wave) > 0.1
    onsets = np.flatnonzero(loud[1:] & ~loud[:-1])
    bursts = 1 + np.sum(np.diff(onsets) > 800)                                        # gaps of over 50 ms
    assert bursts == 3
    assert describe_en(sound) == "three high pure beeps" and describe_zh(sound) == "三声纯净的高音蜂鸣"


def test_world_has_35_sound_descriptions_and_questions_answer_truthfully():
    assert len({describe_en(s) for s in all_sound_contents()}) == 35
    rng = random.Random(1)
    tone = Sound("tone", "low", "buzzy")
    answers = {e.kind: e.answer for e in (sound_exchange(tone, "en", rng) for _ in range(100))}
    assert answers["pitch"] == "The pitch is low."
    assert answers["timbre"] == "It is buzzy."
    assert answers["count"] == "There are no beeps: it is a long tone."


def test_asked_to_count_the_beeps_of_a_sound_without_beeps_the_answer_says_there_are_none():
    rng = random.Random(2)
    for sound, en, zh in [(Sound("rising", None, "pure"), "There are no beeps: it is a rising sweep.",
                           "没有蜂鸣声，这是上升的扫频音。"),
                          (Sound("noise", None, None), "There are no beeps: it is a hiss of noise.",
                           "没有蜂鸣声，这是噪声。")]:
        asked = {lang: {e.kind: e.answer for e in (sound_exchange(sound, lang, rng) for _ in range(100))}
                 for lang in ("en", "zh")}
        assert asked["en"]["count"] == en and asked["zh"]["count"] == zh


def test_language_detection():
    assert language_of("画一个红色的圆形") == "zh" and language_of("draw a red circle") == "en"


def test_a_lower_recording_rate_removes_only_what_lies_above_its_limit():
    """The 8 kHz look of a sound that training sometimes gives: a 1 kHz beep stays, a 6 kHz whistle is gone."""
    t = np.arange(16_000) / 16_000
    low, high = (np.sin(2 * np.pi * f * t).astype(np.float32) for f in (1000, 6000))
    assert np.abs(band_limited(low, 8000)[1000:-1000]).max() > 0.9
    assert np.abs(band_limited(high, 8000)[1000:-1000]).max() < 0.2
    assert len(band_limited(low, 11025)) == len(low)


def test_sound_augmentation_keeps_the_sound_recognisable():
    """Gain, noise, shift and band limits change the samples, never the pitch: the strongest frequency stays."""
    sound = next(s for s in sounds_for("train", 20, 3) if s.kind == "tone")
    wave, rng = synthesize(sound), random.Random(5)
    peak = lambda w: np.argmax(np.abs(np.fft.rfft(w[:16_000], 16_000)))
    for _ in range(20):
        changed = augment_sound(wave, rng)
        assert np.abs(changed).max() <= 1.0 and not np.array_equal(changed[: len(wave)], wave)
        assert abs(peak(changed) - peak(wave)) <= 2


def test_captions_by_place_list_objects_in_reading_order():
    from modules.training.lm_data import objects_by_place
    scene = Scene("white", (SceneObject("red", "star", "large", "bottom"), SceneObject("blue", "circle", "small", "top"),
                            SceneObject("green", "square", "large", "left")), 1)
    assert caption_en(objects_by_place(scene)) == ("a small blue circle at the top, a large green square on the left "
                                                   "and a large red star at the bottom")


def test_a_wrong_audio_time_stride_is_refused_by_name():
    from modules.encoders.audio_model import MiniAudioConfig
    with pytest.raises(ValueError, match="time_stride must be one of 1, 2, 4, 8; got 3"):
        MiniAudioConfig(time_stride=3)


def test_the_suite_audio_encoder_hears_a_sound_recorded_at_8_khz_as_at_16_khz():
    """With the suite's mel filters below 4 kHz, an 8 kHz recording converted to 16 kHz gives nearly the same
    log-mel; with filters up to 8 kHz (the default) it does not."""
    import torch
    from modules.encoders.audio_model import MiniAudioConfig, MiniAudioEncoder
    from modules.training.suite_config import EncoderStage

    def change_at_8_khz(top_hz: float | None) -> float:
        encoder = MiniAudioEncoder(MiniAudioConfig(mel_top_hz=top_hz))
        changes = []
        for sound in sounds_for("test", 10, 7):
            wave = synthesize(sound)
            here, there = (encoder.log_mel(torch.from_numpy(w)[None]) for w in (wave, band_limited(wave, 8000)))
            changes.append(float((here - there).abs().mean()))
        return max(changes)

    assert change_at_8_khz(EncoderStage().audio_mel_top_hz) < 0.005
    assert change_at_8_khz(None) > 0.05


def test_a_mel_top_above_half_the_sample_rate_is_refused_by_name():
    from modules.encoders.audio_model import MiniAudioConfig
    with pytest.raises(ValueError, match=r"mel_top_hz must be in \(0, 8000\] \(half the sample rate\); got 9000"):
        MiniAudioConfig(mel_top_hz=9000)


def _beeps_seen(wave: np.ndarray, tokens: int, time_stride: int) -> int:
    """Beeps an encoder of this resolution can still tell apart: runs of loud tokens in the pooled energy."""
    import torch
    import torch.nn.functional as F
    from modules.encoders.audio_model import MiniAudioConfig, MiniAudioEncoder
    encoder = MiniAudioEncoder(MiniAudioConfig(tokens=tokens, time_stride=time_stride))
    energy = encoder.log_mel(torch.from_numpy(wave)[None]).mean(dim=1, keepdim=True)       # (1, 1, frames)
    steps = F.avg_pool1d(energy, time_stride, ceil_mode=True)                              # as the convs stride
    pooled = F.adaptive_avg_pool1d(steps, tokens)[0, 0]                                    # (tokens,)
    sounding = pooled[: int(tokens * len(wave) / energy.shape[-1] / encoder.config.hop_length)]  # not the padding
    loud = sounding > (sounding.max() + sounding.min()) / 2
    return int((loud[1:] & ~loud[:-1]).sum() + loud[0])


def test_the_suite_audio_resolution_keeps_the_beeps_of_short_sounds_apart():
    """Three and four beeps in under 1.5 s: at the suite's resolution nearly all stay apart in the tokens' loudness;
    at the previous encoder's 16 tokens of 8 frames most merge (it heard three such beeps as four)."""
    from modules.training.suite_config import EncoderStage
    stage = EncoderStage()
    short = [(count, wave) for seed in range(150) for count in (3, 4)
             for wave in [synthesize(Sound("beeps", "high", "pure", count, variation_seed=seed))]
             if len(wave) < 1.5 * 16_000]
    assert len(short) >= 40

    def kept_apart(tokens: int, time_stride: int) -> float:
        return sum(_beeps_seen(w, tokens, time_stride) == c for c, w in short) / len(short)
    assert kept_apart(stage.audio_tokens, stage.audio_time_stride) >= 0.95
    assert kept_apart(16, 8) < 0.5


def test_answers_to_picture_questions_think_first_with_every_object_and_the_background_then_answer():
    from modules.reasoning import split_reply
    from modules.training.lm_data import picture_turn
    scene = Scene("black", (RED_LEFT, BLUE_TOP))
    rng, seen = random.Random(3), set()
    for _ in range(300):
        turn = picture_turn(scene, rng, by_place=True, think_first=True)
        question, written = turn.question, turn.answer
        reply = split_reply(written, final=True)
        if question and reply.thinking:
            seen.add(language_of(question))
            expected = {"en": "A small blue square at the top and a large red circle on the left, on a black "
                              "background.",
                        "zh": "上边有一个小的蓝色正方形，左边有一个大的红色圆形，背景是黑色的。"}
            assert reply.thinking == expected[language_of(question)]
            assert reply.answer and "<think>" not in reply.answer and language_of(reply.answer) == language_of(question)
        else:
            assert not reply.thinking and "<think>" not in written     # captions are answered straight away
    assert seen == {"en", "zh"}


def test_a_question_answered_from_given_notes_learns_only_the_answer_which_the_notes_alone_decide():
    from transformers import AutoTokenizer

    from modules.training.lm_data import IGNORE, ChatTokens, notes_question
    from modules.world.pictures import random_scene
    folder = Path(__file__).resolve().parents[1] / "assets" / "mini" / "language_model"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rng = random.Random(5)
    for _ in range(20):
        scene = random_scene(rng, 3)
        example = notes_question(scene, rng.choice(["en", "zh"]), rng, [])
        question, written = example.turns[-1]
        assert example.media is None and written.startswith("<think>")
        ids, labels = ChatTokens(tokenizer, 17, 52).encode(example)
        learnt = tokenizer.decode([i for i, label in zip(ids, labels) if label != IGNORE], skip_special_tokens=True)
        assert learnt == written.split("</think>")[1]                       # the answer, not the notes
        assert any(e.answer == learnt
                   for e in (picture_question(scene, language_of(question), random.Random(k)) for k in range(300)))


def test_the_caption_share_decides_how_many_picture_turns_ask_for_a_caption():
    from modules.training.lm_data import picture_turn
    scene = Scene("black", (RED_LEFT, BLUE_TOP))
    for share in (0.0, 0.5, 1.0):
        rng = random.Random(1)
        turns = [picture_turn(scene, rng, by_place=True, caption_share=share) for _ in range(2000)]
        asked = [t.question for t in turns if t.question]        # a picture with no question is always described
        captions = sum(t.kind == "caption" for t in turns if t.question) / len(asked)
        assert abs(captions - share) < 0.04, (share, captions)


def test_kind_weights_decide_how_often_each_kind_of_picture_question_is_asked():
    from modules.world.talk import QUESTION_KINDS, QuestionMix
    scene = Scene("black", (RED_LEFT, BLUE_TOP))             # every kind can be asked of it
    weights = {kind: 1.0 for kind in QUESTION_KINDS} | {"is there a colour": 3.0, "count": 0.0}
    rng = random.Random(2)
    kinds = [picture_question(scene, "en", rng, QuestionMix(weights)).kind for _ in range(3000)]
    assert abs(kinds.count("is there a colour") / len(kinds) - 3 / 8) < 0.03
    assert "count" not in kinds
    assert set(kinds) == set(QUESTION_KINDS) - {"count"}


def test_balanced_yes_no_questions_ask_about_something_in_the_picture_half_the_time():
    from modules.world.talk import QUESTION_KINDS, QuestionMix
    scene = Scene("black", (RED_LEFT, BLUE_TOP))
    only_colours = {kind: 0.0 for kind in QUESTION_KINDS} | {"is there a colour": 1.0}
    for balanced, share_yes in ((False, 2 / len(COLORS)), (True, 0.5)):
        rng = random.Random(4)
        answers = [picture_question(scene, "en", rng, QuestionMix(only_colours, balanced)).answer
                   for _ in range(3000)]
        assert abs(sum(a.startswith("Yes") for a in answers) / len(answers) - share_yes) < 0.03, balanced


def test_balanced_places_ask_about_a_place_that_holds_an_object_half_the_time():
    from modules.world.talk import QUESTION_KINDS, QuestionMix
    scene = Scene("black", (RED_LEFT, BLUE_TOP))
    only_places = {kind: 0.0 for kind in QUESTION_KINDS} | {"shape at a place": 1.0}
    for balanced, share_found in ((False, 2 / 5), (True, 0.5)):
        rng = random.Random(5)
        answers = [picture_question(scene, "en", rng, QuestionMix(only_places, balanced_places=balanced)).answer
                   for _ in range(3000)]
        assert abs(sum("nothing" not in a for a in answers) / len(answers) - share_found) < 0.03, balanced


def test_lookalikes_ask_where_the_object_is_that_only_both_words_find():
    from modules.world.talk import QUESTION_KINDS, QuestionMix
    red_star, red_circle = SceneObject("red", "star", "small", "left"), SceneObject("red", "circle", "small", "top")
    blue_square = SceneObject("blue", "square", "large", "bottom")
    scene = Scene("black", (red_star, red_circle, blue_square))
    only_where = {kind: 0.0 for kind in QUESTION_KINDS} | {"place of an object": 1.0}
    for lookalikes, asked in ((False, {"red star", "red circle", "blue square"}), (True, {"red star", "red circle"})):
        rng = random.Random(6)
        questions = {picture_question(scene, "en", rng, QuestionMix(only_where, lookalikes=lookalikes)).answer
                     .split(" is ")[0] for _ in range(200)}
        assert questions == {f"The {name}" for name in asked}, lookalikes


def test_the_objects_key_names_what_a_caption_names_and_nothing_else():
    star, circle = SceneObject("red", "star", "small", "left"), SceneObject("blue", "circle", "large", "top")
    scene = Scene("white", (star, circle), 1)
    assert Scene("black", (circle, star), 2).objects_key() == scene.objects_key()       # background, order, shade
    assert Scene("white", (star, replace(circle, position="right")), 1).objects_key() != scene.objects_key()
    assert scene.content_key() == "white|" + scene.objects_key()


def test_place_and_size_words_follow_the_worlds_rules_for_any_drawing():
    from modules.world.pictures import LARGE_FROM, SIZE_RADII, place_of, size_word
    assert [place_of(x, y) for x, y in [(0.5, 0.5), (0.08, 0.55), (0.93, 0.4), (0.45, 0.02), (0.6, 0.97)]] == \
        ["center", "left", "right", "top", "bottom"]
    assert size_word(SIZE_RADII["small"]) == "small" and size_word(SIZE_RADII["large"]) == "large"
    assert size_word(LARGE_FROM - 0.001) == "small" and size_word(0.45) == "large"
