"""The built-in world's conversation: greetings, the studio and its ideas, and requests to draw; every question worded
from the grammar (phrasing). Questions outside the world are off_world's."""
from __future__ import annotations

import random
import re

from .exchange import Exchange
from .off_world import OUT_OF_WORLD_ANSWER
from .phrasing import Part, worded
from .pictures import COLORS, POSITION_PHRASES_EN, POSITIONS, SHAPES, SIZES, Scene, SceneObject
from .wordings import DRAW_TEMPLATES_PART, KEY_WORDS

# ---- drawing prompts -------------------------------------------------------------------------------------

DRAW_TEMPLATES = {lang: list(part.options) for lang, part in DRAW_TEMPLATES_PART.items()}
# Words of a request to draw that the studio's router reads: a typo never touches them.
REQUEST_WORDS = frozenset({"please", "could", "would", "like", "want", "give", "make", "create", "generate",
                           "render", "illustrate", "hello", "hiya", "there", "good", "morning", "evening"})


def draw_object_phrase(obj: SceneObject, lang: str, rng: random.Random, with_size: bool, with_position: bool) -> str:
    if lang == "en":
        words = ["a"] + ([obj.size] if with_size else []) + [obj.color, obj.shape]
        text = " ".join(words)
        return text + (" " + POSITION_PHRASES_EN[obj.position] if with_position else "")
    size = (SIZES[obj.size] + "的") if with_size else ""
    where = (POSITIONS[obj.position]) if with_position else ""
    return f"{where}一个{size}{COLORS[obj.color][1]}{SHAPES[obj.shape]}"


def draw_prompt(scene: Scene, lang: str, rng: random.Random, held_out: bool = False) -> tuple[str, str]:
    """(prompt, assistant's short reply) for a single-object scene; size and position are sometimes named; the
    request worded from the grammar, a greeting sometimes in front (held_out as picture_question's)."""
    obj = scene.objects[0]
    with_size, with_position = rng.random() < 0.5, rng.random() < 0.4
    phrase = draw_object_phrase(obj, lang, rng, with_size, with_position)
    prompt = worded(DRAW_TEMPLATES_PART[lang], {"x": phrase}, lang, rng, held_out, KEY_WORDS | REQUEST_WORDS,
                    ("greeting",)).text
    reply = f"Drawing {phrase}." if lang == "en" else f"好的，我来画{phrase}。"
    return prompt, reply


# ---- conversation ---------------------------------------------------------------------------------------

CONVERSATION: list[tuple[list[str], str, list[str], str]] = [
    (["hello", "hi", "hi there", "hey", "good morning", "hello!"],
     "Hello! I am OmniMoE Studio's built-in model. I can describe pictures and sounds, answer questions about them, "
     "chat, and draw simple shapes.",
     ["你好", "您好", "嗨", "早上好", "你好！"],
     "你好！我是 OmniMoE Studio 的内置模型。我可以描述图片和声音，回答关于它们的问题，聊天，还可以画简单的图形。"),
    (["what can you do?", "what are you able to do?", "help", "what is this studio?", "who are you?",
      "what do you do?", "what are you good at?", "how can you help me?"],
     "I describe pictures and sounds, answer questions about them, chat about how I work, and draw coloured shapes. "
     "Attach a picture or a sound, or ask me to draw something.",
     ["你能做什么？", "你会做什么？", "帮助", "这个工作室是什么？", "你是谁？", "你有什么功能？", "你能帮我做什么？"],
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
    (["can you draw?", "are you able to draw pictures?", "do you draw?", "can you make pictures?",
      "can you paint?"],
     "Yes. Ask me to draw something, for example a red circle on the left, and the image decoder draws it.",
     ["你会画画吗？", "你能画图吗？", "你可以画画吗？", "你会不会画图？"],
     "会。让我画点什么，比如左边一个红色的圆形，图像解码器就会把它画出来。"),
    (["can you see pictures?", "can you look at images?", "can you hear sounds?", "can you listen to audio?",
      "do you understand pictures?"],
     "Yes. Attach a picture or a sound and I describe it or answer your question about it: colours, shapes and "
     "places in a picture; kind, pitch, timbre and beeps in a sound.",
     ["你能看图片吗？", "你能听声音吗？", "你看得懂图片吗？", "你能听懂音频吗？"],
     "可以。上传图片或声音，我会描述它，或者回答关于它的问题：图片里的颜色、形状和位置；声音的种类、音高、音色和蜂鸣次数。"),
    (["thank you", "thanks", "thanks a lot"],
     "You are welcome!",
     ["谢谢", "谢谢你", "多谢"],
     "不客气！"),
    (["goodbye", "bye", "see you"],
     "Goodbye!",
     ["再见", "拜拜"],
     "再见！"),
]

# Topics whose questions stand alone: a greeting, thanks, goodbye (no greeting or polite frame around them).
UNFRAMED = frozenset({"hello", "thank you", "goodbye"})
TOPIC_QUESTIONS = [{"en": Part(f"en/topic/{en[0]}", tuple(en), 0.3), "zh": Part(f"zh/topic/{en[0]}", tuple(zh), 0.3)}
                   for en, _, zh, _ in CONVERSATION]


def conversation_exchange(rng: random.Random, lang: str, held_out: bool = False) -> Exchange:
    """A question about the studio or its ideas, or a greeting, with the studio's answer; held_out as
    picture_question's."""
    k = rng.randrange(len(CONVERSATION))
    questions_en, answer_en, _, answer_zh = CONVERSATION[k]
    frames = () if questions_en[0] in UNFRAMED else ("greeting", "politeness")
    if held_out and not frames and not TOPIC_QUESTIONS[k][lang].held:
        return conversation_exchange(rng, lang, held_out)          # nothing of this topic is held out: another
    wording = worded(TOPIC_QUESTIONS[k][lang], {}, lang, rng, held_out, KEY_WORDS, frames)
    return Exchange(wording.text, answer_en if lang == "en" else answer_zh, lang, kind="conversation",
                    wording=wording.parts)


def latin_names_in_chinese_answers() -> set[str]:
    """The Latin words that the world's Chinese answers hold ("OmniMoE", "int8", "hub-cpu", "--profile", "MoE",
    "DeepSeek-V3"): a Chinese answer may write them and stay Chinese."""
    from .studio import STUDIO_TOPICS, StudioFacts, answers
    facts = StudioFacts(8, 1, 2, 4, 1, 7_000_000, 3_000_000)       # numbers do not change the words
    texts = [zh for _, _, _, zh in CONVERSATION] + [OUT_OF_WORLD_ANSWER["zh"]]
    texts += [answers(facts)[topic]["zh"] for topic in STUDIO_TOPICS]
    return {word for text in texts for word in re.findall(r"[A-Za-z0-9-]+", text) if re.search(r"[A-Za-z]", word)}
