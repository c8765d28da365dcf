"""Short reasoning traces for the cold-start stage: for a multi-step item, the steps that answer it written from the
item's own content (its pictures' objects, its sounds' beeps and pitches, what it asks about), in the question's
language and in one of several phrasings, then </think> and an answer its check accepts.

A trace reads only the item's structured content (scenes, sounds, params, expected) and never its question text,
so two wordings of one item get the same kind of trace. Only items of the train split are traced (trace_for raises
on any other): the cold start must not see a validation or test item."""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..reasoning import THINK_END
from ..world.multistep import RELATIONS, MultiStepItem, _object_of
from ..world.multistep_answers import Change, NamedObject, Number, Ordinal, YesNo
from ..world.multistep_wordings import PLURALS
from ..world.pictures import COLORS, POSITION_PHRASES_EN, POSITIONS, SHAPES, SIZES, Scene, SceneObject
from ..world.sounds import PITCHES, Sound

PLACE_ORDER = ("top", "left", "center", "right", "bottom")     # reading order, as the captions list objects
ZH_RELATIONS = {"left of": "左边", "right of": "右边", "above": "上边", "below": "下边"}


@dataclass(frozen=True)
class Trace:
    """What the model is taught to write after the <think> its prompt opened: the thinking, then the answer."""

    thinking: str
    answer: str

    def reply(self) -> str:
        """The written reply after the opener: thinking, the closing tag on its own line, the answer."""
        return f"{self.thinking}\n{THINK_END}\n{self.answer}"


# ---- words for the world's things -------------------------------------------------------------------------------

def object_words(obj: SceneObject, lang: str, size: bool = False, place: bool = False, colour: bool = True) -> str:
    """"large red circle on the left" / "左边的大的红色圆形" (size and place only when asked for, colour unless
    told not to)."""
    if lang == "en":
        words = " ".join([*([obj.size] if size else []), *([obj.color] if colour else []), obj.shape])
        return f"{words} {POSITION_PHRASES_EN[obj.position]}" if place else words
    words = (f"{SIZES[obj.size]}的" if size else "") + (COLORS[obj.color][1] if colour else "") + SHAPES[obj.shape]
    return f"{POSITIONS[obj.position]}的{words}" if place else words


def by_place(objects) -> list[SceneObject]:
    return sorted(objects, key=lambda o: PLACE_ORDER.index(o.position))


def listed(objects, lang: str, size: bool = False, place: bool = False, colour: bool = True) -> str:
    """The objects in reading order, or "none" / "没有"."""
    if not objects:
        return "none" if lang == "en" else "没有"
    return ("、" if lang == "zh" else ", ").join(object_words(o, lang, size, place, colour) for o in by_place(objects))


def inventory(scene: Scene, lang: str, rng: random.Random, size: bool = False, place: bool = False) -> str:
    """The first step of every picture trace: what the picture holds."""
    things = listed(scene.objects, lang, size, place)
    if lang == "en":
        return rng.choice(("Shapes: {}.", "I see {}.", "The picture has {}.")).format(things)
    return rng.choice(("图形：{}。", "图中有{}。", "我看到{}。")).format(things)


def place_word(place: str, lang: str) -> str:
    return POSITION_PHRASES_EN[place] if lang == "en" else POSITIONS[place]


def beeps_of(sound: Sound, lang: str) -> str:
    if sound.kind != "beeps":
        return "a long tone" if lang == "en" else "一个长音"
    return f"{sound.count} beep{'s' if sound.count != 1 else ''}" if lang == "en" else f"{sound.count}声"


def ordinal(index: int, lang: str) -> str:
    return ("first", "second")[index] if lang == "en" else ("第一段", "第二段")[index]


# ---- the steps of each kind ---------------------------------------------------------------------------------------

def count_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    """Counting with a condition: every object, those that meet the condition, how many they are."""
    lang, scene, form = item.language, item.scenes[0], item.form
    p = dict(item.params)
    en = lang == "en"
    tests = {"count colour": lambda o: o.color == p.get("color"),
             "count not colour": lambda o: o.color != p.get("color"),
             "count size": lambda o: o.size == p.get("size"),
             "count colour shape": lambda o: (o.color, o.shape) == (p.get("color"), p.get("shape")),
             "count not shape": lambda o: o.shape != p.get("shape")}
    if en:
        label = {"count colour": p.get("color"), "count not colour": f"not {p.get('color')}",
                 "count size": p.get("size"), "count colour shape": f"{p.get('color')} {PLURALS.get(p.get('shape'))}",
                 "count not shape": f"not {PLURALS.get(p.get('shape'))}"}[form]
    else:
        colour, shape = COLORS.get(p.get("color"), ("", ""))[1], SHAPES.get(p.get("shape"), "")
        label = {"count colour": f"{colour}的", "count not colour": f"不是{colour}的",
                 "count size": f"{SIZES.get(p.get('size'), '')}的", "count colour shape": f"{colour}的{shape}",
                 "count not shape": f"不是{shape}的"}[form]
    chosen = [o for o in scene.objects if tests[form](o)]
    sized = form == "count size"
    things, n = listed(chosen, lang, size=sized), len(chosen)
    if en:
        step = rng.choice(("{L}: {T}. That is {n}.", "Which are {l}? {T}. So {n}.",
                           "Counting {l}: {T}; {n} in all."))
        step = step.format(L=label[0].upper() + label[1:], l=label, T=things, n=n)
    else:
        step = rng.choice(("{l}：{T}。一共{n}个。", "{l}有：{T}，共{n}个。", "数{l}：{T}。所以是{n}个。"))
        step = step.format(l=label, T=things, n=n)
    return [inventory(scene, lang, rng, size=sized), step]


