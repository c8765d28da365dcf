"""The built-in world's words: questions and answers about pictures and sounds, each question worded from the
grammar (phrasing, wordings); drawing prompts, conversation and the studio's own facts come from chat and studio."""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .pictures import (BACKGROUNDS, COLORS, NUMBER_WORDS_EN, NUMBER_WORDS_ZH, POSITION_PHRASES_EN, POSITIONS,
                       SHAPES, Scene, SceneObject, caption_en, caption_zh, random_scene)
from .chat import (CONVERSATION, DRAW_TEMPLATES, conversation_exchange, draw_object_phrase,  # noqa: F401
                   draw_prompt)
from .off_world import OUT_OF_WORLD_ANSWER, out_of_world_exchange  # noqa: F401
from .exchange import Exchange
from .phrasing import worded
from .sounds import (COUNT_WORDS_EN, COUNT_WORDS_ZH, KINDS, PITCHES, TIMBRES, Sound, describe_en, describe_zh,
                     random_sound)
from .wordings import KEY_WORDS, PICTURE_TEMPLATES, PLACE_WORDS, SOUND_TEMPLATES


DESCRIBE_PICTURE = {lang: list(part.options) for lang, part in PICTURE_TEMPLATES["caption"].items()}
DESCRIBE_SOUND = {lang: list(part.options) for lang, part in SOUND_TEMPLATES["describe"].items()}


