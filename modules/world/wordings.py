"""The many ways each question about a picture or a sound is worded, in English and Chinese (phrasing's parts)."""
from __future__ import annotations

from .phrasing import Part
from .pictures import COLORS, POSITIONS, SHAPES
from .sounds import COUNT_WORDS_EN, PITCHES, TIMBRES

# Words a typo never touches: they carry the answer or say what is asked (lower case).
KEY_WORDS = frozenset(
    [*COLORS, *SHAPES, *POSITIONS, "centre", "middle", "side", "gray", "grey", "white", "black",
     *COUNT_WORDS_EN.values(), *PITCHES, *TIMBRES, "beep", "beeps", "tone", "sweep", "rising", "falling", "noise",
     "hiss", "pitch", "timbre", "sound", "kind", "type", "sort", "colour", "color", "shape", "shapes", "where",
     "many", "background", "object", "objects", "experts", "expert", "parameters", "layers", "active", "total",
     "routed", "shared", "dense", "draw", "paint", "sketch", "picture", "image", "drawing", "small", "large",
     "describe", "caption", "anything", "something", "number", "count", "token", "architecture", "model"])


def _part(name: str, *options: str, canonical_weight: float = 0.3) -> Part:
    return Part(name, options, canonical_weight)


PICTURE_TEMPLATES: dict[str, dict[str, Part]] = {
    "colour of a shape": {
        "en": _part("en/colour of a shape", "What color is the {shape}?", "What colour is the {shape}?",
                    "Which colour is the {shape}?", "What color does the {shape} have?",
                    "Tell me the colour of the {shape}.", "What is the colour of the {shape}?",
                    "The {shape}: what colour is it?", "What colour has the {shape} got?",
                    "Name the colour of the {shape}.", "What's the colour of the {shape}?",
                    "Can you tell what colour the {shape} is?", "Which color is the {shape} painted?"),
        "zh": _part("zh/colour of a shape", "{shape}是什么颜色？", "{shape}是什么颜色的？", "{shape}是哪种颜色？",
                    "{shape}的颜色是什么？", "{shape}是啥颜色？", "图里的{shape}是什么颜色？", "告诉我{shape}的颜色。",
                    "这个{shape}是什么颜色？", "{shape}涂的是什么颜色？", "你看{shape}是什么颜色？", "{shape}什么颜色？"),
    },
    "shape at a place": {
        "en": _part("en/shape at a place", "What shape is {where}?", "Which shape is {where}?", "What is {where}?",
                    "What do you see {where}?", "What is there {where}?", "Which shape can you see {where}?",
                    "What's {where}?", "Tell me what is {where}.", "What object is {where}?",
                    "What shape do you see {where}?", "Is there anything {where}?"),
        "zh": _part("zh/shape at a place", "{where}是什么形状？", "{where}是什么？", "{where}有什么？",
                    "{where}是什么图形？", "{where}的形状是什么？", "{where}画的是什么？", "图片{where}是什么形状？",
                    "{where}那个是什么形状？", "看看{where}是什么？", "{where}有什么东西？"),
    },
    "place of an object": {
        "en": _part("en/place of an object", "Where is the {name}?", "Where's the {name}?",
                    "Where is the {name} located?", "In which part of the picture is the {name}?",
                    "Where can I find the {name}?", "Where does the {name} sit?", "Where in the picture is the {name}?",
                    "Tell me where the {name} is.", "Where do you see the {name}?", "Whereabouts is the {name}?"),
        "zh": _part("zh/place of an object", "{name}在哪里？", "{name}在哪儿？", "{name}在什么位置？",
                    "{name}在图片的哪个位置？", "{name}在哪边？", "{name}的位置是哪里？", "告诉我{name}在哪里。",
                    "{name}位于哪里？", "你能找到{name}在哪里吗？", "{name}在图中什么地方？"),
    },
    "count": {
        "en": _part("en/count", "How many objects are there?", "How many shapes are there?",
                    "How many things can you see?", "Count the objects.", "How many objects does the picture have?",
                    "What is the number of shapes?", "How many shapes are in this picture?", "How many items are there?",
                    "Count the shapes in the image.", "How many objects do you see?"),
        "zh": _part("zh/count", "图中有几个物体？", "图里有几个东西？", "一共有几个图形？", "图片里有多少个物体？",
                    "数一数有几个物体。", "这张图有几个形状？", "有多少个图形？", "画面里有几个物体？", "图中物体的数量是多少？"),
    },
    "background": {
        "en": _part("en/background", "What color is the background?", "What colour is the background?",
                    "Which colour is the background?", "What is the background colour?",
                    "Is the background white, black or grey?", "Tell me the background colour.",
                    "What colour is the picture's background?", "What background does the picture have?",
                    "What colour is behind the shapes?"),
        "zh": _part("zh/background", "背景是什么颜色？", "背景是什么颜色的？", "背景颜色是什么？", "图片的背景是什么颜色？",
                    "背景是黑色、白色还是灰色？", "背景是哪种颜色？", "底色是什么？", "背景什么颜色？"),
    },
    "is there a shape": {
        "en": _part("en/is there a shape", "Is there a {shape}?", "Is there a {shape} in the picture?",
                    "Can you see a {shape}?", "Do you see a {shape}?", "Does the picture have a {shape}?",
                    "Is there any {shape}?", "Does this image contain a {shape}?", "Can you see a {shape} in this image?",
                    "Is a {shape} in the picture?", "Do you spot a {shape}?"),
        "zh": _part("zh/is there a shape", "有{shape}吗？", "图中有{shape}吗？", "你能看到{shape}吗？", "图片里有没有{shape}？",
                    "能看见{shape}吗？", "这里有{shape}吗？", "图里有{shape}吗？", "有没有{shape}？", "你看到{shape}了吗？",
                    "这张图里有{shape}吗？"),
    },
    "is there a colour": {
        "en": _part("en/is there a colour", "Is there anything {color}?", "Is there something {color}?",
                    "Is anything {color}?", "Do you see anything {color}?", "Is there {a_color} object?",
                    "Can you see anything {color}?", "Is there {a_color} shape in the picture?",
                    "Does the picture have anything {color}?", "Is any object {color}?"),
        "zh": _part("zh/is there a colour", "有{color}的东西吗？", "图中有{color}的东西吗？", "有没有{color}的东西？",
                    "你能看到{color}的东西吗？", "图里有{color}的物体吗？", "有什么是{color}的吗？", "能看见{color}的图形吗？",
                    "这里有{color}的东西吗？", "有{color}的吗？"),
    },
    "caption": {
        "en": _part("en/caption", "Describe this picture.", "What is in this picture?", "What do you see?",
                    "Describe the image.", "Caption this picture.", "What does this image show?",
                    "What's in the image?", "Can you describe this picture?", "Tell me what you see.",
                    "Give me a caption for this image.", "What is shown here?", "Describe what you see.",
                    "What can you see in this picture?", "Which shapes can you see here?",
                    "What shapes are in this picture?", canonical_weight=0.15),
        "zh": _part("zh/caption", "描述这张图片。", "图片里有什么？", "你看到了什么？", "请描述这幅图。", "这张图片里有什么？",
                    "描述一下这张图。", "图上画了什么？", "说说你看到了什么。", "给这张图配个说明。", "这幅图里都有什么？",
                    "能描述一下这张图片吗？", "图中有哪些形状？", canonical_weight=0.15),
    },
}