def comparison_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    """Comparisons about a picture: each side counted, then which is more."""
    lang, scene, form = item.language, item.scenes[0], item.form
    a, b = item.param("a"), item.param("b")
    field = {"more shapes": "shape", "more colours": "color", "more sizes": "size"}[form]
    values = [getattr(o, field) for o in scene.objects]
    na, nb = values.count(a), values.count(b)
    if lang == "en":
        name = (lambda v: PLURALS[v]) if field == "shape" else (lambda v: f"{v} ones")
        more = "more than" if na > nb else "not more than"
        step = rng.choice(("{A}: {na}. {B}: {nb}. {na} is {m} {nb}.", "Counted: {na} {a} and {nb} {b}; {na} is {m} "
                           "{nb}."))
        step = step.format(A=name(a).capitalize(), B=name(b).capitalize(), a=name(a), b=name(b), na=na, nb=nb,
                           m=more)
    else:
        name = lambda v: SHAPES[v] if field == "shape" else (COLORS[v][1] if field == "color" else SIZES[v]) + "的"
        more = "多于" if na > nb else "不多于"
        step = rng.choice(("{A}{na}个，{B}{nb}个。{na}{m}{nb}。", "{A}有{na}个，{B}有{nb}个，{na}{m}{nb}。"))
        step = step.format(A=name(a), B=name(b), na=na, nb=nb, m=more)
    return [inventory(scene, lang, rng, size=field == "size"), step]


def arithmetic_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    """Arithmetic: the count now, then the sum or difference."""
    lang, form, en = item.language, item.form, item.language == "en"
    if form in ("beeps repeated", "beeps together"):
        return sound_arithmetic_steps(item, rng)
    scene = item.scenes[0]
    objs = scene.objects
    if form == "remove colour":
        colour = item.param("color")
        n, r = len(objs), sum(o.color == colour for o in objs)
        if en:
            step = rng.choice(("{n} shapes, {r} of them {c}. Taking those away: {n} - {r} = {m}.",
                               "All shapes: {n}. {C}: {r}. {n} - {r} = {m} remain."))
            step = step.format(n=n, r=r, c=colour, C=colour.capitalize(), m=n - r)
        else:
            step = rng.choice(("一共{n}个图形，{c}的{r}个。去掉它们：{n} - {r} = {m}。",
                               "图形{n}个，其中{c}的{r}个，{n} - {r} = {m}，还剩{m}个。"))
            step = step.format(n=n, r=r, c=COLORS[colour][1], m=n - r)
        return [inventory(scene, lang, rng), step]
    k, shape = int(item.param("k")), item.param("shape")
    if form == "add shapes":
        n = len(objs)
        step = (rng.choice(("{n} shapes now. Adding {k}: {n} + {k} = {m}.", "There are {n}; {n} + {k} = {m}."))
                if en else rng.choice(("现在有{n}个图形。再加{k}个：{n} + {k} = {m}。", "图形有{n}个，{n} + {k} = {m}。")))
        return [inventory(scene, lang, rng), step.format(n=n, k=k, m=n + k)]
    n = sum(o.shape == shape for o in objs)
    if en:
        step = rng.choice(("{S} now: {n}. Adding {k}: {n} + {k} = {m}.", "{n} {s} so far; {n} + {k} = {m}."))
        step = step.format(S=PLURALS[shape].capitalize(), s=PLURALS[shape], n=n, k=k, m=n + k)
    else:
        step = rng.choice(("现在{s}有{n}个。再加{k}个：{n} + {k} = {m}。", "{s}{n}个，{n} + {k} = {m}。"))
        step = step.format(s=SHAPES[shape], n=n, k=k, m=n + k)
    return [inventory(scene, lang, rng), step]


