"""The built-in world's words: questions and answers about pictures and sounds, drawing prompts and conversation."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .pictures import (BACKGROUNDS, COLORS, NUMBER_WORDS_EN, NUMBER_WORDS_ZH, POSITION_PHRASES_EN, POSITIONS,
                             SHAPES, SIZES, Scene, SceneObject, caption_en, caption_zh)
from .sounds import COUNT_WORDS_EN, COUNT_WORDS_ZH, KINDS, PITCHES, TIMBRES, Sound, describe_en, describe_zh


@dataclass(frozen=True)
class Exchange:
    """One question (possibly about a picture or sound) and the answer the model should give."""

    question: str
    answer: str
    language: str                 # "en" | "zh"
    kind: str = ""                # for a question about a picture: which kind (picture_question's names)
    about: tuple[str, ...] | None = None   # for a question about a picture: the places of the objects that decide
                                           # the answer (empty: none is there); None: no such places (a count)
    described: tuple[str, ...] | None = None   # for a caption: the place of each object, in the order it is named


DESCRIBE_PICTURE = {
    "en": ["Describe this picture.", "What is in this picture?", "What do you see?", "Describe the image.",
           "Caption this picture.", "What does this image show?"],
    "zh": ["描述这张图片。", "图片里有什么？", "你看到了什么？", "请描述这幅图。", "这张图片里有什么？"],
}
DESCRIBE_SOUND = {
    "en": ["Describe this sound.", "What do you hear?", "What is this sound?", "Describe the audio."],
    "zh": ["描述这段声音。", "你听到了什么？", "这是什么声音？", "请描述这段音频。"],
}


def places_of(objects) -> tuple[str, ...]:
    return tuple(o.position for o in objects)


def _yes_no_shape(scene: Scene, shape: str, lang: str) -> Exchange:
    found = places_of(o for o in scene.objects if o.shape == shape)
    if lang == "en":
        answer = f"Yes, there is a {shape}." if found else f"No, there is no {shape}."
        return Exchange(f"Is there a {shape}?", answer, lang, about=found)
    answer = f"有，图中有{SHAPES[shape]}。" if found else f"没有，图中没有{SHAPES[shape]}。"
    return Exchange(f"有{SHAPES[shape]}吗？", answer, lang, about=found)


def _yes_no_color(scene: Scene, color: str, lang: str) -> Exchange:
    found = places_of(o for o in scene.objects if o.color == color)
    zh = COLORS[color][1]
    if lang == "en":
        answer = f"Yes, there is something {color}." if found else f"No, there is nothing {color}."
        return Exchange(f"Is there anything {color}?", answer, lang, about=found)
    answer = f"有，图中有{zh}的东西。" if found else f"没有，图中没有{zh}的东西。"
    return Exchange(f"有{zh}的东西吗？", answer, lang, about=found)


def _count(scene: Scene, lang: str) -> Exchange:
    n = len(scene.objects)
    if lang == "en":
        answer = "There is one object." if n == 1 else f"There are {NUMBER_WORDS_EN[n]} objects."
        return Exchange("How many objects are there?", answer, lang)
    return Exchange("图中有几个物体？", f"图中有{NUMBER_WORDS_ZH[n]}个物体。", lang)


def _background(scene: Scene, lang: str) -> Exchange:
    if lang == "en":
        return Exchange("What color is the background?", f"The background is {scene.background}.", lang)
    return Exchange("背景是什么颜色？", f"背景是{BACKGROUNDS[scene.background][1]}的。", lang)


def _shape_at(scene: Scene, position: str, lang: str) -> Exchange:
    found = [o for o in scene.objects if o.position == position]
    about = places_of(found)
    if lang == "en":
        where = POSITION_PHRASES_EN[position]
        question = f"What shape is {where}?"
        answer = f"There is a {found[0].color} {found[0].shape} {where}." if found else f"There is nothing {where}."
        return Exchange(question, answer, lang, about=about)
    zh = POSITIONS[position]
    if found:
        answer = f"{zh}是一个{COLORS[found[0].color][1]}{SHAPES[found[0].shape]}。"
    else:
        answer = f"{zh}什么也没有。"
    return Exchange(f"{zh}是什么形状？", answer, lang, about=about)


def _color_of(obj: SceneObject, lang: str) -> Exchange:
    if lang == "en":
        return Exchange(f"What color is the {obj.shape}?", f"The {obj.shape} is {obj.color}.", lang,
                        about=(obj.position,))
    shape = SHAPES[obj.shape]
    return Exchange(f"{shape}是什么颜色？", f"{shape}是{COLORS[obj.color][1]}的。", lang, about=(obj.position,))


def _where_is(obj: SceneObject, lang: str) -> Exchange:
    if lang == "en":
        return Exchange(f"Where is the {obj.color} {obj.shape}?",
                        f"The {obj.color} {obj.shape} is {POSITION_PHRASES_EN[obj.position]}.", lang,
                        about=(obj.position,))
    name = COLORS[obj.color][1] + SHAPES[obj.shape]
    return Exchange(f"{name}在哪里？", f"{name}在{POSITIONS[obj.position]}。", lang, about=(obj.position,))


def capitalised(text: str) -> str:
    """The first letter upper-case, the rest as it is ("a red star" -> "A red star")."""
    return text[0].upper() + text[1:]


def caption_exchange(scene: Scene, lang: str, rng: random.Random) -> Exchange:
    caption = caption_en(scene) if lang == "en" else caption_zh(scene)
    if lang == "en":
        caption = capitalised(caption) + "."
    else:
        caption += "。"
    return Exchange(rng.choice(DESCRIBE_PICTURE[lang]), caption, lang,
                    described=tuple(o.position for o in scene.objects))


def picture_notes(scene: Scene, lang: str) -> str:
    """What a model that looks before it answers writes down first: every object, in the scene's order, and the
    background. "A small red star on the left, on a black background." / "左边有一个小的红色星形，背景是黑色的。"""""
    if lang == "en":
        caption = caption_en(scene)
        return f"{capitalised(caption)}, on a {scene.background} background."
    return f"{caption_zh(scene)}，背景是{BACKGROUNDS[scene.background][1]}的。"


QUESTION_KINDS = ("count", "background", "shape at a place", "is there a shape", "is there a colour",
                  "colour of a shape", "place of an object")


@dataclass(frozen=True)
class QuestionMix:
    """How questions about a picture are drawn."""

    kind_weights: dict[str, float]    # how often each kind is asked, relative to the others (QUESTION_KINDS)
    balanced_yes_no: bool = False     # "Is there ...?" asks about something in the picture half the time (else
                                      # about any colour or shape alike: "No" is then the answer 70 % of the time
                                      # for colours, 59 % for shapes)
    balanced_places: bool = False     # "What shape is <place>?" asks about a place that holds an object half the
                                      # time (else any of the five places alike: "nothing" is then right 60 %)
    lookalikes: bool = False          # "Where is the <colour> <shape>?" asks, where the picture has one, about an
                                      # object that shares its colour or its shape with another, so that only
                                      # both words together find it (else any object alike)


def picture_question(scene: Scene, lang: str, rng: random.Random, mix: QuestionMix | None = None) -> Exchange:
    """A random question about the scene, of any kind WORLD.md lists, with its true answer; mix: how often each
    kind is asked (default: all kinds alike, yes/no questions about any colour or shape)."""
    unique_shapes = [o for o in scene.objects if sum(p.shape == o.shape for p in scene.objects) == 1]
    unique_names = [o for o in scene.objects
                    if sum((p.shape, p.color) == (o.shape, o.color) for p in scene.objects) == 1]
    balanced = mix is not None and mix.balanced_yes_no
    makers = {
        "count": lambda: _count(scene, lang),
        "background": lambda: _background(scene, lang),
        "shape at a place": lambda: _shape_at(
            scene, asked_about({o.position for o in scene.objects}, sorted(POSITIONS), rng,
                               mix is not None and mix.balanced_places), lang),
        "is there a shape": lambda: _yes_no_shape(
            scene, asked_about({o.shape for o in scene.objects}, sorted(SHAPES), rng, balanced), lang),
        "is there a colour": lambda: _yes_no_color(
            scene, asked_about({o.color for o in scene.objects}, sorted(COLORS), rng, balanced), lang),
    }
    if unique_shapes:
        makers["colour of a shape"] = lambda: _color_of(rng.choice(unique_shapes), lang)
    if unique_names:
        asked = lookalikes(unique_names, scene) if mix is not None and mix.lookalikes else []
        makers["place of an object"] = lambda: _where_is(rng.choice(asked or unique_names), lang)
    if mix is None:
        kind, maker = rng.choice(list(makers.items()))
    else:
        kind = rng.choices(list(makers), weights=[mix.kind_weights[k] for k in makers])[0]
        maker = makers[kind]
    return replace(maker(), kind=kind)


def lookalikes(candidates: list[SceneObject], scene: Scene) -> list[SceneObject]:
    """Those of the candidates that share their colour or their shape with another object of the scene."""
    return [o for o in candidates
            if any(p is not o and (p.color == o.color or p.shape == o.shape) for p in scene.objects)]


def asked_about(present: set[str], every: list[str], rng: random.Random, balanced: bool) -> str:
    """The colour or shape a yes/no question names: any of `every` alike, or (balanced) one of those present half
    the time and one of those absent the other half."""
    absent = [x for x in every if x not in present]
    if balanced and present and absent:
        return rng.choice(sorted(present) if rng.random() < 0.5 else absent)
    return rng.choice(every)


def sound_exchange(sound: Sound, lang: str, rng: random.Random) -> Exchange:
    """A description request or a question about a sound, with its true answer."""
    choices = ["describe", "describe", "kind"]
    if sound.kind == "beeps":
        choices.append("count")
    if sound.pitch:
        choices.append("pitch")
    if sound.timbre:
        choices.append("timbre")
    pick = rng.choice(choices)
    en = lang == "en"
    if pick == "describe":
        text = describe_en(sound) if en else describe_zh(sound)
        answer = (capitalised(text) + ".") if en else ("这是" + text + "。")
        return Exchange(rng.choice(DESCRIBE_SOUND[lang]), answer, lang)
    if pick == "kind":
        names_en = {"beeps": "beeps", "tone": "a long tone", "rising": "a rising sweep",
                    "falling": "a falling sweep", "noise": "a hiss of noise"}
        if en:
            return Exchange("What kind of sound is this?", f"It is {names_en[sound.kind]}.", lang)
        return Exchange("这是哪种声音？", f"这是{KINDS[sound.kind]}。", lang)
    if pick == "count":
        if en:
            noun = "beep" if sound.count == 1 else "beeps"
            verb = "is" if sound.count == 1 else "are"
            return Exchange("How many beeps are there?",
                            f"There {verb} {COUNT_WORDS_EN[sound.count]} {noun}.", lang)
        return Exchange("有几声蜂鸣？", f"有{COUNT_WORDS_ZH[sound.count]}声蜂鸣。", lang)
    if pick == "pitch":
        if en:
            return Exchange("Is the pitch high or low?", f"The pitch is {sound.pitch}.", lang)
        return Exchange("音高是高还是低？", f"这是{PITCHES[sound.pitch][1]}。", lang)
    if en:
        return Exchange("Is it pure or buzzy?", f"It is {sound.timbre}.", lang)
    return Exchange("声音是纯净的还是嗡嗡的？", f"声音是{TIMBRES[sound.timbre]}。", lang)


# ---- drawing prompts -------------------------------------------------------------------------------------

DRAW_TEMPLATES = {
    "en": ["draw {x}", "please draw {x}", "can you draw {x}?", "paint {x}", "sketch {x}", "make a picture of {x}",
           "generate an image of {x}", "{x}", "Draw {x}.", "I would like a picture of {x}"],
    "zh": ["画{x}", "请画{x}", "帮我画{x}", "你能画{x}吗？", "给我画{x}", "生成一张{x}的图片"],
}


def draw_object_phrase(obj: SceneObject, lang: str, rng: random.Random, with_size: bool, with_position: bool) -> str:
    if lang == "en":
        words = ["a"] + ([obj.size] if with_size else []) + [obj.color, obj.shape]
        text = " ".join(words)
        return text + (" " + POSITION_PHRASES_EN[obj.position] if with_position else "")
    size = (SIZES[obj.size] + "的") if with_size else ""
    where = (POSITIONS[obj.position]) if with_position else ""
    return f"{where}一个{size}{COLORS[obj.color][1]}{SHAPES[obj.shape]}"


def draw_prompt(scene: Scene, lang: str, rng: random.Random) -> tuple[str, str]:
    """(prompt, assistant's short reply) for a single-object scene; size and position are sometimes named."""
    obj = scene.objects[0]
    with_size, with_position = rng.random() < 0.5, rng.random() < 0.4
    phrase = draw_object_phrase(obj, lang, rng, with_size, with_position)
    prompt = rng.choice(DRAW_TEMPLATES[lang]).format(x=phrase)
    reply = f"Drawing {phrase}." if lang == "en" else f"好的，我来画{phrase}。"
    return prompt, reply


# ---- conversation ---------------------------------------------------------------------------------------

CONVERSATION: list[tuple[list[str], str, list[str], str]] = [
    (["hello", "hi", "hi there", "hey", "good morning", "hello!"],
     "Hello! I am OmniMoE Studio's built-in model. I can describe pictures and sounds, answer questions about them, "
     "chat, and draw simple shapes.",
     ["你好", "您好", "嗨", "早上好", "你好！"],
     "你好！我是 OmniMoE Studio 的内置模型。我可以描述图片和声音，回答关于它们的问题，聊天，还可以画简单的图形。"),
    (["what can you do?", "what are you able to do?", "help", "what is this studio?", "who are you?"],
     "I describe pictures and sounds, answer questions about them, chat about how I work, and draw coloured shapes. "
     "Attach a picture or a sound, or ask me to draw something.",
     ["你能做什么？", "你会做什么？", "帮助", "这个工作室是什么？", "你是谁？"],
     "我可以描述图片和声音，回答关于它们的问题，聊聊我的工作原理，还可以画彩色图形。请上传图片或声音，或者让我画点什么。"),
    (["how do i use the chat tab?", "how does the chat work?", "how do i attach a picture?"],
     "Type a message, or attach a picture or a sound with the clip button, then press Enter. Stop halts the answer.",
     ["聊天页怎么用？", "怎么上传图片？", "聊天怎么用？"],
     "输入消息，或者用附件按钮上传图片或声音，然后按回车。停止按钮会立刻中止回答。"),
    (["how do i use the draw tab?", "how do i make a drawing?", "how does drawing work?"],
     "Open the Draw tab, write what to draw, for example a red circle, choose steps, guidance and seed, and press "
     "Draw.",
     ["画图页怎么用？", "怎么画图？", "画图是怎么工作的？"],
     "打开画图页，写下要画的内容，比如一个红色的圆形，选择步数、引导强度和种子，然后点击画图。"),
    (["how do i use the listen tab?", "how do i ask about a sound?"],
     "Open the Listen tab, upload or record a sound, optionally ask a question, and press Listen.",
     ["听音页怎么用？", "怎么问关于声音的问题？"],
     "打开听音页，上传或录制一段声音，可以再提一个问题，然后点击听。"),
    (["what is a mixture of experts?", "what is moe?", "explain mixture of experts", "how does moe work?"],
     "A mixture of experts splits the feed-forward layer into many small experts. A router picks a few experts for "
     "each token, so only a fraction of the parameters is active per token.",
     ["什么是混合专家模型？", "什么是MoE？", "解释一下混合专家", "MoE是怎么工作的？"],
     "混合专家模型把前馈层拆成许多小专家。路由器为每个词元挑选少数几个专家，所以每个词元只激活一部分参数。"),
    (["what are shared experts?", "what is the difference between shared and routed experts?",
      "what are routed experts?"],
     "Shared experts process every token; routed experts are chosen per token by the router. Shared experts hold "
     "common knowledge, routed experts specialise.",
     ["什么是共享专家？", "共享专家和路由专家有什么区别？", "什么是路由专家？"],
     "共享专家处理每一个词元；路由专家由路由器为每个词元挑选。共享专家保存通用知识，路由专家各有专长。"),
    (["what is sparse attention?", "explain sparse attention"],
     "Sparse attention lets each token look at a selected subset of earlier tokens instead of all of them, which "
     "makes long contexts cheaper.",
     ["什么是稀疏注意力？", "解释一下稀疏注意力"],
     "稀疏注意力让每个词元只关注挑选出来的一部分前文词元，而不是全部，这样长上下文更省计算。"),
    (["what are aligned encoders?", "what is clip?", "how do you see pictures?", "how do you hear sounds?"],
     "Aligned encoders map pictures, sounds and text into one shared space, trained so that matching pairs lie "
     "close together. A bridge turns those embeddings into inputs for the language model.",
     ["什么是对齐编码器？", "什么是CLIP？", "你是怎么看图片的？", "你是怎么听声音的？"],
     "对齐编码器把图片、声音和文字映射到同一个空间，训练时让匹配的一对彼此靠近。桥接模块再把这些向量变成语言模型的输入。"),
    (["what is diffusion?", "how do you draw pictures?", "what is a diffusion model?"],
     "A diffusion decoder starts from noise and removes it step by step, guided by the text, until a picture "
     "appears.",
     ["什么是扩散模型？", "你是怎么画图的？", "扩散是什么？"],
     "扩散解码器从噪声开始，在文字的引导下一步步去噪，直到出现一张图片。"),
    (["what is quantization?", "explain quantization"],
     "Quantization stores weights with fewer bits, such as int8 or int4, to save memory and speed up inference "
     "with little loss of quality.",
     ["什么是量化？", "解释一下量化"],
     "量化用更少的比特保存权重，比如int8或int4，以节省内存、加快推理，质量损失很小。"),
    (["what is distillation?", "explain distillation"],
     "Distillation trains a small student model to imitate a larger teacher model, keeping much of its quality at "
     "a fraction of the cost.",
     ["什么是蒸馏？", "解释一下知识蒸馏"],
     "蒸馏训练一个小的学生模型去模仿大的教师模型，用很小的代价保留大部分能力。"),
    (["thank you", "thanks", "thanks a lot"],
     "You are welcome!",
     ["谢谢", "谢谢你", "多谢"],
     "不客气！"),
    (["goodbye", "bye", "see you"],
     "Goodbye!",
     ["再见", "拜拜"],
     "再见！"),
]

OUT_OF_WORLD_ANSWER = {
    "en": "I am the small built-in model and I only know this studio's world of coloured shapes and simple sounds. "
          "For other questions, start the studio with a hub profile, for example --profile hub-cpu.",
    "zh": "我是小型内置模型，只了解这个工作室里的彩色图形和简单声音。其他问题请用 hub 配置启动工作室，例如 --profile hub-cpu。",
}
_OUT_TOPICS_EN = ["the capital of France", "the weather tomorrow", "quantum physics", "the stock market",
                  "the history of Rome", "python decorators", "the meaning of life", "football results",
                  "a recipe for pasta", "the population of Tokyo", "black holes", "the best movie of the year",
                  "how to fix my car", "the tallest mountain", "machine translation", "poetry", "music theory",
                  "the price of bitcoin", "my homework", "the moon landing"]
_OUT_FORMS_EN = ["tell me about {t}", "what do you know about {t}?", "can you explain {t}?", "what is {t}?",
                 "write an essay on {t}", "I have a question about {t}"]
_OUT_TOPICS_ZH = ["法国的首都", "明天的天气", "量子物理", "股票市场", "罗马的历史", "Python装饰器", "人生的意义", "足球比赛",
                  "意大利面的做法", "东京的人口", "黑洞", "今年最好的电影", "怎么修车", "最高的山", "诗歌", "音乐理论",
                  "比特币的价格", "我的作业", "登月"]
_OUT_FORMS_ZH = ["告诉我关于{t}的事", "你了解{t}吗？", "能解释一下{t}吗？", "{t}是什么？", "写一篇关于{t}的文章", "我有一个关于{t}的问题"]


def conversation_exchange(rng: random.Random, lang: str) -> Exchange:
    questions_en, answer_en, questions_zh, answer_zh = rng.choice(CONVERSATION)
    if lang == "en":
        question = rng.choice(questions_en)
        return Exchange(capitalised(question) if rng.random() < 0.5 else question, answer_en, lang)
    return Exchange(rng.choice(questions_zh), answer_zh, lang)


def out_of_world_exchange(rng: random.Random, lang: str) -> Exchange:
    if lang == "en":
        question = rng.choice(_OUT_FORMS_EN).format(t=rng.choice(_OUT_TOPICS_EN))
    else:
        question = rng.choice(_OUT_FORMS_ZH).format(t=rng.choice(_OUT_TOPICS_ZH))
    return Exchange(question, OUT_OF_WORLD_ANSWER[lang], lang)