# How each place is named in a question (the first as the world's captions name it).
PLACE_WORDS: dict[str, dict[str, Part]] = {
    "en": {"left": _part("en/place/left", "on the left", "on the left side", "to the left"),
           "right": _part("en/place/right", "on the right", "on the right side", "to the right"),
           "top": _part("en/place/top", "at the top", "on top", "at the top of the picture"),
           "bottom": _part("en/place/bottom", "at the bottom", "at the bottom of the picture", "down at the bottom"),
           "center": _part("en/place/center", "in the center", "in the middle", "in the center of the picture")},
    "zh": {"left": _part("zh/place/left", "左边", "左侧", "左面"),
           "right": _part("zh/place/right", "右边", "右侧", "右面"),
           "top": _part("zh/place/top", "上边", "上面", "顶部"),
           "bottom": _part("zh/place/bottom", "下边", "下面", "底部"),
           "center": _part("zh/place/center", "中间", "中央", "正中间")},
}

SOUND_TEMPLATES: dict[str, dict[str, Part]] = {
    "describe": {
        "en": _part("en/sound describe", "Describe this sound.", "What do you hear?", "What is this sound?",
                    "Describe the audio.", "What does this sound like?", "Describe what you hear.",
                    "Can you describe this sound?", "Tell me about this sound.", "What can you hear?",
                    "Describe the sound please.", canonical_weight=0.2),
        "zh": _part("zh/sound describe", "描述这段声音。", "你听到了什么？", "这是什么声音？", "请描述这段音频。",
                    "这段声音是什么样的？", "说说你听到的声音。", "这段音频里有什么？", "描述一下这个声音。", "你听见了什么？",
                    canonical_weight=0.2),
    },
    "kind": {
        "en": _part("en/sound kind", "What kind of sound is this?", "What type of sound is this?",
                    "What sort of sound is it?", "Which kind of sound do you hear?",
                    "Is this beeps, a tone, a sweep or noise?", "What kind of sound is that?",
                    "What type of sound do you hear?", "What kind of sound is in this audio?"),
        "zh": _part("zh/sound kind", "这是哪种声音？", "这是什么类型的声音？", "这属于哪一类声音？", "这是哪一种声音？",
                    "声音是什么种类？", "这段声音是哪种？", "这种声音属于哪一类？"),
    },
    "pitch": {
        "en": _part("en/sound pitch", "Is the pitch high or low?", "How high is the pitch?", "What pitch is it?",
                    "Is it a high, medium or low pitch?", "What is the pitch of this sound?",
                    "Is the sound high or low?", "Tell me the pitch.", "Is the pitch high, medium or low?"),
        "zh": _part("zh/sound pitch", "音高是高还是低？", "音调是高还是低？", "这个声音的音高是什么？", "音高怎么样？",
                    "这是高音、中音还是低音？", "声音高还是低？", "它的音高是什么？"),
    },
    "timbre": {
        "en": _part("en/sound timbre", "Is it pure or buzzy?", "Is the sound pure or buzzy?",
                    "Does it sound pure or buzzy?", "What is the timbre?", "Is the timbre pure or buzzy?",
                    "How does it sound, pure or buzzy?", "What timbre does it have?"),
        "zh": _part("zh/sound timbre", "声音是纯净的还是嗡嗡的？", "音色是纯净的还是嗡嗡的？", "这个声音纯净吗，还是嗡嗡的？",
                    "音色怎么样？", "它听起来是纯净的还是嗡嗡的？", "这是什么音色？"),
    },
    "count": {
        "en": _part("en/sound count", "How many beeps are there?", "How many beeps do you hear?", "Count the beeps.",
                    "How many times does it beep?", "How many beeps can you hear?", "What is the number of beeps?",
                    "How many beeps are in this sound?", "How often does it beep?"),
        "zh": _part("zh/sound count", "有几声蜂鸣？", "一共有几声蜂鸣？", "蜂鸣响了几声？", "你听到几声蜂鸣？",
                    "数一数有几声蜂鸣。", "有多少声蜂鸣？", "蜂鸣声有几下？"),
    },
}

# Requests to draw; each is one the studio's router sends to the image decoder.
DRAW_TEMPLATES_PART = {
    "en": _part("en/draw", "draw {x}", "please draw {x}", "can you draw {x}?", "paint {x}", "sketch {x}",
                "make a picture of {x}", "generate an image of {x}", "{x}", "Draw {x}.", "I would like a picture of {x}",
                "could you draw {x}?", "draw me {x}", "create an image of {x}", "I want a picture of {x}",
                "give me a drawing of {x}", "illustrate {x}", "please paint {x}", "can you sketch {x}?"),
    "zh": _part("zh/draw", "画{x}", "请画{x}", "帮我画{x}", "你能画{x}吗？", "给我画{x}", "生成一张{x}的图片", "麻烦画{x}",
                "画一张{x}的图", "请帮我画{x}", "能不能画{x}？", "绘制{x}", "给我画一张{x}的图", "你可以画{x}吗？"),
}
