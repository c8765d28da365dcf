"""Language-model batches drawn together and sorted by length: every example is trained on once, with less padding,
and each picture's request speaks of the picture as it is shown."""
import random
from dataclasses import replace

import pytest
from transformers import AutoTokenizer

from modules.training.corpus import scenes_for, sounds_for
from modules.training.lm_data import ChatTokens
from modules.training.suite_config import REPO_ROOT, LanguageStage
from modules.training.train_language import Phase, batches_by_length, draw_examples

STAGE = LanguageStage(length_groups=8)
PHASE = Phase("language", 10, 1e-3, 1, {}, False, STAGE.caption_share)


@pytest.fixture(scope="module")
def chat():
    tokenizer = AutoTokenizer.from_pretrained(str(REPO_ROOT / "assets" / "mini" / "language_model"))
    return ChatTokens(tokenizer, image_tokens=17, audio_tokens=52)


def drawn_examples(batches: int, seed: int):
    """The examples of that many batches, drawn as training draws them."""
    scenes, sounds = scenes_for("train", 300, 1), sounds_for("train", 100, 1)
    return draw_examples(PHASE, replace(STAGE, length_groups=batches), scenes, sounds, random.Random(seed))


def padding_share(batches, chat) -> float:
    padded = [chat.collate(batch).attention_mask for batch in batches]
    return 1 - sum(int(mask.sum()) for mask in padded) / sum(mask.numel() for mask in padded)


def test_sorted_batches_hold_every_example_once_with_far_less_padding(chat):
    examples = drawn_examples(STAGE.length_groups, seed=0)
    batches = batches_by_length(examples, chat, STAGE.batch, random.Random(0))
    assert [len(batch) for batch in batches] == [STAGE.batch] * STAGE.length_groups
    assert sorted(map(id, (e for batch in batches for e in batch))) == sorted(map(id, examples))
    in_drawn_order = [examples[k:k + STAGE.batch] for k in range(0, len(examples), STAGE.batch)]
    assert padding_share(in_drawn_order, chat) > 0.4 and padding_share(batches, chat) < 0.25


def test_a_mirrored_picture_s_caption_names_the_other_side():
    captions = [e for e in drawn_examples(25, seed=1) if e.media == "image" and e.request.described is not None]
    mirrored = [e for e in captions if e.mirrored]
    assert 0.3 < len(mirrored) / len(captions) < 0.7
    sides = {"left": "right", "right": "left"}
    for example in mirrored:
        places = [o.position for o in example.scene.objects]
        assert sorted(example.request.described) == sorted(sides.get(place, place) for place in places)


def test_sorted_batches_weigh_every_answer_token_as_one_unsorted_batch_would():
    """A long-answer batch and a short-answer one, each divided by their mean number of answer tokens, add up to
    what the two would give as one batch: no token weighs more for the company it is batched with."""
    import torch

    from modules.training.lm_data import IGNORE
    from modules.training.train_language import next_token_losses, token_loss

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 12, 50, generator=generator)                          # (B, T, V)
    labels = torch.randint(0, 50, (2, 12), generator=generator)
    labels[0, :2] = IGNORE                         # 9 answer tokens (the first label is never a target)
    labels[1, :10] = IGNORE                        # 1 answer token, and one the model is sure of
    logits[1, 10, labels[1, 11]] = 30.0
    mean = ((labels[:, 1:] != IGNORE).sum() / 2).item()
    losses = next_token_losses(logits, labels)                                    # (B, T)
    apart = token_loss(losses[:1], labels[:1], mean) + token_loss(losses[1:], labels[1:], mean)
    assert torch.isclose(apart, 2 * token_loss(losses, labels))
    own = token_loss(losses[:1], labels[:1]) + token_loss(losses[1:], labels[1:])
    assert not torch.isclose(own, 2 * token_loss(losses, labels))


def test_sorted_batches_weigh_every_picture_s_auxiliary_losses_as_unsorted_batches_would(chat):
    """Questions cluster in the short batches of a sorted group. Each auxiliary loss is a mean over its batch's
    items; times auxiliary_scales, the group's batches add up to the group's mean item loss once per batch, as
    batches drawn one at a time give it. Without the scales, the questions' grounding weighed about half as much."""
    from modules.training.train_language import auxiliary_items, auxiliary_scales, mean_auxiliary_items

    examples = drawn_examples(STAGE.length_groups, seed=2)
    batches = batches_by_length(examples, chat, STAGE.batch, random.Random(2))
    rng = random.Random(3)
    item_loss = {id(e): rng.random() for e in examples}                 # any loss per picture or sound
    for name in ("cells", "sound_facts", "grounding", "naming", "captions"):
        def items(batch):
            return [e for e in batch if auxiliary_items([e])[name]]
        group_mean = sum(item_loss[id(e)] for e in items(examples)) / len(items(examples))
        sorted_total = sum(auxiliary_scales(batch, mean_auxiliary_items(batches))[name]
                           * sum(item_loss[id(e)] for e in items(batch)) / len(items(batch))
                           for batch in batches if items(batch))
        assert sorted_total == pytest.approx(len(batches) * group_mean), name
    grounded = [len([e for e in batch if auxiliary_items([e])["grounding"]]) for batch in batches]
    assert max(grounded) >= 2 * sum(grounded) / len(grounded)          # the clustering the scales undo


def test_one_batch_alone_keeps_every_auxiliary_loss_as_it_is(chat):
    from modules.training.train_language import auxiliary_scales, mean_auxiliary_items

    batch = drawn_examples(1, seed=4)
    assert set(auxiliary_scales(batch, mean_auxiliary_items([batch])).values()) == {1.0}
