"""The built-in world as data: splits, items for each training stage, and the text corpus the tokenizer learns from."""
from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from ..world.pictures import (COLORS, POSITIONS, SHAPES, SIZES, Scene, SceneObject, caption_en, caption_zh,
                             random_scene)
from ..world.sounds import Sound, all_sound_contents, describe_en, describe_zh, random_sound
from ..world.chat import TOPIC_QUESTIONS
from ..world.off_world import OUT_FORMS, OUT_QUESTIONS, OUT_TOPICS, SUM_FORMS
from ..world.phrasing import FRAMES
from ..world.studio import STUDIO_QUESTIONS, STUDIO_TOPICS, studio_exchange
from ..world.talk import (CONVERSATION, OUT_OF_WORLD_ANSWER, caption_exchange, conversation_exchange,
                         draw_prompt, out_of_world_exchange, picture_question, sound_exchange)
from ..world.wordings import DRAW_TEMPLATES_PART, PICTURE_TEMPLATES, SOUND_TEMPLATES

SPLITS = ("train", "validation", "test")


def split_of(content_key: str) -> str:
    """Which split a piece of content belongs to: a stable hash, so splits never share an item."""
    bucket = int(hashlib.sha1(content_key.encode()).hexdigest()[:8], 16) % 20
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def sound_split_of(sound: Sound) -> str:
    """Sounds have only 35 contents, so a sound's split is decided by its exact variation, not its content."""
    return split_of(f"{sound.content_key()}#{sound.variation_seed}")


def _scenes_in_split(stream: str, split: str, count: int, max_objects: int, background: str | None) -> list[Scene]:
    """The first `count` scenes of a seeded stream that fall into the split."""
    rng = random.Random(stream)
    scenes: list[Scene] = []
    while len(scenes) < count:
        scene = random_scene(rng, max_objects, background)
        if split_of(scene.content_key()) == split:
            scenes.append(scene)
    return scenes


def scenes_for(split: str, count: int, seed: int, max_objects: int = 3) -> list[Scene]:
    return _scenes_in_split(f"scenes-{split}-{seed}", split, count, max_objects, None)


def single_object_scenes_for(split: str, count: int, seed: int) -> list[Scene]:
    """Scenes for the drawing decoder: one object on a white background."""
    return _scenes_in_split(f"draw-{split}-{seed}", split, count, 1, "white")


def sounds_for(split: str, count: int, seed: int) -> list[Sound]:
    rng = random.Random(f"sounds-{split}-{seed}")
    sounds: list[Sound] = []
    while len(sounds) < count:
        sound = random_sound(rng)
        if sound_split_of(sound) == split:
            sounds.append(sound)
    return sounds


def every_sound_content_for(split: str, per_content: int, seed: int) -> list[Sound]:
    """Each of the world's 35 sound contents `per_content` times, with variations that fall into the split:
    every beep count is measured as often as every other, which a random sample of sounds does not do."""
    rng = random.Random(f"every-sound-{split}-{seed}")
    sounds: list[Sound] = []
    for content in all_sound_contents():
        found = 0
        while found < per_content:
            sound = Sound(content.kind, content.pitch, content.timbre, content.count, rng.randrange(1 << 30))
            if sound_split_of(sound) == split:
                sounds.append(sound)
                found += 1
    return sounds


def shuffled_objects(scene: Scene, rng: random.Random) -> Scene:
    """The same scene with its objects listed in another order (captions then list them differently)."""
    objects = list(scene.objects)
    rng.shuffle(objects)
    return Scene(scene.background, tuple(objects), scene.shade_seed)


def tokenizer_corpus(seed: int = 0, items: int = 6000) -> list[str]:
    """Every kind of text the models meet, in both languages, for training the tokenizer: the exchanges of every
    task in trained wordings, and every trained option of the grammar's parts once. Held-out wordings stay out:
    a token made only for them would reach the language model untrained."""
    from .model_facts import stage_facts
    rng = random.Random(f"corpus-{seed}")
    facts = stage_facts()
    texts: list[str] = []
    for _ in range(items):
        scene = random_scene(rng)
        sound = random_sound(rng)
        for lang in ("en", "zh"):
            for exchange in (caption_exchange(scene, lang, rng), picture_question(scene, lang, rng),
                             sound_exchange(sound, lang, rng), conversation_exchange(rng, lang),
                             out_of_world_exchange(rng, lang), studio_exchange(facts, rng, lang)):
                texts += [exchange.question, exchange.answer]
            texts += list(draw_prompt(random_scene(rng, 1), lang, rng))
        texts += [caption_en(scene), caption_zh(scene), describe_en(sound), describe_zh(sound)]
    for _, answer_en, _, answer_zh in CONVERSATION:
        texts += [answer_en, answer_zh]
    texts += list(OUT_OF_WORLD_ANSWER.values())
    return texts + grammar_options(facts)


