"""The many ways each multi-step question is worded, in English and Chinese (phrasing's parts: a fifth held out)."""
from __future__ import annotations

from .phrasing import Part
from .wordings import KEY_WORDS


def _part(name: str, *options: str) -> Part:
    return Part(name, options, 0.3)


def _both(form: str, en: tuple[str, ...], zh: tuple[str, ...]) -> dict[str, Part]:
    return {"en": _part(f"en/multistep {form}", *en), "zh": _part(f"zh/multistep {form}", *zh)}


# Slots: {color} {shape} {shapes} (plural) {size} {k} (a number word) {a} {b} {ref} {rel} {times}.
TEMPLATES: dict[str, dict[str, Part]] = {
    "count colour": _both("count colour", (
        "How many {color} shapes are there?", "How many {color} objects are in the picture?",
        "How many shapes are {color}?", "Count the {color} shapes.", "How many {color} things can you see?",
        "What is the number of {color} shapes?"), (
        "有几个{color}的图形？", "图中有几个{color}的物体？", "{color}的图形有几个？", "数一数{color}的图形有几个。",
        "图里{color}的东西有多少个？", "有多少个图形是{color}的？")),
    "count not colour": _both("count not colour", (
        "How many shapes are not {color}?", "How many objects aren't {color}?",
        "How many shapes have a colour other than {color}?", "Count the shapes that are not {color}.",
        "How many of the shapes are not {color}?"), (
        "有几个图形不是{color}的？", "不是{color}的图形有几个？", "图中有多少个物体不是{color}的？",
        "数一数不是{color}的图形。", "颜色不是{color}的图形有几个？")),
    "count size": _both("count size", (
        "How many {size} shapes are there?", "How many shapes are {size}?", "How many {size} objects can you see?",
        "Count the {size} shapes.", "What is the number of {size} objects?"), (
        "有几个{size}的图形？", "{size}的图形有几个？", "图中有多少个{size}的物体？", "数一数{size}的图形。",
        "一共有几个图形是{size}的？")),
    "count colour shape": _both("count colour shape", (
        "How many {color} {shapes} are there?", "How many {shapes} are {color}?", "Count the {color} {shapes}.",
        "How many {color} {shapes} can you see?", "What is the number of {color} {shapes}?"), (
        "有几个{color}的{shape}？", "{color}的{shape}有几个？", "图中有多少个{color}{shape}？", "数一数{color}的{shape}。",
        "{shape}里有几个是{color}的？")),
    "count not shape": _both("count not shape", (
        "How many shapes are not {shapes}?", "How many objects are not {shapes}?",
        "How many shapes are something other than a {shape}?", "Count everything that is not a {shape}.",
        "How many of the objects aren't {shapes}?"), (
        "有几个图形不是{shape}？", "不是{shape}的图形有几个？", "除了{shape}，还有几个图形？", "图中有多少个物体不是{shape}？",
        "数一数不是{shape}的图形。")),
    "more shapes": _both("more shapes", (
        "Are there more {a} than {b}?", "Does the picture have more {a} than {b}?",
        "Are the {a} more numerous than the {b}?", "Do you see more {a} than {b}?",
        "Is the number of {a} greater than the number of {b}?"), (
        "{a}比{b}多吗？", "图中{a}比{b}多吗？", "{a}的数量比{b}多吗？", "图里的{a}是不是比{b}多？", "{a}多于{b}吗？")),
    "more of a kind": _both("more of a kind", (
        "Are there more {a} shapes than {b} shapes?", "Are there more {a} objects than {b} ones?",
        "Does the picture have more {a} shapes than {b} shapes?", "Are {a} shapes more numerous than {b} ones?",
        "Is the number of {a} shapes greater than that of {b} shapes?"), (
        "{a}的图形比{b}的图形多吗？", "{a}的物体比{b}的物体多吗？", "图中{a}的东西比{b}的多吗？",
        "{a}图形的数量比{b}图形多吗？", "{a}的图形多于{b}的图形吗？")),
    "more beeps": _both("more beeps", (
        "Which sound has more beeps, the first or the second?", "Which of the two sounds has more beeps?",
        "Which one beeps more times, the first sound or the second?",
        "Does the first or the second sound have more beeps?",
        "Which sound beeps more often, the first or the second one?"), (
        "哪段声音的蜂鸣更多，第一段还是第二段？", "两段声音中哪一段的蜂鸣声更多？", "第一段和第二段声音，哪段蜂鸣次数多？",
        "哪个声音响的次数更多，第一个还是第二个？", "蜂鸣更多的是第一段还是第二段？")),
    "higher pitch": _both("higher pitch", (
        "Which sound is higher, the first or the second?", "Which of the two sounds has the higher pitch?",
        "Is the first or the second sound higher?", "Which one is higher-pitched, the first sound or the second?",
        "Which sound has a higher pitch, the first one or the second one?"), (
        "哪段声音的音高更高，第一段还是第二段？", "两段声音哪一段更高？", "第一段和第二段，哪个音调更高？",
        "哪个声音更高，第一个还是第二个？", "音高更高的是第一段还是第二段？")),
    "same beeps": _both("same beeps", (
        "Do the two sounds have the same number of beeps?", "Do both sounds beep the same number of times?",
        "Is the number of beeps the same in both sounds?",
        "Are there as many beeps in the first sound as in the second?",
        "Do the first and second sounds have equally many beeps?"), (
        "两段声音的蜂鸣次数一样吗？", "两段声音响的次数相同吗？", "第一段和第二段的蜂鸣声一样多吗？",
        "这两个声音的蜂鸣数量相同吗？", "两段声音蜂鸣的次数是不是一样？")),
    "add shapes": _both("add shapes", (
        "If {k} more {shapes} were added, how many shapes would there be?",
        "Suppose we add {k} more {shapes}. How many shapes would the picture have?",
        "How many shapes would there be after adding {k} {shapes}?",
        "If you drew {k} more {shapes}, how many objects would there be in total?",
        "Add {k} {shapes} to the picture: how many shapes are there then?"), (
        "如果再加上{k}个{shape}，一共会有几个图形？", "再画{k}个{shape}的话，图中会有多少个图形？",
        "假如添加{k}个{shape}，总共有几个图形？", "加上{k}个{shape}以后，一共有几个物体？", "如果多画{k}个{shape}，图形总数是多少？")),
    "add same shape": _both("add same shape", (
        "If {k} more {shapes} were added, how many {shapes} would there be?",
        "Suppose we add {k} {shapes}: how many {shapes} would the picture have?",
        "How many {shapes} would there be after adding {k} more?",
        "After drawing {k} more {shapes}, how many {shapes} are there?",
        "If you added {k} {shapes}, how many {shapes} would you count?"), (
        "如果再加上{k}个{shape}，会有几个{shape}？", "再画{k}个{shape}的话，{shape}一共有几个？",
        "假如添加{k}个{shape}，图中有多少个{shape}？", "加上{k}个{shape}以后，{shape}有几个？",
        "如果多画{k}个{shape}，{shape}的数量是多少？")),
    "remove colour": _both("remove colour", (
        "If the {color} shapes were taken away, how many shapes would be left?",
        "Take away every {color} shape: how many shapes remain?",
        "How many shapes would remain without the {color} ones?",
        "If we removed all {color} objects, how many objects would be left?",
        "After removing the {color} shapes, how many shapes are left?"), (
        "如果拿走{color}的图形，还剩几个图形？", "去掉所有{color}的图形后，还剩多少个？", "把{color}的物体都拿掉，还剩几个物体？",
        "如果删除{color}的图形，会剩下几个图形？", "拿走{color}的东西以后，图中还有几个图形？")),
    "beeps repeated": _both("beeps repeated", (
        "How many beeps in all if it played {times}?",
        "If this sound played {times}, how many beeps would you hear in total?",
        "Played {times}, how many beeps would there be altogether?",
        "If you played it {times}, how many beeps would there be?",
        "Count the beeps if this sound were played {times}: how many in total?"), (
        "如果这段声音播放{times}，一共有几声蜂鸣？", "把这段声音放{times}，总共会听到多少声蜂鸣？",
        "这段声音连续播放{times}的话，一共响几声？", "播放{times}，蜂鸣一共有几声？", "如果重复播放{times}，总共有多少声蜂鸣？")),
    "beeps together": _both("beeps together", (
        "How many beeps are there in the two sounds together?", "How many beeps do both sounds have in total?",
        "Counting both sounds, how many beeps are there?", "What is the total number of beeps in the two sounds?",
        "Add up the beeps of both sounds: how many are there?"), (
        "两段声音一共有几声蜂鸣？", "两段声音加起来有多少声蜂鸣？", "把两段声音的蜂鸣加在一起，一共几声？",
        "这两个声音总共有几声蜂鸣？", "两段声音的蜂鸣总数是多少？")),
    "what is there": _both("what is there", (
        "What is {rel} the {ref}?", "What shape is {rel} the {ref}?", "Which object is {rel} the {ref}?",
        "What can you see {rel} the {ref}?", "Tell me what is {rel} the {ref}.", "What's {rel} the {ref}?"), (
        "{ref}{rel}是什么？", "{ref}的{rel}有什么？", "在{ref}{rel}的是什么图形？", "{ref}{rel}有什么东西？",
        "告诉我{ref}{rel}是什么。")),
    "is it there": _both("is it there", (
        "Is the {a} {rel} the {b}?", "Is the {a} placed {rel} the {b}?", "Does the {a} sit {rel} the {b}?",
        "Can you see the {a} {rel} the {b}?", "Is it true that the {a} is {rel} the {b}?"), (
        "{a}在{b}的{rel}吗？", "{a}是不是在{b}{rel}？", "{a}位于{b}的{rel}吗？", "{a}处在{b}的{rel}吗？",
        "{a}是在{b}{rel}吗？")),
    "what changed": _both("what changed", (
        "What changed between these two pictures?", "What is different in the second picture?",
        "What changed from the first picture to the second?", "Compare the two pictures: what changed?",
        "What is the difference between the two pictures?", "Spot the change between the first and the second picture."
    ), (
        "这两张图片之间有什么变化？", "第二张图和第一张相比有什么不同？", "从第一张图到第二张图，什么变了？",
        "比较两张图片，有什么变化？", "两张图有什么区别？", "找出两张图之间的变化。")),
}

