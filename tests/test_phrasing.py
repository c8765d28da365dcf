"""The grammar of wordings: many distinct questions per kind, held-out parts never in trained wordings, answers
still true, typos that spare the words carrying the answer, the question's language, the studio's true facts."""
import random
import re
from pathlib import Path

import pytest
from transformers import AutoConfig

from modules.router import route
from modules.training.evaluate import normalise, parse_caption, scene_labels
from modules.training.model_facts import facts_of_config, stage_facts
from modules.world.chat import TOPIC_QUESTIONS, conversation_exchange, draw_prompt
from modules.world.off_world import (OUT_FORMS, OUT_OF_WORLD_ANSWER, OUT_QUESTIONS, OUT_TOPICS, SUM_FORMS,
                                     made_up_topic, out_of_world_exchange)
from modules.world.language import language_of
from modules.world.phrasing import FRAMES, Part, Typing, typed
from modules.world.pictures import COLORS, POSITIONS, SHAPES, random_scene
from modules.world.sounds import random_sound
from modules.world.studio import STUDIO_QUESTIONS, studio_exchange
from modules.world.talk import (NO_PICTURE, NO_SOUND, caption_exchange, missing_media_exchange, picture_question,
                               sound_exchange)
from modules.world.wordings import (DRAW_TEMPLATES_PART, KEY_WORDS, PICTURE_TEMPLATES, PLACE_WORDS,
                                    SOUND_TEMPLATES)

FOLDER = Path(__file__).resolve().parents[1] / "assets" / "mini" / "language_model"
FACTS = stage_facts()


def every_part() -> list[Part]:
    parts = [p for table in (PICTURE_TEMPLATES, SOUND_TEMPLATES, STUDIO_QUESTIONS) for by_lang in table.values()
             for p in by_lang.values()]
    parts += [p for by_lang in PLACE_WORDS.values() for p in by_lang.values()]
    tables = (OUT_FORMS, OUT_QUESTIONS, OUT_TOPICS, SUM_FORMS, DRAW_TEMPLATES_PART)
    parts += [p for table in tables for p in table.values()]
    parts += [p for topic in TOPIC_QUESTIONS for p in topic.values()]
    return parts + [p for frames in FRAMES.values() for p in frames.values()]


def exchanges(lang: str, held_out: bool, count: int, seed: int = 0):
    """(task, exchange) pairs of every task: picture questions, captions, sounds, studio, conversation, refusals."""
    rng = random.Random(f"{lang}-{held_out}-{seed}")
    for _ in range(count):
        scene, sound = random_scene(rng), random_sound(rng)
        yield "picture", picture_question(scene, lang, rng, held_out=held_out), scene
        yield "caption", caption_exchange(scene, lang, rng, held_out), scene
        yield "sound", sound_exchange(sound, lang, rng, held_out), sound
        yield "studio", studio_exchange(FACTS, rng, lang, held_out), None
        yield "conversation", conversation_exchange(rng, lang, held_out), None
        yield "outside", out_of_world_exchange(rng, lang, held_out), None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_kind_of_question_comes_in_many_wordings(lang):
    seen: dict[str, set[str]] = {}
    for task, e, _ in exchanges(lang, False, 600):
        seen.setdefault(f"{task}/{e.kind}", set()).add(e.question)
    assert len(seen) >= 20, sorted(seen)
    thin = {kind: len(qs) for kind, qs in seen.items() if len(qs) < 30}
    assert not thin, thin


def test_every_part_holds_out_about_a_fifth_never_its_canonical_first_option():
    for part in every_part():
        assert part.options[0] not in part.held
        if len(part.options) >= 5:
            assert 0.1 <= len(part.held) / len(part.options) <= 0.3, part.name


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_held_out_parts_never_appear_in_trained_wordings_and_every_held_out_wording_has_one(lang):
    held = {o for p in every_part() for o in p.held}
    held_texts = {o for p in every_part() for o in p.held if len(o) > 12 and "{" not in o}   # whole questions
    for task, e, _ in exchanges(lang, False, 800):
        assert not set(e.wording) & held, (task, e.wording)
        assert not any(t.lower() in e.question.lower() for t in held_texts), e.question
    for task, e, _ in exchanges(lang, True, 400):
        assert set(e.wording) & held, (task, e.wording)


