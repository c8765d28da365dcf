"""The questions phase's auxiliary losses (every fact of a picture or sound) and its per-example text loss."""
from __future__ import annotations

import torch

from modules.training.fact_heads import SCENE_FACTS, scene_fact_head, scene_facts, sound_facts
from modules.training.lm_data import IGNORE
from modules.training.train_language import next_token_losses, per_example_loss
from modules.world.pictures import Scene, SceneObject
from modules.world.sounds import Sound
from tests.fitting import fit


def test_a_scene_facts_are_what_a_question_about_it_could_ask():
    scene = Scene("black", (SceneObject("red", "star", "small", "left"), SceneObject("blue", "circle", "large", "top")))
    facts = scene_facts(scene)
    assert {("shape", "star"), ("color", "blue"), ("count", 2), ("background", "black"),
            ("shape color", "star", "red"), ("shape place", "circle", "top"), ("color place", "red", "left")} <= facts
    assert ("shape", "square") not in facts and ("shape color", "star", "blue") not in facts
    assert facts <= set(SCENE_FACTS)
    mirrored = scene_facts(scene.mirrored())
    assert ("shape place", "star", "right") in mirrored and ("shape place", "star", "left") not in mirrored


def test_a_sound_has_a_count_only_when_it_is_beeps():
    assert sound_facts(Sound("beeps", "high", "pure", 3)) == {("kind", "beeps"), ("pitch", "high"),
                                                               ("timbre", "pure"), ("count", 3)}
    assert sound_facts(Sound("noise")) == {("kind", "noise")}


def test_the_head_learns_facts_that_the_tokens_carry_and_not_noise():
    """Summary tokens that carry which shape is there can be read; tokens of noise cannot."""
    torch.manual_seed(0)
    shapes = ["circle", "square", "triangle", "star"]
    scenes = [Scene("white", (SceneObject("red", s, "small", "left"),)) for s in shapes]
    informative = torch.zeros(4, 3, 8)                                     # (n, summary tokens, width)
    for k in range(4):
        informative[k, :, k] = 1.0
    head = scene_fact_head(8)
    fit(head, lambda: head.loss(informative, scenes), steps=300)
    assert head.accuracy(informative, scenes) == 1.0
    assert head.accuracy(torch.randn(4, 3, 8), scenes) < 1.0


def test_a_short_answer_weighs_as_much_as_a_long_one():
    """Two examples, one with one answer token wrong (loss ~ln V) and one with nine right: averaged per example the
    wrong answer is half the loss; averaged over tokens it would be a tenth."""
    vocab = 5
    logits = torch.full((2, 11, vocab), -20.0)
    labels = torch.full((2, 11), IGNORE)
    labels[0, 1] = 2                                  # one answer token, predicted wrong (logits flat)
    logits[0, 0] = 0.0
    labels[1, 1:10] = 3                               # nine answer tokens, predicted right
    logits[1, :9, 3] = 20.0
    wrong = torch.log(torch.tensor(float(vocab)))
    assert torch.isclose(per_example_loss(next_token_losses(logits, labels), labels), wrong / 2, atol=1e-4)
