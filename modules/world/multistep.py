"""Multi-step questions about one or two of the world's pictures or sounds, with verified short answers and a rule
that checks any written answer (the reward of a reinforcement-learning stage), in English and Chinese, in splits
that share no item and in trained or held-out wordings."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .multistep_answers import Change, Expected, NamedObject, Number, Ordinal, YesNo
from .multistep_wordings import MULTISTEP_KEY_WORDS, PLURALS, RELATION_WORDS, TEMPLATES, TIMES_WORDS
from .phrasing import stable_hash, worded
from .pictures import COLORS, POSITIONS, REGION_CENTERS, SHAPES, SIZES, Scene, SceneObject, random_scene
from .sounds import PITCHES, TIMBRES, Sound

SPLITS = ("train", "validation", "test")
WORDINGS = ("train", "heldout")
LANGUAGES = ("en", "zh")
# Each kind and its forms; a form names the template it is worded with (multistep_wordings.TEMPLATES) unless
# TEMPLATE_OF says otherwise.
KINDS: dict[str, tuple[str, ...]] = {
    "count with a condition": ("count colour", "count not colour", "count size", "count colour shape",
                               "count not shape"),
    "comparison": ("more shapes", "more colours", "more sizes", "more beeps", "higher pitch", "same beeps"),
    "arithmetic": ("add shapes", "add same shape", "remove colour", "beeps repeated", "beeps together"),
    "relation": ("what is there", "is it there"),
    "two pictures": ("what changed",),
}
TEMPLATE_OF = {"more colours": "more of a kind", "more sizes": "more of a kind"}
PITCH_ORDER = ("low", "medium", "high")


def _left_of(a: str, b: str) -> bool:
    return REGION_CENTERS[a][0] < REGION_CENTERS[b][0]


def _above(a: str, b: str) -> bool:
    return REGION_CENTERS[a][1] < REGION_CENTERS[b][1]


# Relations between two of the five places, from the centres of their regions (pictures.REGION_CENTERS; x grows to
# the right, y downwards): A is "left of" B when A's centre lies further left than B's (A's x is smaller), "right
# of" when further right, "above" when higher (A's y is smaller), "below" when lower. So the object on the left is
# left of those at the top, centre, bottom and right; top, centre and bottom share one column and are neither left
# nor right of each other; the one at the top is above those on the left, centre, right and bottom.
RELATIONS = {
    "left of": _left_of,
    "right of": lambda a, b: _left_of(b, a),
    "above": _above,
    "below": lambda a, b: _above(b, a),
}


@dataclass(frozen=True)
class MultiStepItem:
    """One question and what answers it. scenes / sounds: the media it is about, in order (a second picture or
    sound is "the second"); params: what the question asks about (colour, shape, relation, ...), as words of the
    world in English; key: its content (form, params, media), which alone decides its split; wording: the grammar's
    options it was worded from."""

    question: str
    language: str
    kind: str
    form: str
    answer: str
    expected: Expected
    scenes: tuple[Scene, ...] = ()
    sounds: tuple[Sound, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    key: str = ""
    split: str = ""
    wording: tuple[str, ...] = ()

    def param(self, name: str) -> str:
        return dict(self.params)[name]

    def check(self, answer_text: str) -> bool:
        """Whether a written answer is right (multistep_answers: the rule of each kind of answer)."""
        return self.expected.check(answer_text)


@dataclass(frozen=True)
class Draft:
    """An item before it is worded: its form, media, params and expected answer."""

    form: str
    scenes: tuple[Scene, ...]
    sounds: tuple[Sound, ...]
    params: dict[str, str]
    expected: Expected

    def key(self) -> str:
        media = [s.content_key() for s in self.scenes] + [s.content_key() for s in self.sounds]
        return "|".join([self.form, repr(sorted(self.params.items())), *media])


def split_of_item(key: str) -> str:
    """One item in ten is a test item, one in ten a validation item, the rest train: a stable hash of its content,
    the same in every language and wording, so splits never share an item."""
    bucket = stable_hash("multistep|" + key) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


# ---- pictures ---------------------------------------------------------------------------------------------------

def _present_or_any(present: list[str], every: list[str], rng: random.Random, share: float = 0.6) -> str:
    """One of those present (this share of the time, when any is) else any of every."""
    return rng.choice(sorted(set(present))) if present and rng.random() < share else rng.choice(every)


def _count_draft(form: str, scene: Scene, rng: random.Random) -> Draft:
    objs = scene.objects
    colours, shapes = [o.color for o in objs], [o.shape for o in objs]
    if form in ("count colour", "count not colour"):
        color = _present_or_any(colours, sorted(COLORS), rng)
        n = sum((o.color == color) == (form == "count colour") for o in objs)
        return Draft(form, (scene,), (), {"color": color}, Number(n))
    if form == "count size":
        size = rng.choice(sorted(SIZES))
        return Draft(form, (scene,), (), {"size": size}, Number(sum(o.size == size for o in objs)))
    if form == "count colour shape":
        pick = rng.choice(objs) if rng.random() < 0.6 else None
        color, shape = (pick.color, pick.shape) if pick else (rng.choice(sorted(COLORS)), rng.choice(sorted(SHAPES)))
        n = sum(o.color == color and o.shape == shape for o in objs)
        return Draft(form, (scene,), (), {"color": color, "shape": shape}, Number(n))
    shape = _present_or_any(shapes, sorted(SHAPES), rng)
    return Draft(form, (scene,), (), {"shape": shape}, Number(sum(o.shape != shape for o in objs)))


def _two_of(present: list[str], every: list[str], rng: random.Random) -> tuple[str, str]:
    """Two different values to compare, the first one present more often than not."""
    a = _present_or_any(present, every, rng)
    return a, rng.choice([x for x in every if x != a])


def _comparison_draft(form: str, scene: Scene, rng: random.Random) -> Draft:
    field = {"more shapes": "shape", "more colours": "color", "more sizes": "size"}[form]
    every = sorted({"shape": SHAPES, "color": COLORS, "size": SIZES}[field])
    values = [getattr(o, field) for o in scene.objects]
    a, b = _two_of(values, every, rng)
    return Draft(form, (scene,), (), {"a": a, "b": b}, YesNo(values.count(a) > values.count(b)))


def _arithmetic_draft(form: str, scene: Scene, rng: random.Random) -> Draft:
    objs = scene.objects
    if form == "remove colour":
        color = _present_or_any([o.color for o in objs], sorted(COLORS), rng, 0.8)
        return Draft(form, (scene,), (), {"color": color}, Number(sum(o.color != color for o in objs)))
    k, shape = rng.choice((2, 3)), rng.choice(sorted(SHAPES))
    n = len(objs) if form == "add shapes" else sum(o.shape == shape for o in objs)
    return Draft(form, (scene,), (), {"k": str(k), "shape": shape}, Number(n + k))


def named_uniquely(obj: SceneObject, scene: Scene) -> bool | None:
    """How a question can name the object so that only it answers: False by its shape alone, True by its colour
    and shape, None when neither names it alone."""
    if sum(o.shape == obj.shape for o in scene.objects) == 1:
        return False
    return True if sum((o.shape, o.color) == (obj.shape, obj.color) for o in scene.objects) == 1 else None


def _relation_draft(form: str, scene: Scene, rng: random.Random) -> Draft | None:
    """"What is <relation> the <object>?" only where one object or none is there; "Is the <a> <relation> the <b>?"
    about two objects each named uniquely."""
    nameable = [o for o in scene.objects if named_uniquely(o, scene) is not None]
    if form == "is it there":
        if len(nameable) < 2:
            return None
        a, b = rng.sample(nameable, 2)
        true = sorted(r for r, holds in RELATIONS.items() if holds(a.position, b.position))
        false = sorted(r for r in RELATIONS if r not in true)
        relation = rng.choice(true if true and (rng.random() < 0.5 or not false) else false)
        holds = RELATIONS[relation]
        params = {"relation": relation, "a": _obj_key(a), "b": _obj_key(b),
                  "a_by_colour": str(named_uniquely(a, scene)), "b_by_colour": str(named_uniquely(b, scene))}
        return Draft(form, (scene,), (), params, YesNo(holds(a.position, b.position)))
    if not nameable:
        return None
    relation = rng.choice(sorted(RELATIONS))
    holds = RELATIONS[relation]
    ref = rng.choice(nameable)
    there = [o for o in scene.objects if o != ref and holds(o.position, ref.position)]
    if len(there) > 1 or (not there and rng.random() < 0.85):
        return None                       # several answers; or nothing there, asked less often than something
    by_colour = bool(named_uniquely(ref, scene))
    expected = NamedObject(there[0] if there else None, ref, by_colour, scene.objects)
    params = {"relation": relation, "ref": _obj_key(ref), "ref_by_colour": str(by_colour)}
    return Draft(form, (scene,), (), params, expected)


def _obj_key(obj: SceneObject) -> str:
    return f"{obj.color} {obj.shape} {obj.size} {obj.position}"


def _object_of(key: str) -> SceneObject:
    return SceneObject(*key.split(" "))


def _change_draft(scene: Scene, rng: random.Random) -> Draft | None:
    """The scene and a second one that differs in one thing (Change), the changed object's shape the only one of
    its kind in both."""
    objs = list(scene.objects)
    unique = [o for o in objs if named_uniquely(o, scene) is False]
    empty = [p for p in sorted(POSITIONS) if p not in {o.position for o in objs}]
    change = rng.choice(["colour", "shape", "size", "place", "added", "removed"])
    if change == "added":
        free = [s for s in sorted(SHAPES) if s not in {o.shape for o in objs}]
        if len(objs) > 2:
            return None
        added = SceneObject(rng.choice(sorted(COLORS)), rng.choice(free), rng.choice(sorted(SIZES)), rng.choice(empty))
        return _two_pictures(scene, [*objs, added], Change("added", None, added), rng)
    if not unique or (change == "removed" and len(objs) < 2):
        return None
    obj = rng.choice(unique)
    if change == "removed":
        return _two_pictures(scene, [o for o in objs if o != obj], Change("removed", obj, None), rng)
    if change == "shape":
        free = [s for s in sorted(SHAPES) if s not in {o.shape for o in objs}]
        after = replace(obj, shape=rng.choice(free))
    elif change == "colour":
        after = replace(obj, color=rng.choice([c for c in sorted(COLORS) if c != obj.color]))
    elif change == "size":
        after = replace(obj, size="small" if obj.size == "large" else "large")
    else:
        after = replace(obj, position=rng.choice(empty))
    return _two_pictures(scene, [after if o == obj else o for o in objs], Change(change, obj, after), rng)


def _two_pictures(scene: Scene, objects: list[SceneObject], change: Change, rng: random.Random) -> Draft:
    second = replace(scene, objects=tuple(objects), shade_seed=rng.randrange(1 << 30))
    return Draft("what changed", (scene, second), (), {"change": change.change}, change)


# ---- sounds -----------------------------------------------------------------------------------------------------

def beep_sound(rng: random.Random, count: int | None = None) -> Sound:
    return Sound("beeps", rng.choice(sorted(PITCHES)), rng.choice(sorted(TIMBRES)), count or rng.randint(1, 4),
                 rng.randrange(1 << 30))


def _sound_draft(form: str, rng: random.Random) -> Draft:
    first = beep_sound(rng)
    if form == "beeps repeated":
        times = rng.choice((2, 3, 4))
        return Draft(form, (), (first,), {"times": str(times)}, Number(first.count * times, "声"))
    if form == "higher pitch":
        low, high = sorted(rng.sample(PITCH_ORDER, 2), key=PITCH_ORDER.index)
        sounds = [replace(first, pitch=low), _tone_or_beeps(rng, high)]
        if rng.random() < 0.5:
            sounds.reverse()
        higher = "first" if sounds[0].pitch == high else "second"
        return Draft(form, (), tuple(sounds), {}, Ordinal(higher))
    if form == "same beeps":
        second = beep_sound(rng, first.count if rng.random() < 0.5 else None)
        return Draft(form, (), (first, second), {}, YesNo(first.count == second.count))
    if form == "more beeps":
        second = beep_sound(rng, rng.choice([c for c in range(1, 5) if c != first.count]))
        return Draft(form, (), (first, second), {}, Ordinal("first" if first.count > second.count else "second"))
    second = beep_sound(rng)
    return Draft(form, (), (first, second), {}, Number(first.count + second.count, "声"))


def _tone_or_beeps(rng: random.Random, pitch: str) -> Sound:
    if rng.random() < 0.5:
        return Sound("tone", pitch, rng.choice(sorted(TIMBRES)), None, rng.randrange(1 << 30))
    return replace(beep_sound(rng), pitch=pitch)


SOUND_FORMS = ("more beeps", "higher pitch", "same beeps", "beeps repeated", "beeps together")


def draft_of(form: str, rng: random.Random) -> Draft | None:
    """A draft of this form about fresh media, or None when the picture drawn does not suit the form."""
    if form in SOUND_FORMS:
        return _sound_draft(form, rng)
    scene = random_scene(rng)
    if form.startswith("count"):
        return _count_draft(form, scene, rng)
    if form.startswith("more"):
        return _comparison_draft(form, scene, rng)
    if form in KINDS["arithmetic"]:
        return _arithmetic_draft(form, scene, rng)
    if form in KINDS["relation"]:
        return _relation_draft(form, scene, rng)
    return _change_draft(scene, rng)


# ---- wording ----------------------------------------------------------------------------------------------------

def _name(key: str, by_colour: str, lang: str) -> str:
    """An object as a question names it: "triangle" / "red circle"; "三角形" / "红色圆形"."""
    obj = _object_of(key)
    if lang == "en":
        return f"{obj.color} {obj.shape}" if by_colour == "True" else obj.shape
    return (COLORS[obj.color][1] if by_colour == "True" else "") + SHAPES[obj.shape]


def _word(value: str, lang: str) -> str:
    """A colour, shape or size in the question's language ("red" / "红色", "large" / "大")."""
    if lang == "en":
        return value
    return COLORS[value][1] if value in COLORS else SHAPES.get(value) or SIZES[value]


