"""What a multi-step question expects as its answer, how that answer is said, and the rule that checks a written
answer against it (a reward that needs no model: digits or number words, yes / no, first / second, an object's
name, a change between two pictures; in English or Chinese, any case, full- or half-width).

Every rule rejects an answer that names two different candidates ("two or three", "yes or no", "the first or the
second", "the red circle or the blue star"), so hedging never earns a reward."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .pictures import COLORS, POSITIONS, SHAPES, SceneObject

EN_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
              "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty")
ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# Chinese words that hold a numeral but say no number; taken out before numerals are read.
ZH_NOT_NUMBERS = ("三角", "一共", "一起", "一样", "一下", "一些", "一点", "一直", "一定", "一般", "统一", "万一",
                  "第一", "第二", "十分", "一遍")
EN_ZERO_WORDS = ("none", "no", "nothing")
ZH_ZERO_WORDS = ("没有", "无")
ZH_NONE_AT_ALL = r"一个(?:也|都)没有|一声(?:也|都)没有"    # "not a single one": 0, though it holds 一

EN_YES = ("yes", "yeah", "yep", "yup", "true", "correct", "sure", "indeed")
EN_NO = ("no", "nope", "not", "false", "incorrect")
ZH_NO = ("不是", "不对", "不一样", "不相同", "没有", "不会", "不在", "不", "没", "否", "错")
ZH_YES = ("是", "对", "有", "一样", "相同", "会", "在", "嗯", "正确")

# Word patterns (English, whole words) and stems (Chinese) for each candidate an answer may name.
EN_COLOURS = {c: rf"\b{c}\b" for c in COLORS}
ZH_COLOURS = {"red": "红", "green": "绿", "blue": "蓝", "yellow": "黄", "purple": "紫", "orange": "橙|橘"}
EN_SHAPES = {"circle": r"\bcircles?\b", "square": r"\bsquares?\b", "triangle": r"\btriangles?\b",
             "star": r"\bstars?\b"}
ZH_SHAPES = {"circle": "圆", "square": "正方|方形|方块", "triangle": "三角", "star": "星"}
EN_PLACES = {"left": r"\bleft\b", "right": r"\bright\b", "top": r"\b(?:top|above|up|upper)\b",
             "bottom": r"\b(?:bottom|below|down|lower)\b", "center": r"\b(?:cent(?:er|re)|middle)\b"}
ZH_PLACES = {"left": "左", "right": "右", "top": "上边|上面|上方|上侧|顶", "bottom": "下边|下面|下方|下侧|底",
             "center": "中间|中央|正中|中心"}
EN_SIZES = {"large": r"\b(?:large|larger|big|bigger|grew|grown|enlarged)\b",
            "small": r"\b(?:small|smaller|little|shrank|shrunk|shrink|shrinks|tiny)\b"}
ZH_SIZES = {"large": "大", "small": "小"}
EN_ORDINALS = {"first": r"\b(?:first|1st|former)\b", "second": r"\b(?:second|2nd|latter)\b"}
ZH_ORDINALS = {"first": "第一|第1|前一|前者|前面", "second": "第二|第2|后一|后者|后面"}
EN_ADDED = r"\b(?:added|add|adds|appeared|appears|new|extra|more|another)\b"
EN_REMOVED = (r"\b(?:removed|remove|gone|disappeared|disappears|missing|vanished|deleted|taken|fewer|less|lost)\b"
              r"|\bno longer\b")
ZH_ADDED = "多了|增加|添加|加了|新|出现|多出"
ZH_REMOVED = "少了|不见|消失|去掉|移除|拿走|没了|删|没有了"
EN_NOTHING = r"\b(?:nothing|none|empty)\b|\bno (?:object|shape|thing)s?\b"
ZH_NOTHING = "没有|什么也没|什么都没|无"


def normalised(text: str) -> str:
    """Full-width forms made half-width (NFKC), lower case, runs of spaces made one."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def numbers_in(text: str) -> set[int]:
    """Every number the text names: Arabic digits, English number words (zero..twenty), Chinese numerals (一..二十,
    两); with none, 0 when it says none / nothing / 没有."""
    text = normalised(text)
    found = {int(d) for d in re.findall(r"\d+", text)}
    found |= {EN_NUMBERS.index(w) for w in re.findall(r"[a-z]+", text) if w in EN_NUMBERS}
    chinese = re.sub(ZH_NONE_AT_ALL, "没有", text)
    for word in ZH_NOT_NUMBERS:
        chinese = chinese.replace(word, " ")
    found |= {chinese_numeral(run) for run in re.findall(r"[零〇一二两三四五六七八九十]+", chinese)}
    if not found and (set(re.findall(r"[a-z]+", text)) & set(EN_ZERO_WORDS) or any(w in text for w in ZH_ZERO_WORDS)):
        found.add(0)
    return found


