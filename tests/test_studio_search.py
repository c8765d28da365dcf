"""Studio questions with Search on, as the recipe teaches them: the turn is the one the studio gives its model, the
answer cites a source that mentions the topic (in English and Chinese), and the talk eval judges the citation."""
from __future__ import annotations

import random
import re

import pytest

from modules.training.evaluate_talk import Asked, right
from modules.training.model_facts import stage_facts
from modules.world.language import language_of
from modules.world.studio import STUDIO_TOPICS, answers
from modules.world.studio_search import TOPIC_WORDS, StudioSearchTurns
from tests.e2e_server import MINI_MARKER

FACTS = stage_facts()


@pytest.fixture(scope="module")
def turns() -> StudioSearchTurns:
    return StudioSearchTurns(lambda turn: len(turn) <= 1200)    # a budget in characters: no tokenizer needed here


def source_lines(turn: str) -> dict[int, str]:
    """[n] -> that source's line in the user's turn."""
    return {int(m.group(1)): m.group(0) for m in re.finditer(r"^\[(\d+)\] .*$", turn, re.MULTILINE)}


def cited(answer: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", answer)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_topic_cites_the_first_source_that_mentions_it(turns, lang):
    rng, citing = random.Random(f"cite-{lang}"), set()
    for topic in STUDIO_TOPICS:
        for _ in range(6):
            e = turns.exchange(FACTS, rng, lang, topic=topic)
            lines = source_lines(e.question)
            mentions = [n for n, line in lines.items()
                        if any(w in line.split(": ", 1)[1].lower() for w in TOPIC_WORDS[topic])]
            assert cited(e.answer) == mentions[:1], (e.question, e.answer)
            citing.update({topic} if mentions else set())
    assert citing == set(STUDIO_TOPICS)               # every topic is cited from the studio's own docs somewhere


def test_a_chinese_question_gets_the_chinese_answer_with_its_citation(turns):
    e = turns.exchange(FACTS, random.Random(3), "zh", topic="experts")
    right_answer = answers(FACTS)["experts"]["zh"]
    assert e.question.startswith("[search results;") and language_of(e.question.rsplit("\n\n", 1)[1]) == "zh"
    assert re.fullmatch(re.escape(right_answer) + r"\[\d\]", e.answer), e.answer
    assert "专家" in source_lines(e.question)[cited(e.answer)[0]]


def test_the_talk_eval_judges_the_number_and_the_citation(turns):
    e = turns.exchange(FACTS, random.Random(5), "en", topic="layers")
    n = cited(e.answer)[0]
    asked = Asked(e, None, None, "studio_search", "held_out")
    text = answers(FACTS)["layers"]["en"]
    assert right(asked, f"{text} [{n}]")
    assert not right(asked, f"{text} [{n + 1}]")                    # the wrong source
    assert not right(asked, text)                                    # no citation
    assert not right(asked, f"I have 9 layers. [{n}]")               # cited, but the numbers are wrong


@pytest.fixture(scope="module")
def built_in():
    if not MINI_MARKER.is_file():
        pytest.skip("the built-in language model is not there yet")
    from modules.config import load_config
    from modules.pipeline import Pipeline

    return Pipeline(load_config(["--profile", "mini"], {}))


def test_the_recipe_turn_is_the_one_the_studio_gives_its_model(built_in, monkeypatch):
    from modules.contracts import GenerationSettings
    from modules.training.lm_data import ChatTokens, Example, search_turns
    from modules.training.suite_config import LanguageStage

    lm, given = built_in.components.get("language_model"), []
    monkeypatch.setattr(lm, "stream", lambda messages, *a, **k: given.append(messages[-1]["content"]) or iter(()))
    recipe = search_turns(lm.tokenizer, LanguageStage().context)
    chat = ChatTokens(lm.tokenizer, 1, 1)
    rng = random.Random(7)
    for lang, held_out in (("en", False), ("zh", False), ("en", True), ("zh", True)):
        e = recipe.exchange(FACTS, rng, lang, held_out)
        question = e.question.rsplit("\n\n", 1)[-1]
        list(built_in.chat(question, [], [], GenerationSettings(), search=True))
        assert given[-1] == e.question                                # byte for byte
        ids, _ = chat.encode(Example(None, [(e.question, e.answer)]))
        assert len(ids) <= LanguageStage().context                   # the training sequence fits the model
    assert sum(turn.startswith("[search results;") for turn in given) >= 3     # most come with sources


def test_the_docs_summaries_of_the_built_in_model_state_its_real_configuration():
    """docs/training.md sums the built-in language model up in English and in Chinese (what Search finds for
    "How many experts does the built-in model have?"); both must say what the shipped model's configuration says."""
    from pathlib import Path

    from transformers import AutoConfig

    from modules.training.model_facts import facts_of_config

    folder = Path("assets/mini/language_model")
    if not (folder / "config.json").exists():
        pytest.skip("the built-in models are not in assets/mini")
    f = facts_of_config(AutoConfig.from_pretrained(folder))
    text = " ".join(Path("docs/training.md").read_text(encoding="utf-8").split())
    for fact in (f"Layers: {f.layers}, of them {f.dense_layers} dense and {f.moe_layers} MoE layers",
                 f"{f.routed_experts} routed experts and {f.shared_experts} shared expert",
                 f"activates {f.experts_per_token} of the routed experts",
                 f"about {f.total_parameters / 1e6:.2f} million in total",
                 f"about {f.active_parameters / 1e6:.2f} million of them active",
                 f"层数：{f.layers}层，其中{f.dense_layers}层稠密层、{f.moe_layers}层 MoE 层",
                 f"{f.routed_experts}个路由专家和{f.shared_experts}个共享专家",
                 f"选中其中{f.experts_per_token}个路由专家",
                 f"总共约{round(f.total_parameters / 1e4)}万个参数",
                 f"激活其中约{round(f.active_parameters / 1e4)}万个"):
        assert fact in text, fact