def slots_of(draft: Draft, lang: str) -> dict:
    p, en = draft.params, lang == "en"
    slots: dict = {}
    for name in ("color", "size"):
        if name in p:
            slots[name] = _word(p[name], lang)
    if "shape" in p:
        slots["shape"], slots["shapes"] = _word(p["shape"], lang), PLURALS[p["shape"]] if en else SHAPES[p["shape"]]
    if "k" in p:
        slots["k"] = {"2": "two", "3": "three"}[p["k"]] if en else {"2": "两", "3": "三"}[p["k"]]
    if "times" in p:
        slots["times"] = TIMES_WORDS[lang][int(p["times"])]
    if "relation" in p:
        slots["rel"] = RELATION_WORDS[lang][p["relation"]]
    if "ref" in p:
        slots["ref"] = _name(p["ref"], p["ref_by_colour"], lang)
    if draft.form == "is it there":
        slots["a"], slots["b"] = _name(p["a"], p["a_by_colour"], lang), _name(p["b"], p["b_by_colour"], lang)
    elif draft.form == "more shapes":
        slots["a"], slots["b"] = ((PLURALS[p["a"]], PLURALS[p["b"]]) if en else (SHAPES[p["a"]], SHAPES[p["b"]]))
    elif "a" in p:
        slots["a"], slots["b"] = _word(p["a"], lang), _word(p["b"], lang)
    return slots