@pytest.mark.parametrize("held_out", [False, True])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_answer_is_still_true_for_its_scene_or_sound(lang, held_out):
    from modules.world.talk import sound_answer
    for task, e, thing in exchanges(lang, held_out, 400):
        assert language_of(e.question) == lang == e.language, e.question
        if task == "caption":
            assert parse_caption(e.answer, lang) == scene_labels(thing)
        elif task == "sound":
            assert e.answer == sound_answer(thing, e.kind, lang)
        elif task == "picture":
            assert e.about is None or set(e.about) <= {o.position for o in thing.objects}
        elif task == "outside":
            assert e.answer == OUT_OF_WORLD_ANSWER[lang]
        if task != "outside":
            assert e.answer != OUT_OF_WORLD_ANSWER[lang], e.question     # in the world: never a refusal


def test_picture_answers_name_the_right_object_whatever_the_wording():
    rng = random.Random(4)
    for _ in range(600):
        scene = random_scene(rng)
        e = picture_question(scene, "en", rng, held_out=rng.random() < 0.5)
        if e.kind == "colour of a shape":
            shape = next(s for s in SHAPES if re.search(rf"\b{s}\b", e.question.lower()))
            assert normalise(e.answer) == normalise(f"The {shape} is "
                                                    f"{next(o.color for o in scene.objects if o.shape == shape)}.")
        if e.kind == "is there a shape":
            shape = next(s for s in SHAPES if re.search(rf"\b{s}\b", e.question.lower()))
            assert e.answer.startswith("Yes") == any(o.shape == shape for o in scene.objects), e.question


def test_typos_never_touch_the_words_that_carry_the_answer():
    rng = random.Random(7)
    carrying = [*COLORS, *SHAPES, *POSITIONS, "one", "two", "three", "four", "beeps", "pitch", "experts", "layers"]
    text = "Hello, could you tell me where the " + " ".join(carrying) + " really are please?"
    always = Typing(typo=1.0, lower_case=0.0, spelling_swap=0.0)
    changed = 0
    for _ in range(300):
        out = typed(text, "en", rng, KEY_WORDS, always)
        words = re.findall(r"[a-z]+", out.lower())
        assert all(w in words for w in carrying), out
        changed += out.rstrip("?") != text.rstrip("?")
    assert changed > 250                                      # the typos do happen, elsewhere


def test_spelling_case_and_punctuation_vary_in_english_and_punctuation_and_particles_in_chinese():
    english = {e.question for _, e, _ in exchanges("en", False, 800) if e.kind == "background"}
    assert any("colour" in q for q in english) and any("color" in q for q in english)
    assert any(q[0].islower() for q in english) and any(not q.endswith(("?", ".", "!")) for q in english)
    chinese = [e.question for _, e, _ in exchanges("zh", False, 800)]
    assert any(q.endswith("?") for q in chinese) and any(q.endswith("？") for q in chinese)
    assert any(q.startswith(("请问", "你好", "麻烦")) for q in chinese)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_greetings_in_front_of_a_request_get_the_request_answered(lang):
    greeted = [e for task, e, _ in exchanges(lang, False, 600)
               if len(e.wording) >= 3 and e.wording[-2] != "{q}" and task != "outside"]   # (..., greeting, polite)
    assert len(greeted) > 100
    assert not [e for e in greeted if e.answer.startswith(("Hello! I am", "你好！我是"))]     # not a greeting alone


def test_studio_facts_are_the_shipped_models_configuration():
    shipped = facts_of_config(AutoConfig.from_pretrained(FOLDER))
    assert shipped == FACTS
    assert (shipped.routed_experts, shipped.shared_experts, shipped.experts_per_token) == (8, 1, 2)
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(FOLDER)
    assert sum(p.numel() for p in model.parameters()) == shipped.total_parameters


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_studio_answers_hold_the_true_numbers(lang):
    rng = random.Random(2)
    texts = {e.kind: e.answer for e in (studio_exchange(FACTS, rng, lang) for _ in range(200))}
    assert str(FACTS.routed_experts) in texts["experts"] and str(FACTS.experts_per_token) in texts["active experts"]
    assert str(FACTS.layers) in texts["layers"] and str(FACTS.dense_layers) in texts["layers"]
    total = f"{FACTS.total_parameters / 1e6:.2f} million" if lang == "en" else f"{round(FACTS.total_parameters / 1e4)}万"
    assert total in texts["parameters"] and total in texts["architecture"]