def sound_arithmetic_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    lang, en = item.language, item.language == "en"
    counts = [s.count for s in item.sounds]
    if item.form == "beeps repeated":
        c, t = counts[0], int(item.param("times"))
        step = (rng.choice(("The sound has {c}. Played {t} times: {c_} × {t} = {m}.",
                            "{c} each time, {t} times: {c_} × {t} = {m}."))
                if en else rng.choice(("这段声音有{c}声。播放{t}遍：{c} × {t} = {m}。", "每遍{c}声，{t}遍：{c} × {t} = {m}。")))
        return [step.format(c=beeps_of(item.sounds[0], lang) if en else c, c_=c, t=t, m=c * t)]
    a, b = counts
    step = (rng.choice(("First sound: {a} beeps. Second sound: {b} beeps. {a} + {b} = {m}.",
                        "{a} beeps, then {b} beeps: {a} + {b} = {m}."))
            if en else rng.choice(("第一段{a}声，第二段{b}声。{a} + {b} = {m}。", "前一段有{a}声，后一段有{b}声，{a} + {b} = {m}。")))
    return [step.format(a=a, b=b, m=a + b)]


def relation_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    """Relations: where each object is, then which places stand in the relation."""
    lang, scene, en = item.language, item.scenes[0], item.language == "en"
    relation = item.param("relation")
    holds = RELATIONS[relation]
    rel = relation if en else ZH_RELATIONS[relation]
    if item.form == "is it there":
        a, b = _object_of(item.param("a")), _object_of(item.param("b"))
        yes = holds(a.position, b.position)
        if en:
            step = rng.choice(("The {a} is {pa} and the {b} is {pb}. So the {a} is {no}{r} the {b}.",
                               "{A}: {pa}. {B}: {pb}. The {na} is {no}{r} the {nb}."))
            step = step.format(a=object_words(a, lang), b=object_words(b, lang), A=object_words(a, lang).capitalize(),
                               B=object_words(b, lang).capitalize(), pa=place_word(a.position, lang),
                               pb=place_word(b.position, lang), na=a.position, nb=b.position,
                               no="" if yes else "not ", r=rel)
        else:
            step = rng.choice(("{a}在{pa}，{b}在{pb}。所以{a}{no}在{b}的{r}。", "{a}：{pa}。{b}：{pb}。{pa}{no}在{pb}的{r}。"))
            step = step.format(a=object_words(a, lang), b=object_words(b, lang), pa=place_word(a.position, lang),
                               pb=place_word(b.position, lang), no="" if yes else "不", r=rel)
        return [inventory(scene, lang, rng, place=True), step]
    ref = _object_of(item.param("ref"))
    there = [o for o in scene.objects if o != ref and holds(o.position, ref.position)]
    things = listed(there, lang) if there else ("nothing" if en else "什么也没有")
    if en:
        step = rng.choice(("The {o} is {p}. {R} it: {t}.", "The {o} sits {p}; {r} it there is {t}."))
        step = step.format(o=object_words(ref, lang), p=place_word(ref.position, lang), R=rel.capitalize(), r=rel,
                           t=things)
    else:
        step = rng.choice(("{o}在{p}。它的{r}：{t}。", "{o}在{p}，{r}那边：{t}。"))
        step = step.format(o=object_words(ref, lang), p=place_word(ref.position, lang), r=rel, t=things)
    return [inventory(scene, lang, rng, place=True), step]


def change_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    """Two pictures: what each holds, then the one difference."""
    lang, en = item.language, item.language == "en"
    change: Change = item.expected
    # only what the change can be in: the changed object's shape is the only one of its kind in both pictures,
    # so a change of size or place is told by shapes alone
    sized, placed = change.change == "size", change.change == "place"
    first, second = (listed(s.objects, lang, size=sized, place=placed, colour=not (sized or placed))
                     for s in item.scenes)
    seen = (rng.choice(("First picture: {}. Second picture: {}.", "Before: {}. After: {}."))
            if en else rng.choice(("第一张图：{}。第二张图：{}。", "前一张有{}；后一张有{}。"))).format(first, second)
    b, a = change.before, change.after
    if change.change == "added":
        step = f"New in the second: {object_words(a, lang)}." if en else f"第二张多了{object_words(a, lang)}。"
    elif change.change == "removed":
        step = f"Gone from the second: {object_words(b, lang)}." if en else f"第二张少了{object_words(b, lang)}。"
    else:
        field = {"colour": "color", "shape": "shape", "size": "size", "place": "position"}[change.change]
        old, new = getattr(b, field), getattr(a, field)
        if en:
            word = (lambda v: POSITION_PHRASES_EN[v]) if field == "position" else (lambda v: v)
            step = f"The {b.shape} was {word(old)}, now {word(new)}."
        else:
            word = {"color": lambda v: COLORS[v][1], "shape": lambda v: SHAPES[v], "size": lambda v: SIZES[v],
                    "position": lambda v: POSITIONS[v]}[field]
            verb = "在" if field == "position" else "是"
            step = f"{SHAPES[b.shape]}原来{verb}{word(old)}，现在{verb}{word(new)}。"
    return [seen, step]


