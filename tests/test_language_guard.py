"""The language guard: every answer the world teaches still comes out under it, and a model pushed to mix
languages never writes the other script with it on (and does with it off)."""
import functools
import random
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, DeepseekV3ForCausalLM

from modules.contracts import GenerationSettings
from modules import language_guard
from modules.language_guard import LanguageGuard, LanguageKeeper, token_bytes
from modules.language_model import GenerationStats, LanguageModel
from modules.training.corpus import scenes_for, sounds_for
from modules.training.model_facts import stage_facts
from modules.world.chat import CONVERSATION, draw_prompt, latin_names_in_chinese_answers
from modules.world.off_world import OUT_OF_WORLD_ANSWER
from modules.world.pictures import random_scene
from modules.world.studio import STUDIO_TOPICS, studio_exchange
from modules.world.talk import caption_exchange, picture_question, sound_exchange
from tests.tiny_checkpoints import tiny_deepseek_v3_config

FOLDER = Path(__file__).resolve().parents[1] / "assets" / "mini" / "language_model"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@functools.cache
def tokenizer():
    return AutoTokenizer.from_pretrained(FOLDER)


@functools.cache
def guard() -> LanguageGuard:
    return LanguageGuard(token_bytes(tokenizer()), set(tokenizer().all_special_ids), latin_names_in_chinese_answers())


def every_answer(lang: str) -> list[str]:
    """The answers of every task the world has, in the language."""
    rng, facts = random.Random(3), stage_facts()
    texts = [zh if lang == "zh" else en for en, _, _, zh in [(c[1], 0, 0, c[3]) for c in CONVERSATION]]
    texts += [OUT_OF_WORLD_ANSWER[lang]] + [studio_exchange(facts, rng, lang, topic=t).answer for t in STUDIO_TOPICS]
    for scene, sound in zip(scenes_for("test", 40, 1), sounds_for("test", 40, 1)):
        texts += [caption_exchange(scene, lang, rng).answer, picture_question(scene, lang, rng).answer,
                  sound_exchange(sound, lang, rng).answer, draw_prompt(random_scene(rng, 1), lang, rng)[1]]
    return texts


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_answer_the_world_teaches_can_still_be_written_token_by_token(lang):
    pieces = token_bytes(tokenizer())
    for answer in every_answer(lang):
        written = b""
        for token in tokenizer().encode(answer, add_special_tokens=False):
            assert not guard().banned(lang, written)[token], (answer, tokenizer().decode([token]))
            written += pieces[token]
        assert written.decode() == answer


def test_a_chinese_answer_may_not_start_an_english_word_but_may_write_a_name_whole():
    ids = {text: tokenizer().encode(text, add_special_tokens=False)[0] for text in ("There", "The", " red")}
    fresh = guard().banned("zh", "我是".encode())
    assert all(fresh[i] for i in ids.values())
    inside = guard().banned("zh", "我是 Omni".encode())                 # inside a name: only its rest may follow
    rest, stop = (tokenizer().encode(text, add_special_tokens=False)[0] for text in ("MoE", "的"))
    assert not inside[rest] and inside[stop]
    english = guard().banned("en", b"The")
    assert english[tokenizer().encode("红", add_special_tokens=False)[0]] and not english[ids[" red"]]


@pytest.fixture(scope="module")
def mixing_lm():
    """A tiny random DeepSeek-V3 on the shipped tokenizer, its scores pushed up for every token of both scripts,
    so that either language's answer drifts into the other."""
    config = tiny_deepseek_v3_config(len(tokenizer()), layers=2, context=256, bos=1, eos=2, pad=0)
    torch.manual_seed(0)
    model = DeepseekV3ForCausalLM(config).eval()
    pieces = token_bytes(tokenizer())
    scripts = [i for i, p in enumerate(pieces) if re.search(rb"[A-Za-z]", p) or any(b >= 0xE3 for b in p)]
    push = torch.zeros(config.vocab_size)
    push[scripts] = 8.0
    push[2] = -100.0                                                    # no <eos>: answers run to the cap
    model.lm_head.register_forward_hook(lambda module, args, out: out + push)
    return LanguageModel(model, tokenizer(), torch.device("cpu"))


def answers(lm, question: str, keep: bool) -> list[str]:
    texts = []
    for seed in range(4):
        settings = GenerationSettings(temperature=1.0, top_p=1.0, max_new_tokens=24, seed=seed, keep_language=keep)
        text = ""
        for text in lm.stream([{"role": "user", "content": question}], settings, GenerationStats()):
            pass
        texts.append(text)
    return texts


def foreign_words(text: str, names: set[str]) -> list[str]:
    """Latin words of a Chinese answer that are not names it may hold (a last word may be a name's start)."""
    words = re.findall(r"[A-Za-z0-9-]+", text)
    return [w for k, w in enumerate(words) if re.search("[A-Za-z]", w) and w not in names
            and not (k == len(words) - 1 and text.endswith(w) and any(n.startswith(w) for n in names))]


def test_with_the_guard_an_english_question_gets_no_chinese_and_a_chinese_one_no_english(mixing_lm):
    names = latin_names_in_chinese_answers()
    for text in answers(mixing_lm, "What colour is the star?", keep=True):
        assert not CJK.search(text), text
    for text in answers(mixing_lm, "你好，星形是什么颜色？", keep=True):
        assert not foreign_words(text, names) and CJK.search(text), text


def test_without_the_guard_the_pushed_model_mixes_scripts(mixing_lm):
    english = answers(mixing_lm, "What colour is the star?", keep=False)
    chinese = answers(mixing_lm, "你好，星形是什么颜色？", keep=False)
    assert any(CJK.search(t) for t in english)
    assert any(foreign_words(t, latin_names_in_chinese_answers()) for t in chinese)


def test_a_question_from_another_request_in_between_does_not_lose_this_ones_guard(monkeypatch):
    """Under load, chats in several threads share one keeper: another question arriving between this one's guard
    being made and being used replaced the cache, and the chat failed with a KeyError."""
    keeper = LanguageKeeper(tokenizer(), {"MoE"})
    asked_first = [{"role": "user", "content": "What does the DeepSeek-V3 expert do?"}]
    asked_between = [{"role": "user", "content": "How many experts does OmniMoE Studio have?"}]
    found = language_guard.language_of

    def another_request_meanwhile(text: str) -> str:
        if text == asked_first[0]["content"]:
            keeper.for_messages(asked_between)
        return found(text)

    monkeypatch.setattr(language_guard, "language_of", another_request_meanwhile)
    lang, guard = keeper.for_messages(asked_first)
    assert lang == "en" and isinstance(guard, LanguageGuard)