def test_out_of_world_questions_name_nothing_of_the_world():
    world = set(COLORS) | set(SHAPES) | set(POSITIONS) | {"draw", "picture", "image", "sound", "beep", "expert",
                                                          "experts", "model", "studio"}
    zh_world = ({v[1] for v in COLORS.values()} | set(SHAPES.values()) | set(POSITIONS.values())
                | {"画", "图片", "声音", "专家", "模型"})
    options = {lang: [o for table in (OUT_FORMS, OUT_QUESTIONS, OUT_TOPICS, SUM_FORMS) for o in table[lang].options]
               for lang in ("en", "zh")}
    rng = random.Random(3)
    for lang in ("en", "zh"):
        options[lang] += [made_up_topic(rng, lang) for _ in range(200)]
    for text in options["en"]:
        assert not set(re.findall(r"[a-z]+", text.lower())) & world, text
    for text in options["zh"]:
        assert not any(w in text for w in zh_world), text
    for lang, held_out in (("en", False), ("zh", True)):
        for _, e, _ in exchanges(lang, held_out, 300):
            if e.answer == OUT_OF_WORLD_ANSWER[lang] and lang == "en":
                assert not set(re.findall(r"[a-z]+", e.question.lower())) & world, e.question
            elif e.answer == OUT_OF_WORLD_ANSWER[lang]:
                assert not any(w in e.question for w in zh_world), e.question


def test_out_of_world_questions_come_as_people_ask_them():
    """Sums with any numbers, made-up things and the usual forms, each refused; the shares hold roughly."""
    rng = random.Random(8)
    asked = [out_of_world_exchange(rng, "en") for _ in range(600)]
    sums = [e for e in asked if e.wording[0] in SUM_FORMS["en"].options]
    assert 40 < len(sums) < 120 and len({e.question for e in sums}) > 0.9 * len(sums)
    assert len({e.question for e in asked}) > 500
    assert all(e.answer == OUT_OF_WORLD_ANSWER["en"] for e in asked)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_question_about_a_picture_or_a_sound_with_none_attached_is_answered_by_asking_for_one(lang):
    """Worded as the questions asked with a picture or a sound (held-out wordings too), answered in their language
    by asking for the picture or the sound they are about."""
    rng = random.Random(4)
    asked = [missing_media_exchange(rng, lang, held_out=k % 2 == 1) for k in range(300)]
    pictures = [e for e in asked if e.kind == "no picture"]
    sounds = [e for e in asked if e.kind == "no sound"]
    assert 120 < len(pictures) < 240 and len(pictures) + len(sounds) == 300
    assert all(e.answer == NO_PICTURE[lang] for e in pictures) and all(e.answer == NO_SOUND[lang] for e in sounds)
    assert all(language_of(e.answer) == lang for e in asked)
    assert len({e.question for e in asked}) > 150
    assert all(route(e.question, 0, 0).name == "chat" for e in asked)     # nothing routes it elsewhere


@pytest.mark.parametrize("held_out", [False, True])
def test_every_request_to_draw_goes_to_the_image_decoder(held_out):
    rng = random.Random(9)
    for _ in range(400):
        lang = rng.choice(["en", "zh"])
        prompt, reply = draw_prompt(random_scene(rng, 1), lang, rng, held_out)
        bare = not re.search(r"draw|paint|sketch|picture|image|illustrat|画|绘制|生成", prompt.lower())  # "a red star"
        assert route(prompt, 0, 0).name == "draw" or bare, prompt
        assert language_of(prompt) == language_of(reply) == lang


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_grounding_finds_the_colour_and_shape_words_of_every_wording(lang):
    from transformers import AutoTokenizer
    from modules.bridge_model import PrefixBridgeConfig
    from modules.training.grounding import name_lookup_loss, names_in
    from modules.training.lm_data import ChatTokens, Example
    tokenizer = AutoTokenizer.from_pretrained(FOLDER)
    bridge = PrefixBridgeConfig(image_grid=8, image_pool=2, image_pool_margin=1, image_global_tokens=8)
    chat = ChatTokens(tokenizer, bridge.image_tokens, 52)
    loss = name_lookup_loss(bridge, tokenizer.convert_tokens_to_ids("<|image|>"), 0, 0, tokenizer)
    naming = {"colour of a shape", "is there a shape", "is there a colour", "place of an object"}
    rng = random.Random(12)
    for k in range(300):
        scene = random_scene(rng)
        e = picture_question(scene, lang, rng, held_out=k % 2 == 1)
        names = names_in(e.question, scene, lang)
        assert bool(names) == (e.kind in naming), e.question
        batch = chat.collate([Example("image", [(e.question, e.answer)])])
        rows, _, _ = loss.targets(batch.input_ids, batch.labels, [names])
        assert len(rows) >= len(names), e.question                     # each name's token is found in the question
