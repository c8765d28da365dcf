"""Data cleaning: what each stage removes is what the raw source injected, and nothing true is lost."""
from modules.training.cleaning import (CaptionedPicture, caption_matches_labels, clean_captioned_pictures,
                                       dedupe_texts, hash_distance, passes_quality, picture_hash, raw_captioned_pictures)
from modules.training.corpus import scenes_for
from modules.world.pictures import Scene, SceneObject, caption_en, render_scene


def test_cleaning_removes_contradictions_garbage_and_repeats_and_keeps_the_rest():
    scenes = scenes_for("train", 400, 5)
    raw = raw_captioned_pictures(scenes, 5)
    kept, report = clean_captioned_pictures(raw)
    removed = {name: n for name, n, _ in report.stages}
    assert removed["caption contradicts its labels"] > 0 and removed["exact duplicates"] > 0
    assert removed["quality: length and character set"] > 0
    assert removed["near duplicates (phash + MinHash)"] > 0
    assert all(caption_matches_labels(item) for item in kept)
    assert len(kept) >= 0.9 * len(scenes)
    assert "removed" in report.table() and "kept" in report.table()


def test_a_caption_naming_the_wrong_colour_contradicts_its_labels():
    scene = Scene("white", (SceneObject("red", "circle", "large", "left"),))
    wrong = Scene("white", (SceneObject("blue", "circle", "large", "left"),))
    assert caption_matches_labels(CaptionedPicture(scene, caption_en(scene), "en"))
    assert not caption_matches_labels(CaptionedPicture(scene, caption_en(wrong), "en"))


def test_near_duplicate_texts_and_pictures_are_detected():
    texts = ["a large red circle on the left", "a large red circle on the left.", "a small blue star at the top"]
    kept, removed = dedupe_texts(texts, threshold=0.7)
    assert removed == 1 and "a small blue star at the top" in kept
    scene = Scene("white", (SceneObject("red", "circle", "large", "left"),), 1)
    recompressed = CaptionedPicture(scene, caption_en(scene), "en", recompressed=True).picture()
    other = Scene("white", (SceneObject("blue", "star", "small", "right"),), 1)
    assert hash_distance(picture_hash(render_scene(scene)), picture_hash(recompressed)) <= 12
    assert hash_distance(picture_hash(render_scene(scene)), picture_hash(render_scene(other))) > 12


def test_quality_filter_refuses_broken_text():
    assert passes_quality("a small red star at the bottom")
    assert not passes_quality("a\ufffd\x00") and not passes_quality("ab") and not passes_quality("x" * 1000)