def grammar_options(facts) -> list[str]:
    """Every trained option of every part of the grammar (templates, frames, topics) and every studio answer."""
    parts = [p for kinds in (PICTURE_TEMPLATES, SOUND_TEMPLATES) for by_lang in kinds.values() for p in by_lang.values()]
    parts += [p for frames in FRAMES.values() for p in frames.values()]
    tables = (OUT_FORMS, OUT_QUESTIONS, OUT_TOPICS, SUM_FORMS, DRAW_TEMPLATES_PART)
    parts += [p for table in tables for p in table.values()]
    parts += [p for topic in TOPIC_QUESTIONS for p in topic.values()]
    parts += [p for kinds in STUDIO_QUESTIONS.values() for p in kinds.values()]
    texts = [o for p in parts for o in p.trained]
    rng = random.Random("corpus-studio")
    for topic in STUDIO_TOPICS:
        for lang in ("en", "zh"):
            texts.append(studio_exchange(facts, rng, lang, topic=topic).answer)
    return texts


def perturbed(scene: Scene, rng: random.Random, field: str | None = None) -> Scene:
    """The scene with exactly one thing changed: one object's colour, shape, size or position (`field`, else one
    of those four at random; a position where every place is taken changes the size instead); or, asked for by
    name, two objects' places exchanged ("swap") or one object left out or one more added ("count"). A swap in a
    scene of one object moves it; "count" leaves out an object of a scene with several, else adds one."""
    objects = list(scene.objects)
    field = field or rng.choice(["color", "shape", "size", "position"])
    used = {o.position for o in objects}
    if field == "swap" and len(objects) > 1:
        return Scene(scene.background, swapped_places(objects, rng), rng.randrange(1 << 30))
    if field == "count":
        return Scene(scene.background, one_more_or_fewer(objects, rng), rng.randrange(1 << 30))
    k = rng.randrange(len(objects))
    obj = objects[k]
    if field in ("position", "swap") and len(used) < len(POSITIONS):
        obj = SceneObject(obj.color, obj.shape, obj.size, rng.choice(sorted(set(POSITIONS) - used)))
    elif field == "color":
        obj = SceneObject(rng.choice(sorted(set(COLORS) - {obj.color})), obj.shape, obj.size, obj.position)
    elif field == "shape":
        obj = SceneObject(obj.color, rng.choice(sorted(set(SHAPES) - {obj.shape})), obj.size, obj.position)
    else:
        obj = SceneObject(obj.color, obj.shape, "small" if obj.size == "large" else "large", obj.position)
    objects[k] = obj
    return Scene(scene.background, tuple(objects), rng.randrange(1 << 30))


def swapped_places(objects: list[SceneObject], rng: random.Random) -> tuple[SceneObject, ...]:
    """Two of the objects (at least two) exchange their places."""
    a, b = rng.sample(range(len(objects)), 2)
    moved = list(objects)
    moved[a] = replace(objects[a], position=objects[b].position)
    moved[b] = replace(objects[b], position=objects[a].position)
    return tuple(moved)


def one_more_or_fewer(objects: list[SceneObject], rng: random.Random) -> tuple[SceneObject, ...]:
    """One object left out of several, or, beside a lone object, a random one added at a free place."""
    if len(objects) > 1:
        left_out = rng.randrange(len(objects))
        return tuple(o for i, o in enumerate(objects) if i != left_out)
    free = sorted(set(POSITIONS) - {o.position for o in objects})
    added = SceneObject(rng.choice(sorted(COLORS)), rng.choice(sorted(SHAPES)), rng.choice(sorted(SIZES)),
                        rng.choice(free))
    return (*objects, added)
