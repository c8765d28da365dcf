"""Language-model training batches as drawn: packed, they hold far less padding; the balancing bias counts their text
alone; and each picture's request speaks of the picture as it is shown."""
import random

import pytest
from transformers import AutoTokenizer

from modules.training.corpus import scenes_for, sounds_for
from modules.training.lm_data import ChatTokens
from modules.training.packing import Packing
from modules.training.suite_config import REPO_ROOT, LanguageStage
from modules.training.train_language import Phase, balanced_tokens, draw_examples

STAGE = LanguageStage()
PHASE = Phase("language", 10, 1e-3, 1, {}, False, STAGE.caption_share)


@pytest.fixture(scope="module")
def chat():
    tokenizer = AutoTokenizer.from_pretrained(str(REPO_ROOT / "assets" / "mini" / "language_model"))
    return ChatTokens(tokenizer, image_tokens=17, audio_tokens=52)


def drawn_batches(count: int, seed: int):
    """That many batches' examples, drawn as training draws them."""
    scenes, sounds, rng = scenes_for("train", 300, 1), sounds_for("train", 100, 1), random.Random(seed)
    return [draw_examples(PHASE, STAGE, scenes, sounds, rng) for _ in range(count)]


def test_packed_batches_run_on_far_fewer_padding_tokens(chat):
    padded, packed = [], []
    for examples in drawn_batches(8, seed=0):
        lengths = chat.collate(examples).attention_mask.sum(dim=1).tolist()
        for shares, lay_out in ((padded, Packing.one_per_row), (packed, Packing.first_fit)):
            shares.append(1 - float(lay_out(lengths).token_mask().float().mean()))
    assert sum(padded) / len(padded) > 0.4 and sum(packed) / len(packed) < 0.2


def test_the_balancing_bias_counts_each_text_token_and_no_prefix_or_padding(chat):
    """The bar is the experts' load on text: the picture and sound prefixes' places must not count."""
    examples = drawn_batches(1, seed=2)[0]
    batch = chat.collate(examples)
    markers = {kind: chat.tokenizer.convert_tokens_to_ids(f"<|{kind}|>") for kind in ("image", "audio")}
    packing = Packing.first_fit(batch.attention_mask.sum(dim=1).tolist())
    counted = packing.unpack(balanced_tokens(batch, packing, markers, STAGE).long(), batch.input_ids.shape[1])
    prefix = sum((batch.input_ids == marker).long() for marker in markers.values())
    assert prefix.sum() >= 17 * sum(e.media == "image" for e in examples) > 0
    assert counted.sum() == batch.attention_mask.sum() - prefix.sum()
    assert not (counted.bool() & prefix.bool()).any()


def test_a_mirrored_picture_s_caption_names_the_other_side():
    captions = [e for batch in drawn_batches(25, seed=1) for e in batch
                if e.media == "image" and e.request.described is not None]
    mirrored = [e for e in captions if e.mirrored]
    assert 0.3 < len(mirrored) / len(captions) < 0.7
    sides = {"left": "right", "right": "left"}
    for example in mirrored:
        places = [o.position for o in example.scene.objects]
        assert sorted(example.request.described) == sorted(sides.get(place, place) for place in places)
