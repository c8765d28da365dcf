"""Multi-step questions: every kind in both languages, every expected answer recomputed here from the pictures and
sounds themselves, the check rule taking natural right answers and refusing wrong and hedged ones, held-out
wordings kept out of training, item splits that share nothing, answers in the question's language."""
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from modules.world.language import language_of
from modules.world.multistep import KINDS, multistep_items
from modules.world.multistep_wordings import RELATION_WORDS, TEMPLATES
from modules.world.phrasing import FRAMES
from modules.world.pictures import COLORS, SHAPES, SceneObject
from tests.multistep_natural import EN, SIZE_ZH, ZH, changes, name_of, numbers, objects, ordinals, yes_no

# The five places as a plus-shaped grid: (column, row), column growing to the right and row downwards.
GRID = {"left": (0, 1), "right": (2, 1), "top": (1, 0), "bottom": (1, 2), "center": (1, 1)}
RELATION_HOLDS = {"left of": lambda a, b: GRID[a][0] < GRID[b][0], "right of": lambda a, b: GRID[a][0] > GRID[b][0],
                  "above": lambda a, b: GRID[a][1] < GRID[b][1], "below": lambda a, b: GRID[a][1] > GRID[b][1]}
ALL_FORMS = [f for forms in KINDS.values() for f in forms]


@lru_cache(maxsize=None)
def items(split: str, lang: str, wordings: str = "train", count: int = 400, seed: int = 0):
    return tuple(multistep_items(split, count, seed, lang, wordings))


def every_item():
    for split in ("train", "test"):
        for lang in ("en", "zh"):
            for wordings in ("train", "heldout"):
                yield from items(split, lang, wordings, 400 if split == "train" else 250)


def obj(key: str) -> SceneObject:
    return SceneObject(*key.split(" "))


def in_question(item, value: str) -> int:
    """Where the question names an English world word (as its language says it); fails when it does not."""
    word = value
    if item.language == "zh":
        word = COLORS[value][1] if value in COLORS else SHAPES.get(value) or SIZE_ZH.get(value) or value
    at = item.question.lower().find(word)
    assert at >= 0, (item.question, value)
    return at



# ---- the truth, from the media ----------------------------------------------------------------------------------

def truth(item):
    """What the answer is, computed here from the item's pictures and sounds and what its question asks."""
    objs = item.scenes[0].objects if item.scenes else ()
    p = dict(item.params)
    form = item.form
    if form in ("count colour", "count not colour", "remove colour"):
        in_question(item, p["color"])
        n = sum(o.color == p["color"] for o in objs)
        return ("number", n if form == "count colour" else len(objs) - n)
    if form == "count size":
        in_question(item, p["size"])
        return ("number", len([o for o in objs if o.size == p["size"]]))
    if form == "count colour shape":
        in_question(item, p["color"]), in_question(item, p["shape"])
        return ("number", len([o for o in objs if o.color == p["color"] and o.shape == p["shape"]]))
    if form == "count not shape":
        in_question(item, p["shape"])
        return ("number", len([o for o in objs if o.shape != p["shape"]]))
    if form in ("add shapes", "add same shape"):
        in_question(item, p["shape"])
        assert (EN[int(p["k"])] if item.language == "en" else ZH[int(p["k"])] + "个") in item.question.lower()
        base = len(objs) if form == "add shapes" else len([o for o in objs if o.shape == p["shape"]])
        return ("number", base + int(p["k"]))
    if form.startswith("more") and item.scenes:
        assert in_question(item, p["a"]) < in_question(item, p["b"])
        field = {"more shapes": "shape", "more colours": "color", "more sizes": "size"}[form]
        values = [getattr(o, field) for o in objs]
        return ("yes/no", values.count(p["a"]) > values.count(p["b"]))
    return sound_truth(item) if item.sounds else relation_or_change_truth(item, objs, p)


def sound_truth(item):
    first, *rest = item.sounds
    if item.form == "beeps repeated":
        times = int(dict(item.params)["times"])
        said = {2: "twice", 3: "three times", 4: "four times"}[times] if item.language == "en" else ZH[times] + "遍"
        assert said in item.question.lower()
        return ("number", first.count * times)
    second = rest[0]
    if item.form == "beeps together":
        return ("number", first.count + second.count)
    if item.form == "same beeps":
        return ("yes/no", first.count == second.count)
    if item.form == "more beeps":
        assert first.count != second.count
        return ("ordinal", "first" if first.count > second.count else "second")
    order = ["low", "medium", "high"]
    assert first.pitch != second.pitch
    return ("ordinal", "first" if order.index(first.pitch) > order.index(second.pitch) else "second")