def chinese_numeral(run: str) -> int:
    """"十二" -> 12, "二十" -> 20, "十" -> 10, "两" -> 2 (up to 99)."""
    if "十" not in run:
        return sum(ZH_DIGITS[c] * 10 ** i for i, c in enumerate(reversed(run)))
    tens, _, ones = run.partition("十")
    return (ZH_DIGITS.get(tens[-1:], 1) if tens else 1) * 10 + (ZH_DIGITS[ones[0]] if ones else 0)


def say_number(n: int, lang: str, unit: str = "个") -> str:
    """"two" / "两个"; "twelve" / "十二声" (unit: the Chinese measure word)."""
    if lang == "en":
        return EN_NUMBERS[n]
    if n < 10:
        return ("两" if n == 2 else "零一二三四五六七八九"[n]) + unit
    return ("十" if n < 20 else "零一二三四五六七八九"[n // 10] + "十") + ("" if n % 10 == 0 else
                                                                     "零一二三四五六七八九"[n % 10]) + unit


def polarity(text: str) -> bool | None:
    """True for a yes, False for a no, None for neither or both: in the answer's first clause (up to its first
    comma or full stop) where that says either, else in the whole answer. "No, it is not" and "不，它在右边" say no;
    "yes or no", "Yes? No?" and "是不是" say neither."""
    text = normalised(text)
    clauses = [c.strip() for c in re.split(r"[,.;:!?，。；：！？]", text)]
    said = _yes_or_no(clauses[0])
    said = said if said is not None or len(clauses) == 1 else _yes_or_no(text)
    bare = {_yes_or_no(c) for c in clauses if c.removesuffix("的") in (*EN_YES, *EN_NO, *ZH_YES, *ZH_NO)}
    return None if bare - {said} else said        # "Yes? No?": a bare answer either way is a hedge


def _yes_or_no(text: str) -> bool | None:
    words = set(re.findall(r"[a-z]+", text)) | ({"not"} if "n't" in text else set())
    chinese = text.replace("没错", "对")
    said_no = bool(words & set(EN_NO)) or any(w in chinese for w in ZH_NO)
    for word in ZH_NO:
        chinese = chinese.replace(word, " ")
    said_yes = bool(words & set(EN_YES)) or any(w in chinese for w in ZH_YES)
    return None if said_yes == said_no else said_yes


def mentions(text: str, en: dict[str, str], zh: dict[str, str]) -> list[tuple[int, str]]:
    """(where, candidate) for every mention of a candidate, English patterns and Chinese stems, in text order."""
    found = [(m.start(), name) for name, pattern in en.items() for m in re.finditer(pattern, text)]
    found += [(m.start(), name) for name, pattern in zh.items() for m in re.finditer(pattern, text)]
    return sorted(found)


def hedged(text: str) -> bool:
    """Whether the answer offers alternatives ("red or blue", "红色或蓝色", "还是")."""
    return bool(re.search(r"\b(?:or|either)\b", text) or re.search("或|还是|要么", text))


def named(text: str, en: dict[str, str], zh: dict[str, str]) -> set[str]:
    return {name for _, name in mentions(text, en, zh)}


def without_object(text: str, obj: SceneObject, by_colour: bool) -> str:
    """The text with every mention of the object as a question named it (its shape, or its colour and shape) taken
    out: an answer may repeat what it was asked about ("the red circle is left of the triangle")."""
    shape_en, shape_zh = EN_SHAPES[obj.shape], f"(?:{ZH_SHAPES[obj.shape]})形?"
    if by_colour:
        text = re.sub(rf"\b{obj.color}\s+{shape_en[2:]}", " ", text)
        return re.sub(rf"(?:{ZH_COLOURS[obj.color]})色?的?{shape_zh}", " ", text)
    return re.sub(shape_zh, " ", re.sub(shape_en, " ", text))


@dataclass(frozen=True)
class Number:
    """A count or a sum; unit: the Chinese measure word its answer uses (个 for objects, 声 for beeps)."""

    value: int
    unit: str = "个"

    def say(self, lang: str) -> str:
        return say_number(self.value, lang, self.unit)

    def check(self, text: str) -> bool:
        """Right when the answer names exactly one number, this one."""
        return numbers_in(text) == {self.value}


@dataclass(frozen=True)
class YesNo:
    value: bool

    def say(self, lang: str) -> str:
        return ("yes" if self.value else "no") if lang == "en" else ("是" if self.value else "不是")

    def check(self, text: str) -> bool:
        """Right when the answer says yes (yes, yeah, correct; 是, 对, 有, 一样) or no (no, not, n't; 不是, 不, 没有)
        as expected, and not both."""
        return polarity(text) is self.value


@dataclass(frozen=True)
class Ordinal:
    """Which of two sounds: "first" or "second"."""

    value: str

    def say(self, lang: str) -> str:
        return f"the {self.value}" if lang == "en" else ("第一段" if self.value == "first" else "第二段")

    def check(self, text: str) -> bool:
        """Right when the answer names this one (first, 1st, former; 第一, 前一) and not the other, except after
        "than" / "比" ("the first has more beeps than the second")."""
        text = re.sub(r"\bthan (?:the )?(?:first|second|1st|2nd)\b", " ", normalised(text))
        text = re.sub(r"比(?:第[一二12]|前一|后一|前面|后面)", " ", text)
        return named(text, EN_ORDINALS, ZH_ORDINALS) == {self.value}


@dataclass(frozen=True)
class NamedObject:
    """The object a relation points at, or None for nothing there. asked: the object the question named, by its
    shape alone or (asked_by_colour) its colour and shape; others: the objects of the picture."""

    target: SceneObject | None
    asked: SceneObject
    asked_by_colour: bool
    others: tuple[SceneObject, ...]

    def say(self, lang: str) -> str:
        if self.target is None:
            return "nothing" if lang == "en" else "什么也没有"
        if lang == "en":
            return f"the {self.target.color} {self.target.shape}"
        return COLORS[self.target.color][1] + SHAPES[self.target.shape]

    def check(self, text: str) -> bool:
        """Nothing expected: right when the answer says nothing / none / 没有 and names no object besides the one
        asked about. An object expected: right when it names the object's shape (and its colour too, where
        another object shares the shape), no other shape or colour, and not nothing. Never an answer that offers
        alternatives (hedged)."""
        if hedged(normalised(text)):
            return False
        text = without_object(normalised(text), self.asked, self.asked_by_colour)
        shapes, colours = named(text, EN_SHAPES, ZH_SHAPES), named(text, EN_COLOURS, ZH_COLOURS)
        said_nothing = bool(re.search(EN_NOTHING, text) or re.search(ZH_NOTHING, text))
        if self.target is None:
            return said_nothing and not shapes and not colours
        shared = any(o.shape == self.target.shape for o in self.others if o != self.target)
        return (not said_nothing and shapes == {self.target.shape} and colours <= {self.target.color}
                and (self.target.color in colours or not shared))


CHANGES = ("colour", "shape", "size", "place", "added", "removed")


@dataclass(frozen=True)
class Change:
    """What changed between two pictures: one object's colour, shape, size or place (before -> after), or one
    object added (before None) or removed (after None). The object's shape is the only one of its kind in both
    pictures, so that naming its shape names it."""

    change: str
    before: SceneObject | None
    after: SceneObject | None

    def say(self, lang: str) -> str:
        b, a = self.before, self.after
        en = lang == "en"
        if self.change == "added":
            return f"a {a.color} {a.shape} was added" if en else f"多了一个{COLORS[a.color][1]}{SHAPES[a.shape]}"
        if self.change == "removed":
            return f"the {b.color} {b.shape} was removed" if en else f"{COLORS[b.color][1]}{SHAPES[b.shape]}不见了"
        if self.change == "colour":
            return f"the {b.shape} turned {a.color}" if en else f"{SHAPES[b.shape]}变成了{COLORS[a.color][1]}"
        if self.change == "shape":
            return (f"the {b.color} {b.shape} became a {a.shape}" if en
                    else f"{COLORS[b.color][1]}{SHAPES[b.shape]}变成了{SHAPES[a.shape]}")
        if self.change == "size":
            if en:
                return f"the {b.shape} got {'larger' if a.size == 'large' else 'smaller'}"
            return f"{SHAPES[b.shape]}变{'大' if a.size == 'large' else '小'}了"
        return f"the {b.shape} moved to the {a.position}" if en else f"{SHAPES[b.shape]}移到了{POSITIONS[a.position]}"

    def check(self, text: str) -> bool:
        """Added / removed: the object's shape, no other shape, its colour or none, and a word for added (added,
        appeared, new; 多了, 出现) or removed (removed, gone; 不见, 消失) but not both. Colour, shape, size or place:
        the object named by its shape (before or after, for a change of shape), the new value named, no value of
        that attribute other than the old and the new, and the last one named the new one ("from red to blue"; what
        follows "instead of" / "rather than" / 而不是 is the old one). Never an answer that offers alternatives
        (hedged)."""
        text = normalised(text)
        if hedged(text):
            return False
        text = re.sub(r"\b(?:instead of|rather than) (?:the )?[a-z]+|而不是\w{1,3}?色?[的了。，]?", " ", text)
        if self.change in ("added", "removed"):
            return self._check_added_or_removed(text)
        attribute = {"colour": (EN_COLOURS, ZH_COLOURS, "color"), "shape": (EN_SHAPES, ZH_SHAPES, "shape"),
                     "size": (EN_SIZES, ZH_SIZES, "size"), "place": (EN_PLACES, ZH_PLACES, "position")}
        en, zh, field = attribute[self.change]
        old, new = getattr(self.before, field), getattr(self.after, field)
        said = mentions(text, en, zh)
        if not said or said[-1][1] != new or not {name for _, name in said} <= {old, new}:
            return False
        if self.change == "shape":
            return named(text, EN_COLOURS, ZH_COLOURS) <= {self.before.color}
        shapes = named(text, EN_SHAPES, ZH_SHAPES)
        colours_ok = self.change == "colour" or named(text, EN_COLOURS, ZH_COLOURS) <= {self.before.color}
        return shapes == {self.before.shape} and colours_ok

    def _check_added_or_removed(self, text: str) -> bool:
        obj = self.after if self.change == "added" else self.before
        added = bool(re.search(EN_ADDED, text) or re.search(ZH_ADDED, text))
        removed = bool(re.search(EN_REMOVED, text) or re.search(ZH_REMOVED, text))
        if added == removed or added != (self.change == "added"):
            return False
        return (named(text, EN_SHAPES, ZH_SHAPES) == {obj.shape}
                and named(text, EN_COLOURS, ZH_COLOURS) <= {obj.color})


Expected = Number | YesNo | Ordinal | NamedObject | Change