def sound_comparison_steps(item: MultiStepItem, rng: random.Random) -> list[str]:
    """Comparisons of two sounds: each one's beeps or pitch, then which."""
    lang, en = item.language, item.language == "en"
    s1, s2 = item.sounds
    if item.form == "higher pitch":
        p1, p2 = (s.pitch for s in item.sounds)
        if en:
            return [rng.choice(("First sound: {a} pitch. Second sound: {b} pitch.", "The first is {a}, the second "
                                "{b}.")).format(a=p1, b=p2)]
        return [rng.choice(("第一段是{a}，第二段是{b}。", "前一段{a}，后一段{b}。")).format(a=PITCHES[p1][1], b=PITCHES[p2][1])]
    a, b = beeps_of(s1, lang), beeps_of(s2, lang)
    if item.form == "same beeps":
        same = s1.count == s2.count
        if en:
            verdict = "the same" if same else "not the same"
            return [rng.choice(("First sound: {a}. Second sound: {b}. That is {v}.",
                                "{a} and {b}: {v}.")).format(a=a, b=b, v=verdict)]
        verdict = "一样" if same else "不一样"
        return [rng.choice(("第一段{a}，第二段{b}，{v}。", "前一段{a}，后一段{b}：{v}。")).format(a=a, b=b, v=verdict)]
    more = ordinal(0 if s1.count > s2.count else 1, lang)
    if en:
        return [rng.choice(("First sound: {a}. Second sound: {b}. The {m} has more.",
                            "{a} against {b}; more in the {m}.")).format(a=a, b=b, m=more)]
    return [rng.choice(("第一段{a}，第二段{b}。{m}多。", "前一段{a}，后一段{b}，{m}的更多。")).format(a=a, b=b, m=more)]


STEPS = {"count with a condition": count_steps, "comparison": comparison_steps, "arithmetic": arithmetic_steps,
         "relation": relation_steps, "two pictures": change_steps}
SOUND_COMPARISONS = ("more beeps", "higher pitch", "same beeps")


# ---- answers ------------------------------------------------------------------------------------------------------

def answer_options(item: MultiStepItem) -> list[str]:
    """Ways to say the item's expected answer, each one its check accepts (the expected answer's own say() first)."""
    expected, lang, en = item.expected, item.language, item.language == "en"
    said = expected.say(lang)
    if isinstance(expected, Number):
        n, beeps = expected.value, expected.unit == "声"
        noun = ("beep" if beeps else "shape") + ("" if n == 1 else "s")
        options = ([f"{said.capitalize()}.", f"{n}.", f"{n} {noun}.", f"There {'is' if n == 1 else 'are'} {n}."]
                   if en else [f"{said}。", f"{n}{expected.unit}。", f"一共{said}。", f"有{said}。"])
    elif isinstance(expected, YesNo):
        options = ((["Yes.", "Yes, it is."] if expected.value else ["No.", "No, it is not."]) if en
                   else (["是。", "是的。", "对。"] if expected.value else ["不是。", "不。", "不对。"]))
    elif isinstance(expected, Ordinal):
        options = ([f"The {expected.value}.", f"The {expected.value} one.", f"The {expected.value} sound."] if en
                   else [f"{said}。", f"{said}声音。", f"是{said}。"])
    elif isinstance(expected, NamedObject) and expected.target is None:
        options = ["Nothing.", "Nothing is there.", "There is nothing."] if en else ["什么也没有。", "那里什么都没有。"]
    elif isinstance(expected, NamedObject):
        options = ([f"{said.capitalize()}.", f"It is {said}."] if en else [f"{said}。", f"是{said}。"])
    else:
        options = [f"{said.capitalize()}."] if en else [f"{said}。"]
    return [o for o in options if item.check(o)] or [said]


# ---- a trace ------------------------------------------------------------------------------------------------------

def trace_for(item: MultiStepItem, rng: random.Random) -> Trace:
    """The item's trace in one of its phrasings (rng picks). Raises ValueError for an item outside the train split,
    and AssertionError should its answer ever fail the item's check (no such trace is ever taught)."""
    if item.split != "train":
        raise ValueError(f"cold-start traces come from train items only; this item is a {item.split!r} item")
    if item.form in SOUND_COMPARISONS:
        steps = sound_comparison_steps(item, rng)
    else:
        steps = STEPS[item.kind](item, rng)
    answer = rng.choice(answer_options(item))
    assert item.check(answer), (item.form, item.language, answer)
    return Trace((" " if item.language == "en" else "").join(steps), answer)
