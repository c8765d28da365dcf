"""Natural answers to multi-step questions, right and wrong, written the ways people write them (for the tests of
the check rule): numbers in digits and words, yes / no, first / second, objects, changes between two pictures."""
from modules.world.pictures import COLORS, POSITIONS, SHAPES, SceneObject

EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
      "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"]
ZH = ["零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五", "十六", "十七"]
SIZE_ZH = {"small": "小", "large": "大"}


def name_of(o: SceneObject, lang: str) -> str:
    return f"{o.color} {o.shape}" if lang == "en" else COLORS[o.color][1] + SHAPES[o.shape]


def numbers(n: int, lang: str):
    if lang == "en":
        right = [str(n), EN[n], f"There are {EN[n]}.", f"{n} in total", f"The answer is {n}.", EN[n].upper()]
        right += ["none", "There are none."] if n == 0 else []
        wrong = [str(n + 1), EN[n + 1], f"{n} or {n + 1}", f"{EN[n]} or {EN[n + 1]}", ""]
    else:
        right = [f"{n}", f"{n}个", ZH[n] + "个", f"一共有{ZH[n]}个", f"答案是{n}。", f"{ZH[n]}声"]
        right += ["没有", "一个也没有"] if n == 0 else []
        wrong = [f"{n + 1}个", ZH[n + 1] + "个", f"{ZH[n]}个或{ZH[n + 1]}个", f"{n}或{n + 1}", ""]
    return right, wrong


YES = {"en": ["Yes.", "yes", "Yes, it is.", "YES!", "yeah", "Correct."], "zh": ["是", "是的。", "对", "对，没错"]}
NO = {"en": ["No.", "no", "No, it isn't.", "nope", "No, there are not."], "zh": ["不是", "不是的。", "不", "不对"]}
HEDGED = {"en": ["yes or no", "Yes? No?", "maybe"], "zh": ["是或不是", "不知道是不是", "也许"]}


def yes_no(value: bool, item):
    yes, no = list(YES[item.language]), list(NO[item.language])
    if item.form == "is it there" and item.language == "zh":
        yes, no = yes + ["在", "在的"], no + ["不在"]
    if item.form == "same beeps" and item.language == "zh":
        yes, no = yes + ["一样"], no + ["不一样", "不相同"]
    return (yes, no + HEDGED[item.language]) if value else (no, yes + HEDGED[item.language])


def ordinals(value: str, item):
    other = "second" if value == "first" else "first"
    verb = "has more beeps" if item.form == "more beeps" else "is higher"
    zh = {"first": "第一", "second": "第二"}
    if item.language == "en":
        right = [f"The {value}.", f"the {value} one", value.capitalize(), f"The {value} sound {verb} than the {other}."]
        wrong = [f"The {other}.", f"the {other} one", "the first or the second", "both the first and the second", ""]
    else:
        right = [f"{zh[value]}段", f"{zh[value]}个", f"是{zh[value]}段。", f"{zh[value]}段比{zh[other]}段多"]
        wrong = [f"{zh[other]}段", f"{zh[other]}个声音", "第一段还是第二段", "第一段和第二段", ""]
    return right, wrong


def objects(target, ref, ref_by_colour, objs, lang):
    others = [o for o in objs if o not in (target, ref)]
    shared = target is not None and any(o.shape == target.shape for o in objs if o != target)
    rel_en, rel_zh = "left of", "左边"
    ref_en, ref_zh = (name_of(ref, "en"), name_of(ref, "zh")) if ref_by_colour else (ref.shape, SHAPES[ref.shape])
    if target is None:
        wrong = [f"the {name_of(o, 'en')}" if lang == "en" else name_of(o, "zh") for o in others]
        if lang == "en":
            return ["Nothing.", "nothing", "There is nothing there.", "None.",
                    f"Nothing is {rel_en} the {ref_en}."], wrong + ["", "the blue star or nothing"]
        return ["没有", "什么也没有。", "那里什么都没有", f"{ref_zh}{rel_zh}什么也没有。"], wrong + ["", "蓝色星形或者没有"]
    c, s = target.color, target.shape
    wrong_colour = next(x for x in sorted(COLORS) if x != c)
    wrong_shape = next(x for x in sorted(SHAPES) if x != s)
    if lang == "en":
        right = [f"the {c} {s}", f"{c.upper()} {s.upper()}", f"A {c} {s}.", f"The {c} {s} is {rel_en} the {ref_en}."]
        right += [] if shared else [f"the {s}", f"a {s}"]
        wrong = [f"the {wrong_colour} {s}", f"the {c} {wrong_shape}", f"the {c} {s} or the {wrong_colour} "
                 f"{wrong_shape}", "nothing", ""] + [f"the {name_of(o, 'en')}" for o in others if o.shape != s]
    else:
        czh, szh = COLORS[c][1], SHAPES[s]
        right = [czh + szh, f"{czh}的{szh}", f"是一个{czh}的{szh}。", f"{ref_zh}{rel_zh}是{czh}{szh}。"]
        right += [] if shared else [szh]
        wrong = [COLORS[wrong_colour][1] + szh, czh + SHAPES[wrong_shape], f"{czh}{szh}或者{SHAPES[wrong_shape]}",
                 "什么也没有", ""] + [name_of(o, "zh") for o in others if o.shape != s]
    return right, wrong