def article(word: str) -> str:
    """"an orange", "a red"."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def places_of(objects) -> tuple[str, ...]:
    return tuple(o.position for o in objects)


def _yes_no_shape(scene: Scene, shape: str, lang: str, rng: random.Random | None = None,
                  held_out: bool = False) -> Exchange:
    found = places_of(o for o in scene.objects if o.shape == shape)
    if lang == "en":
        answer = f"Yes, there is a {shape}." if found else f"No, there is no {shape}."
    else:
        answer = f"有，图中有{SHAPES[shape]}。" if found else f"没有，图中没有{SHAPES[shape]}。"
    name = shape if lang == "en" else SHAPES[shape]
    return question_of("is there a shape", lang, rng, held_out, answer, about=found, shape=name)


def _yes_no_color(scene: Scene, color: str, lang: str, rng: random.Random | None = None,
                  held_out: bool = False) -> Exchange:
    found = places_of(o for o in scene.objects if o.color == color)
    zh = COLORS[color][1]
    if lang == "en":
        answer = f"Yes, there is something {color}." if found else f"No, there is nothing {color}."
        return question_of("is there a colour", lang, rng, held_out, answer, about=found, color=color,
                           a_color=article(color))
    answer = f"有，图中有{zh}的东西。" if found else f"没有，图中没有{zh}的东西。"
    return question_of("is there a colour", lang, rng, held_out, answer, about=found, color=zh)


def _count(scene: Scene, lang: str, rng: random.Random | None = None, held_out: bool = False) -> Exchange:
    n = len(scene.objects)
    if lang == "en":
        answer = "There is one object." if n == 1 else f"There are {NUMBER_WORDS_EN[n]} objects."
    else:
        answer = f"图中有{NUMBER_WORDS_ZH[n]}个物体。"
    return question_of("count", lang, rng, held_out, answer)


def _background(scene: Scene, lang: str, rng: random.Random | None = None, held_out: bool = False) -> Exchange:
    answer = (f"The background is {scene.background}." if lang == "en"
              else f"背景是{BACKGROUNDS[scene.background][1]}的。")
    return question_of("background", lang, rng, held_out, answer)


def _shape_at(scene: Scene, position: str, lang: str, rng: random.Random | None = None,
              held_out: bool = False) -> Exchange:
    found = [o for o in scene.objects if o.position == position]
    if lang == "en":
        where = POSITION_PHRASES_EN[position]
        answer = f"There is a {found[0].color} {found[0].shape} {where}." if found else f"There is nothing {where}."
    else:
        zh = POSITIONS[position]
        answer = f"{zh}是一个{COLORS[found[0].color][1]}{SHAPES[found[0].shape]}。" if found else f"{zh}什么也没有。"
    return question_of("shape at a place", lang, rng, held_out, answer, about=places_of(found),
                       where=PLACE_WORDS[lang][position])


def _color_of(obj: SceneObject, lang: str, rng: random.Random | None = None, held_out: bool = False) -> Exchange:
    if lang == "en":
        return question_of("colour of a shape", lang, rng, held_out, f"The {obj.shape} is {obj.color}.",
                           about=(obj.position,), shape=obj.shape)
    shape = SHAPES[obj.shape]
    return question_of("colour of a shape", lang, rng, held_out, f"{shape}是{COLORS[obj.color][1]}的。",
                       about=(obj.position,), shape=shape)


def _where_is(obj: SceneObject, lang: str, rng: random.Random | None = None, held_out: bool = False) -> Exchange:
    if lang == "en":
        name = f"{obj.color} {obj.shape}"
        answer = f"The {name} is {POSITION_PHRASES_EN[obj.position]}."
    else:
        name = COLORS[obj.color][1] + SHAPES[obj.shape]
        answer = f"{name}在{POSITIONS[obj.position]}。"
    return question_of("place of an object", lang, rng, held_out, answer, about=(obj.position,), name=name)


def question_of(kind: str, lang: str, rng: random.Random | None, held_out: bool, answer: str,
                about: tuple[str, ...] | None = None, **slots) -> Exchange:
    """The exchange with its question worded from the grammar (rng None: the canonical wording, as typed by the
    world's own templates: no frame, no change)."""
    template = PICTURE_TEMPLATES[kind][lang]
    if rng is None:
        values = {k: v.options[0] if not isinstance(v, str) else v for k, v in slots.items()}
        return Exchange(template.options[0].format(**values), answer, lang, about=about)
    wording = worded(template, slots, lang, rng, held_out, KEY_WORDS)
    return Exchange(wording.text, answer, lang, about=about, wording=wording.parts)


def capitalised(text: str) -> str:
    """The first letter upper-case, the rest as it is ("a red star" -> "A red star")."""
    return text[0].upper() + text[1:]


def caption_exchange(scene: Scene, lang: str, rng: random.Random, held_out: bool = False) -> Exchange:
    caption = caption_en(scene) if lang == "en" else caption_zh(scene)
    if lang == "en":
        caption = capitalised(caption) + "."
    else:
        caption += "。"
    wording = worded(PICTURE_TEMPLATES["caption"][lang], {}, lang, rng, held_out, KEY_WORDS)
    return Exchange(wording.text, caption, lang, kind="caption", described=tuple(o.position for o in scene.objects),
                    wording=wording.parts)


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


def picture_question(scene: Scene, lang: str, rng: random.Random, mix: QuestionMix | None = None,
                     held_out: bool = False) -> Exchange:
    """A random question about the scene, of any kind WORLD.md lists, with its true answer; mix: how often each
    kind is asked (default: all kinds alike, yes/no questions about any colour or shape); held_out: worded only
    in wordings held out of training (phrasing), else only in trained ones."""
    unique_shapes = [o for o in scene.objects if sum(p.shape == o.shape for p in scene.objects) == 1]
    unique_names = [o for o in scene.objects
                    if sum((p.shape, p.color) == (o.shape, o.color) for p in scene.objects) == 1]
    balanced = mix is not None and mix.balanced_yes_no
    worded_as = {"lang": lang, "rng": rng, "held_out": held_out}
    makers = {
        "count": lambda: _count(scene, **worded_as),
        "background": lambda: _background(scene, **worded_as),
        "shape at a place": lambda: _shape_at(
            scene, asked_about({o.position for o in scene.objects}, sorted(POSITIONS), rng,
                               mix is not None and mix.balanced_places), **worded_as),
        "is there a shape": lambda: _yes_no_shape(
            scene, asked_about({o.shape for o in scene.objects}, sorted(SHAPES), rng, balanced), **worded_as),
        "is there a colour": lambda: _yes_no_color(
            scene, asked_about({o.color for o in scene.objects}, sorted(COLORS), rng, balanced), **worded_as),
    }
    if unique_shapes:
        makers["colour of a shape"] = lambda: _color_of(rng.choice(unique_shapes), **worded_as)
    if unique_names:
        asked = lookalikes(unique_names, scene) if mix is not None and mix.lookalikes else []
        makers["place of an object"] = lambda: _where_is(rng.choice(asked or unique_names), **worded_as)
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


SOUND_KIND_EN = {"beeps": "beeps", "tone": "a long tone", "rising": "a rising sweep", "falling": "a falling sweep",
                 "noise": "a hiss of noise"}


def sound_exchange(sound: Sound, lang: str, rng: random.Random, held_out: bool = False) -> Exchange:
    """A description request or a question about a sound, with its true answer; held_out as picture_question's."""
    choices = ["describe", "describe", "kind", "count"]    # "How many beeps?" of a tone: "There are no beeps"
    if sound.pitch:
        choices.append("pitch")
    if sound.timbre:
        choices.append("timbre")
    pick = rng.choice(choices)
    answer = sound_answer(sound, pick, lang)
    wording = worded(SOUND_TEMPLATES[pick][lang], {}, lang, rng, held_out, KEY_WORDS)
    return Exchange(wording.text, answer, lang, kind=pick, wording=wording.parts)


def sound_answer(sound: Sound, pick: str, lang: str) -> str:
    """The world's answer to a question of kind `pick` (SOUND_TEMPLATES) about the sound."""
    en = lang == "en"
    if pick == "describe":
        text = describe_en(sound) if en else describe_zh(sound)
        return (capitalised(text) + ".") if en else ("这是" + text + "。")
    if pick == "kind":
        return f"It is {SOUND_KIND_EN[sound.kind]}." if en else f"这是{KINDS[sound.kind]}。"
    if pick == "count" and sound.kind != "beeps":
        return (f"There are no beeps: it is {SOUND_KIND_EN[sound.kind]}." if en
                else f"没有蜂鸣声，这是{KINDS[sound.kind]}。")
    if pick == "count":
        if en:
            noun, verb = ("beep", "is") if sound.count == 1 else ("beeps", "are")
            return f"There {verb} {COUNT_WORDS_EN[sound.count]} {noun}."
        return f"有{COUNT_WORDS_ZH[sound.count]}声蜂鸣。"
    if pick == "pitch":
        return f"The pitch is {sound.pitch}." if en else f"这是{PITCHES[sound.pitch][1]}。"
    return f"It is {sound.timbre}." if en else f"声音是{TIMBRES[sound.timbre]}。"




# A question about a picture or a sound asked with none attached: the answer asks for one, in the question's language
NO_PICTURE = {"en": "I don't see a picture here. Attach one and ask again.", "zh": "这里没有图片。请附上一张图片再问。"}
NO_SOUND = {"en": "I don't hear a sound here. Attach one and ask again.", "zh": "这里没有声音。请附上一段声音再问。"}


def missing_media_exchange(rng: random.Random, lang: str, held_out: bool = False) -> Exchange:
    """A question about a picture (a caption request or any question kind) or about a sound, worded as
    picture_question and sound_exchange word them, asked with nothing attached; the answer asks for it."""
    if rng.random() < 0.5:
        scene = random_scene(rng)
        asked = (caption_exchange(scene, lang, rng, held_out) if rng.random() < 0.25
                 else picture_question(scene, lang, rng, held_out=held_out))
        return Exchange(asked.question, NO_PICTURE[lang], lang, kind="no picture", wording=asked.wording)
    asked = sound_exchange(random_sound(rng), lang, rng, held_out)
    return Exchange(asked.question, NO_SOUND[lang], lang, kind="no sound", wording=asked.wording)