def relation_or_change_truth(item, objs, p):
    if item.form == "what changed":
        return ("change", *difference(*item.scenes))
    words = RELATION_WORDS[item.language][p["relation"]].options
    assert any(w in item.question.lower() for w in words), item.question
    holds = RELATION_HOLDS[p["relation"]]
    if item.form == "is it there":
        a, b = obj(p["a"]), obj(p["b"])
        assert a in objs and b in objs
        return ("yes/no", holds(a.position, b.position))
    ref = obj(p["ref"])
    assert ref in objs
    in_question(item, ref.shape), p["ref_by_colour"] == "False" or in_question(item, ref.color)
    there = [o for o in objs if o != ref and holds(o.position, ref.position)]
    assert len(there) <= 1
    return ("object", there[0] if there else None, ref, p["ref_by_colour"] == "True", objs)


def difference(first, second):
    """(change, before, after) between two pictures, from their objects alone."""
    assert first.background == second.background
    gone, new = set(first.objects) - set(second.objects), set(second.objects) - set(first.objects)
    if not gone:
        assert len(new) == 1
        return "added", None, new.pop()
    if not new:
        assert len(gone) == 1
        return "removed", gone.pop(), None
    assert len(gone) == len(new) == 1
    before, after = gone.pop(), new.pop()
    differ = [f for f in ("color", "shape", "size", "position") if getattr(before, f) != getattr(after, f)]
    assert len(differ) == 1, (before, after)
    return {"color": "colour", "position": "place"}.get(differ[0], differ[0]), before, after


# ---- natural answers, right and wrong ---------------------------------------------------------------------------


def answers(item):
    """(right, wrong) natural answers to the item, from the truth computed here."""
    what, *value = truth(item)
    if what == "number":
        return numbers(value[0], item.language)
    if what == "yes/no":
        return yes_no(value[0], item)
    if what == "ordinal":
        return ordinals(value[0], item)
    if what == "object":
        return objects(*value, item.language)
    return changes(*value, item.language)


# ---- the tests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_kind_and_form_comes_in_both_languages_and_every_split(lang, split):
    got = items(split, lang, "train", 400 if split == "train" else 250)
    assert {i.kind for i in got} == set(KINDS)
    assert {i.form for i in got} == set(ALL_FORMS)
    assert {i.split for i in got} == {split}
    assert len({i.question for i in got}) > 0.8 * len(got)                 # many wordings, many contents
    media = {(len(i.scenes), len(i.sounds)) for i in got}
    assert media == {(1, 0), (2, 0), (0, 1), (0, 2)}                       # one or two pictures or sounds


def test_every_expected_answer_is_the_truth_recomputed_from_the_media():
    for item in every_item():
        what, *value = truth(item)
        if what == "number":
            n = value[0]
            assert item.answer == (EN[n] if item.language == "en" else ZH[n] + ("声" if item.sounds else "个"))
        elif what == "yes/no":
            assert item.answer == {("en", True): "yes", ("en", False): "no", ("zh", True): "是",
                                   ("zh", False): "不是"}[item.language, value[0]]
        elif what == "ordinal":
            assert item.answer == (f"the {value[0]}" if item.language == "en"
                                   else {"first": "第一段", "second": "第二段"}[value[0]])
        elif what == "object":
            target = value[0]
            expected = ("nothing" if item.language == "en" else "什么也没有") if target is None else \
                (f"the {name_of(target, 'en')}" if item.language == "en" else name_of(target, "zh"))
            assert item.answer == expected, item
        else:
            change, before, after = value
            named = after if change in ("added", "shape", "colour", "size", "place") else before
            shape = named.shape if change != "shape" else after.shape
            assert (shape if item.language == "en" else SHAPES[shape]) in item.answer, (item.answer, value)


def test_answers_are_balanced_enough_to_learn_from():
    got = items("train", "en", "train", 400)
    yes_no = [i.answer for i in got if i.answer in ("yes", "no")]
    assert 0.3 < yes_no.count("yes") / len(yes_no) < 0.7
    relation = [i.answer for i in got if i.form == "what is there"]
    assert 0.15 < relation.count("nothing") / len(relation) < 0.6
    assert {i.param("change") for i in got if i.form == "what changed"} == {"colour", "shape", "size", "place",
                                                                            "added", "removed"}