def changes(change, before, after, lang):
    """Right and wrong answers to "what changed?" (the changed object's shape is the only one of its kind)."""
    en = lang == "en"
    if change in ("added", "removed"):
        o = after or before
        c, s, other_shape = o.color, o.shape, next(x for x in sorted(SHAPES) if x != o.shape)
        cz, sz = COLORS[c][1], SHAPES[s]
        said = {"added": (["A {c} {s} was added.", "a new {c} {s} appeared", "There is an extra {s}."],
                          ["多了一个{cz}{sz}", "新出现了一个{sz}", "增加了一个{cz}的{sz}"]),
                "removed": (["The {c} {s} was removed.", "the {s} is gone", "The {c} {s} disappeared."],
                            ["{cz}{sz}不见了", "{sz}消失了", "少了一个{cz}{sz}"])}
        opposite = "removed" if change == "added" else "added"
        right = [t.format(c=c, s=s, cz=cz, sz=sz) for t in said[change][0 if en else 1]]
        wrong = [t.format(c=c, s=s, cz=cz, sz=sz) for t in said[opposite][0 if en else 1]]
        wrong += ([f"a {other_shape} was {change}", f"a {c} {s} or a {other_shape} was {change}"] if en else
                  [f"{SHAPES[other_shape]}" + ("不见了" if change == "removed" else "出现了"), "什么也没变"])
        return right, wrong + [""]
    field = {"colour": "color", "place": "position"}.get(change, change)
    old, new = getattr(before, field), getattr(after, field)
    third = next((x for x in sorted({"color": COLORS, "shape": SHAPES, "size": ("small", "large"),
                                     "position": POSITIONS}[field]) if x not in (old, new)), None)   # none: size
    s, other_shape = before.shape, next(x for x in sorted(SHAPES) if x not in (before.shape, after.shape))
    return (changed_en if en else changed_zh)(change, s, old, new, third, other_shape)


def changed_en(change, s, old, new, third, other_shape):
    if change == "colour":
        right = [f"The {s} turned {new}.", f"the {s} changed from {old} to {new}", f"The {old} {s} is now {new}.",
                 f"the {s} is {new} now instead of {old}"]
        wrong = [f"The {s} turned {old}.", f"the {s} turned {new} or {third}", f"the {other_shape} turned {new}"]
    elif change == "shape":
        right = [f"The {old} became a {new}.", f"the {old} turned into a {new}", f"It changed to a {new}."]
        wrong = [f"the {new} became a {old}", f"the {old} became a {third}", f"a {new} or a {third}"]
    elif change == "size":
        bigger = "bigger" if new == "large" else "smaller"
        other = "smaller" if new == "large" else "bigger"
        right = [f"The {s} got {bigger}.", f"The {old} {s} became {new}.", f"the {s} is {new} now"]
        wrong = [f"The {s} got {other}.", f"the {s} got bigger or smaller", f"the {other_shape} got {bigger}"]
    else:
        right = [f"The {s} moved to the {new}.", f"the {s} moved from the {old} to the {new}"]
        wrong = [f"The {s} moved to the {third}.", f"the {s} moved to the {new} or the {third}",
                 f"the {other_shape} moved to the {new}"]
    return right, wrong + [""]


def changed_zh(change, s, old, new, third, other_shape):
    sz, osz = SHAPES[s], SHAPES[other_shape]
    if change == "colour":
        o, n, t = COLORS[old][1], COLORS[new][1], COLORS[third][1]
        return [f"{sz}变成了{n}", f"{sz}从{o}变成了{n}。"], [f"{sz}变成了{o}", f"{sz}变成了{n}或{t}", f"{osz}变成了{n}", ""]
    if change == "shape":
        o, n, t = SHAPES[old], SHAPES[new], SHAPES[third]
        return [f"{o}变成了{n}", f"{o}变成{n}了。"], [f"{n}变成了{o}", f"{o}变成了{t}", f"{n}或{t}", ""]
    if change == "size":
        n, o = SIZE_ZH[new], SIZE_ZH[old]
        return [f"{sz}变{n}了", f"{sz}从{o}的变成{n}的了"], [f"{sz}变{o}了", f"{osz}变{n}了", ""]
    o, n, t = POSITIONS[old], POSITIONS[new], POSITIONS[third]
    return [f"{sz}移到了{n}", f"{sz}从{o}移到了{n}"], [f"{sz}移到了{t}", f"{sz}移到了{n}或{t}", f"{osz}移到了{n}", ""]