def kind_of(form: str) -> str:
    return next(kind for kind, forms in KINDS.items() if form in forms)


def worded_item(draft: Draft, lang: str, rng: random.Random, held_out: bool) -> MultiStepItem:
    template = TEMPLATES[TEMPLATE_OF.get(draft.form, draft.form)][lang]
    wording = worded(template, slots_of(draft, lang), lang, rng, held_out, MULTISTEP_KEY_WORDS)
    key = draft.key()
    return MultiStepItem(wording.text, lang, kind_of(draft.form), draft.form, draft.expected.say(lang),
                         draft.expected, draft.scenes, draft.sounds, tuple(sorted(draft.params.items())), key,
                         split_of_item(key), wording.parts)


def _checked(name: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {list(valid)}; got {value!r}")


def multistep_items(split: str, count: int, seed: int, lang: str | None = None, wordings: str = "train",
                    kinds: tuple[str, ...] | None = None) -> list[MultiStepItem]:
    """`count` items of the item split (train, validation, test: an item's content decides it, split_of_item),
    each kind alike and each of its forms alike; lang: "en", "zh" or None for either at random; wordings: "train"
    (only trained wordings) or "heldout" (each with a held-out option: phrasing.choose); kinds: a subset of KINDS.
    The same arguments give the same items."""
    _checked("split", split, SPLITS)
    _checked("lang", lang, (None, *LANGUAGES))
    _checked("wordings", wordings, WORDINGS)
    for kind in kinds or ():
        _checked("kind", kind, tuple(KINDS))
    if count < 0:
        raise ValueError(f"count must be 0 or more; got {count}")
    rng = random.Random(f"multistep|{split}|{seed}|{lang}|{wordings}|{kinds}")
    items: list[MultiStepItem] = []
    for _ in range(count):
        form = rng.choice(KINDS[rng.choice(sorted(kinds or KINDS))])
        draft = draft_in_split(form, split, rng)
        items.append(worded_item(draft, lang or rng.choice(LANGUAGES), rng, wordings == "heldout"))
    return items


def draft_in_split(form: str, split: str, rng: random.Random, tries: int = 2000) -> Draft:
    """The first draft of the form, drawn afresh each try, whose content falls into the split."""
    for _ in range(tries):
        draft = draft_of(form, rng)
        if draft is not None and split_of_item(draft.key()) == split:
            return draft
    raise RuntimeError(f"no {split} item of the form {form!r} in {tries} draws")
