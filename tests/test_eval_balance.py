"""The evaluation's expert-balance figures count the tokens they name: a prefix figure only the prefix's own."""
from __future__ import annotations

import pytest

from modules.training.evaluate import Suite, busiest_over_mean, describe_prompts
from modules.training.suite_config import REPO_ROOT
from modules.world.pictures import Scene, SceneObject, render_scene

FOLDER = REPO_ROOT / "assets" / "mini"


@pytest.fixture(scope="module")
def suite():
    return Suite.load(FOLDER)


def with_other_question(suite, prompt, question: str):
    """The same prompt and prefix, another question after the picture's place."""
    ids, kind, prefix = prompt
    other = suite.language_model.prompt_ids([{"role": "user", "content": f"<|{kind}|>{question}"}], kind,
                                            prefix.shape[0])
    return other, kind, prefix


def test_a_prefix_figure_counts_the_prefix_alone(suite):
    """Attention is causal: the words after a picture cannot move its prefix's experts, but they move the whole
    prompt's. So the prefix figure is the same for two questions, while counting every token is not."""
    scenes = [Scene("white", (SceneObject(c, s, "large", p),)) for c, s, p in (
        ("red", "star", "left"), ("blue", "circle", "top"), ("green", "square", "center"))]
    prompts = describe_prompts(suite, "image", [suite.image_encoder.encode(render_scene(s)) for s in scenes])
    asked = [with_other_question(suite, p, "How many objects are there in this picture, and what colour?")
             for p in prompts]
    assert busiest_over_mean(suite.language_model, prompts) == busiest_over_mean(suite.language_model, asked)
    every_token = [[(ids, None, None)] for ids, _, _ in (prompts[0], asked[0])]
    assert busiest_over_mean(suite.language_model, every_token[0]) != busiest_over_mean(suite.language_model,
                                                                                          every_token[1])
