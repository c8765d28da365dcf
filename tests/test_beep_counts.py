"""Reading the beep count back out of an answer, and the sounds the count is measured on."""
from collections import Counter

from modules.training.beep_counts import beep_sounds, count_heard, report
from modules.training.corpus import sound_split_of
from modules.world.sounds import Sound, describe_en, describe_zh


def test_the_count_an_answer_names_is_read_in_either_language():
    for count in range(1, 5):
        sound = Sound("beeps", "high", "pure", count)
        assert count_heard(describe_en(sound).capitalize() + ".", "en") == count
        assert count_heard(f"这是{describe_zh(sound)}。", "zh") == count


def test_an_answer_that_names_no_count_or_two_counts_reads_as_none():
    assert count_heard("A long low pure tone.", "en") is None          # "tone" holds "one" but not the word
    assert count_heard("这是一个纯净的低音长音。", "zh") is None         # 一个, not 一声
    assert count_heard("Three or four beeps.", "en") is None


def test_every_pitch_timbre_and_count_is_measured_as_often():
    sounds = beep_sounds(3, seed=0)
    contents = Counter((s.pitch, s.timbre, s.count) for s in sounds)
    assert len(contents) == 24 and set(contents.values()) == {3}
    assert len({s.variation_seed for s in sounds}) == len(sounds)


def test_the_beeps_are_held_out_sounds_that_no_training_phase_hears():
    assert {sound_split_of(s) for s in beep_sounds(3, seed=0)} == {"test"}


def test_the_report_names_the_right_share_and_each_confusion():
    line = report("en", Counter({(3, 3): 8, (3, 4): 1, (4, None): 1}))
    assert line == "en: 8 of 10 right; heard as another count: 3 as 4: 1; no count named (a tone or a sweep): 1"