# How each relation is named in a question (RELATIONS in multistep says what each one means).
RELATION_WORDS: dict[str, dict[str, Part]] = {
    "en": {"left of": _part("en/relation/left of", "left of", "to the left of", "on the left of"),
           "right of": _part("en/relation/right of", "right of", "to the right of", "on the right of"),
           "above": _part("en/relation/above", "above", "higher up than", "over"),
           "below": _part("en/relation/below", "below", "under", "lower down than")},
    "zh": {"left of": _part("zh/relation/left of", "左边", "左侧", "左面"),
           "right of": _part("zh/relation/right of", "右边", "右侧", "右面"),
           "above": _part("zh/relation/above", "上边", "上面", "上方"),
           "below": _part("zh/relation/below", "下边", "下面", "下方")},
}

TIMES_WORDS = {"en": {2: "twice", 3: "three times", 4: "four times"}, "zh": {2: "两遍", 3: "三遍", 4: "四遍"}}
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars"}

# Words a typo never touches: those of the world's talk and those that carry a multi-step question's meaning.
MULTISTEP_KEY_WORDS = KEY_WORDS | frozenset(
    [*PLURALS.values(), "more", "than", "first", "second", "twice", "times", "together", "both", "total", "added",
     "adding", "removed", "removing", "taken", "away", "remain", "left", "above", "below", "under", "over",
     "higher", "lower", "down", "higher-pitched", "different", "difference", "changed", "change", "sounds", "pictures",
     "same", "equally", "numerous", "greater", "other", "everything", "played", "drew", "drawing", "five", "zero"])