def test_check_takes_natural_right_answers_and_refuses_wrong_and_hedged_ones():
    for item in every_item():
        right, wrong = answers(item)
        assert item.check(item.answer), (item.question, item.answer)
        for text in right:
            assert item.check(text), (item.form, item.question, item.answer, text)
        for text in wrong:
            assert not item.check(text), (item.form, item.question, item.answer, text)


def test_answers_and_questions_are_in_the_same_language():
    for item in every_item():
        assert language_of(item.question) == item.language == language_of(item.answer), item


def every_part():
    parts = [p for by_lang in TEMPLATES.values() for p in by_lang.values()]
    parts += [p for by_lang in RELATION_WORDS.values() for p in by_lang.values()]
    return parts + [p for frames in FRAMES.values() for p in frames.values()]


def test_held_out_wordings_never_appear_in_trained_items_and_every_held_out_item_has_one():
    held = {o for p in every_part() for o in p.held}
    assert all(p.held for p in every_part() if len(p.options) >= 3)
    held_templates = {o for by_lang in TEMPLATES.values() for p in by_lang.values() for o in p.held}
    for split in ("train", "test"):
        for lang in ("en", "zh"):
            trained = items(split, lang, "train", 400 if split == "train" else 250)
            heldout = items(split, lang, "heldout", 400 if split == "train" else 250)
            assert not [i.wording for i in trained if set(i.wording) & held]
            assert all(set(i.wording) & held for i in heldout)
            assert not {i.question for i in trained} & {i.question for i in heldout}
            assert {i.wording[0] for i in heldout} & held_templates      # whole templates held out, not only frames


def test_item_splits_share_no_item_in_any_language_or_wording():
    keys = {}
    for split in ("train", "validation", "test"):
        keys[split] = {i.key for lang in ("en", "zh") for w in ("train", "heldout")
                       for i in items(split, lang, w, 300)}
        contents = {(i.form, i.params, tuple(s.content_key() for s in i.scenes),
                     tuple(s.content_key() for s in i.sounds)) for i in items(split, "en", "train", 300)}
        assert len(contents) > 200
    assert not keys["train"] & keys["test"]
    assert not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]


def test_the_same_arguments_give_the_same_items_and_other_seeds_others():
    def summary(got):
        return [(i.question, i.answer, i.key) for i in got]

    first = multistep_items("test", 60, 5, None, "heldout")
    assert summary(first) == summary(multistep_items("test", 60, 5, None, "heldout"))
    assert summary(first) != summary(multistep_items("test", 60, 6, None, "heldout"))
    assert {i.language for i in first} == {"en", "zh"}
    assert [i.kind for i in multistep_items("train", 30, 1, "zh", kinds=("relation",))] == ["relation"] * 30


def test_the_items_are_the_same_in_another_process_with_another_hash_seed():
    script = ("from modules.world.multistep import multistep_items; "
              "print([(i.question, i.answer, i.key) for i in multistep_items('validation', 40, 3)])")
    here = str([(i.question, i.answer, i.key) for i in multistep_items("validation", 40, 3)])
    for hash_seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[1], env=os.environ | {"PYTHONHASHSEED": hash_seed})
        assert out.stdout.strip() == here


def test_relations_follow_the_five_places():
    """Left of the top object is the left one; nothing at the top, centre or bottom is left of another of them."""
    found = {}
    for item in multistep_items("train", 1500, 2, "en", kinds=("relation",)):
        if item.form == "is it there":
            a, b = obj(item.param("a")), obj(item.param("b"))
            found[(item.param("relation"), a.position, b.position)] = item.check("yes")
    assert found[("left of", "left", "top")] and found[("left of", "left", "right")]
    assert not found[("left of", "center", "top")] and not found[("right of", "bottom", "top")]
    assert found[("above", "top", "left")] and found[("above", "left", "bottom")]
    assert not found[("below", "center", "left")] and not found[("above", "left", "right")]


@pytest.mark.parametrize("bad, message", [
    (dict(split="dev"), "split must be one of ['train', 'validation', 'test']"),
    (dict(lang="fr"), "lang must be one of [None, 'en', 'zh']"),
    (dict(wordings="held"), "wordings must be one of ['train', 'heldout']"),
    (dict(kinds=("riddles",)), "kind must be one of"),
    (dict(count=-1), "count must be 0 or more"),
])
def test_bad_arguments_name_the_problem_and_the_valid_choices(bad, message):
    args = dict(split="train", count=3, seed=0) | bad
    with pytest.raises(ValueError, match=re.escape(message)):
        multistep_items(**args)
