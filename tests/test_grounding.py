"""The grounding losses: which answer positions and question words they read, where those should look, and what
they ask of a head."""
from __future__ import annotations

import functools
import random
from pathlib import Path

import torch
from transformers import AutoTokenizer, DeepseekV3ForCausalLM

from modules.bridge_model import PrefixBridgeConfig
from modules.training.grounding import (caption_grounding_loss, grounding_loss, name_lookup_loss, names_in,
                                       place_readout_loss)
from modules.training.lm_data import IGNORE, ChatTokens, Example, picture_turn
from modules.training.suite_config import LanguageStage
from modules.training.train_language import HeadOutputs, language_model_config
from modules.world.pictures import Scene, SceneObject
from modules.world.pictures import COLORS, SHAPES
from modules.world.talk import _yes_no_color, _yes_no_shape, caption_exchange, picture_question

RED_STAR_LEFT = SceneObject("red", "star", "small", "left")
BLUE_CIRCLE_TOP = SceneObject("blue", "circle", "large", "top")
RED_SQUARE_RIGHT = SceneObject("red", "square", "small", "right")
SCENE = Scene("black", (RED_STAR_LEFT, BLUE_CIRCLE_TOP, RED_SQUARE_RIGHT))
FOLDER = Path(__file__).resolve().parents[1] / "assets" / "mini" / "language_model"


def question_of_kind(kind: str, wanted_answer_start: str = "") -> object:
    rng = random.Random(0)
    for _ in range(2000):
        e = picture_question(SCENE, "en", rng)
        if e.kind == kind and e.answer.startswith(wanted_answer_start):
            return e
    raise AssertionError(f"no {kind} question starting {wanted_answer_start!r}")


def test_a_question_is_about_the_places_of_the_objects_that_decide_its_answer():
    red = [e for e in (picture_question(SCENE, "en", random.Random(k)) for k in range(400))
           if e.kind == "is there a colour" and " red" in e.question]
    assert red and all(set(e.about) == {"left", "right"} for e in red)
    assert question_of_kind("is there a colour", "No").about == ()
    where_blue = [e for e in (picture_question(SCENE, "zh", random.Random(k)) for k in range(400))
                  if e.kind == "place of an object" and "蓝色" in e.question]
    assert where_blue and all(e.about == ("top",) for e in where_blue)
    assert question_of_kind("count").about is None and question_of_kind("background").about is None
    captions = [t for t in (picture_turn(SCENE, random.Random(k), caption_share=1.0) for k in range(20))]
    assert all(t.about is None for t in captions)


BRIDGE = PrefixBridgeConfig(image_grid=8, image_pool=2, image_pool_margin=1, image_global_tokens=8)
STAGE = LanguageStage()


@functools.cache
def tokenizer():
    return AutoTokenizer.from_pretrained(FOLDER)


def picture_chat(question: str, answer: str):
    """The question and answer encoded after a picture, and the id of the picture's marker token."""
    batch = ChatTokens(tokenizer(), BRIDGE.image_tokens, 52).collate([Example("image", [(question, answer)])])
    return batch, tokenizer().convert_tokens_to_ids("<|image|>")


def encoded(question: str, answer: str):
    batch, marker = picture_chat(question, answer)
    return batch, grounding_loss(BRIDGE, marker, STAGE.grounding_layer, STAGE.grounding_head), marker


def naming(question: str, answer: str, language: str):
    """The question encoded with a picture, the name lookup loss, the names the question uses, and the positions
    of the picture's prefix tokens."""
    batch, marker = picture_chat(question, answer)
    loss = name_lookup_loss(BRIDGE, marker, STAGE.naming_layer, STAGE.naming_head, tokenizer())
    return batch, loss, names_in(question, SCENE, language), (batch.input_ids[0] == marker).nonzero().flatten()


def test_the_answer_positions_look_at_the_asked_objects_cells_or_at_the_first_token_when_none_is_there():
    batch, loss, marker = encoded("Where is the blue circle?", "The blue circle is at the top.")
    queries, keys = loss.targets(batch.input_ids, batch.labels, [("top",)])
    markers = (batch.input_ids[0] == marker).nonzero().flatten()
    assert keys[0].nonzero().flatten().tolist() == [int(markers[8 + 1])]      # cell 1 of 3x3: the top middle
    predicted = (batch.labels[0, 1:] != IGNORE).nonzero().flatten()           # positions whose next token is learnt
    assert queries[0].nonzero().flatten().tolist() == predicted.tolist()
    _, nothing = loss.targets(batch.input_ids, batch.labels, [()])
    assert nothing[0].nonzero().flatten().tolist() == [0]
    none_asked, _ = loss.targets(batch.input_ids, batch.labels, [None])
    assert not none_asked.any()


def test_the_loss_is_low_for_a_head_that_looks_at_the_right_cells_and_high_for_one_that_looks_elsewhere():
    batch, loss, marker = encoded("Is there anything red?", "Yes, there is something red.")
    _, keys = loss.targets(batch.input_ids, batch.labels, [("left", "right")])
    length = batch.input_ids.shape[1]
    causal = torch.tril(torch.ones(length, length))

    def attentions_looking_at(where: torch.Tensor) -> dict[int, torch.Tensor]:
        weights = causal * (where[None, :] * 50.0 + 1e-3)
        weights = (weights / weights.sum(dim=-1, keepdim=True))[None, None].expand(1, 4, length, length)
        return dict.fromkeys(range(4), weights)

    right = loss(attentions_looking_at(keys[0]), batch.input_ids, batch.labels, [("left", "right")])
    wrong_cells = torch.zeros(length)
    markers = (batch.input_ids[0] == marker).nonzero().flatten()
    wrong_cells[markers[8 + 1]] = 1.0                                           # the top cell: blue, not red
    wrong = loss(attentions_looking_at(wrong_cells), batch.input_ids, batch.labels, [("left", "right")])
    assert right < 0.01 and wrong > 5.0


def test_a_question_names_colours_and_shapes_with_the_places_of_the_objects_that_have_them():
    assert names_in("Where is the red square?", SCENE, "en") == (("red", ("left", "right")), ("square", ("right",)))
    assert names_in("有绿色的东西吗？", SCENE, "zh") == (("绿色", ()),)
    assert names_in("蓝色圆形在哪里？", SCENE, "zh") == (("蓝色", ("top",)), ("圆形", ("top",)))
    assert names_in("What color is the background?", SCENE, "en") == ()
    assert names_in("What shape is on the left?", SCENE, "en") == ()


def test_each_naming_word_of_the_question_looks_at_the_cells_of_the_objects_it_names_not_the_answers_words():
    batch, loss, names, markers = naming("Where is the red square?", "The red square is on the right.", "en")
    rows, queries, keys = loss.targets(batch.input_ids, batch.labels, [names])
    assert [tokenizer().decode(batch.input_ids[0, q]) for q in queries] == [" red", " square"]
    assert all(q < (batch.labels[0] != IGNORE).nonzero().min() for q in queries)     # in the question
    cell = {"left": 3, "right": 5, "top": 1}                                          # of the 3x3 cells
    assert keys[0].nonzero().flatten().tolist() == [int(markers[8 + cell["left"]]), int(markers[8 + cell["right"]])]
    assert keys[1].nonzero().flatten().tolist() == [int(markers[8 + cell["right"]])]
    batch, loss, names, _ = naming("有绿色的东西吗？", "没有，图中没有绿色的东西。", "zh")
    _, queries, keys = loss.targets(batch.input_ids, batch.labels, [names])
    assert [tokenizer().decode(batch.input_ids[0, q]) for q in queries] == ["绿"]          # the colour's own character
    assert keys[0].nonzero().flatten().tolist() == [0]                                  # nothing green: first token
    assert len(loss.targets(batch.input_ids, batch.labels, [None])[0]) == 0


def test_every_colour_and_shape_name_is_found_in_its_yes_no_question_in_both_languages():
    for language in ("en", "zh"):
        asked = ([_yes_no_color(SCENE, c, language) for c in COLORS]
                 + [_yes_no_shape(SCENE, s, language) for s in SHAPES])
        for exchange in asked:
            batch, loss, names, _ = naming(exchange.question, exchange.answer, language)
            rows, _, _ = loss.targets(batch.input_ids, batch.labels, [names])
            assert len(names) == 1 and len(rows) == 1, exchange.question


def test_the_name_lookup_loss_is_low_for_a_head_that_finds_the_named_colour_and_high_for_one_that_does_not():
    batch, loss, names, markers = naming("Is there anything red?", "Yes, there is something red.", "en")
    length = batch.input_ids.shape[1]
    causal = torch.tril(torch.ones(length, length))

    def attentions_looking_at(cells: list[int]) -> dict[int, torch.Tensor]:
        where = torch.zeros(length)
        where[[int(markers[8 + c]) for c in cells]] = 1.0
        weights = causal * (where[None, :] * 50.0 + 1e-3)
        return dict.fromkeys(range(4), (weights / weights.sum(dim=-1, keepdim=True))[None, None].expand(1, 4, length,
                                                                                                       length))

    right = loss(attentions_looking_at([3, 5]), batch.input_ids, batch.labels, [names])   # the red star and square
    wrong = loss(attentions_looking_at([1]), batch.input_ids, batch.labels, [names])      # the blue circle
    assert right < 0.01 and wrong > 5.0


def caption_targets(language: str):
    """SCENE's caption after a picture: the decoded token each query predicts, and the cell its key marks."""
    exchange = caption_exchange(SCENE, language, random.Random(0))
    batch, marker = picture_chat(exchange.question, exchange.answer)
    loss = caption_grounding_loss(BRIDGE, marker, STAGE.grounding_layer, STAGE.grounding_head, tokenizer())
    rows, queries, keys = loss.targets(batch.input_ids, batch.labels, [exchange.described])
    markers = (batch.input_ids[0] == marker).nonzero().flatten().tolist()
    cells = [markers.index(int(k.nonzero())) - 8 for k in keys]                  # 8 summary tokens, then the cells
    return [tokenizer().decode(batch.input_ids[0, q + 1]) for q in queries], cells, (loss, batch, exchange)


def test_each_word_of_a_caption_looks_at_the_cell_of_the_object_its_phrase_describes():
    words, cells, (loss, batch, exchange) = caption_targets("en")
    assert exchange.answer == ("A small red star on the left, a large blue circle at the top "
                               "and a small red square on the right.")
    left, top, right = 3, 1, 5                                                    # of the 3x3 cells
    assert list(zip(words, cells)) == (
        [(w, left) for w in ["A", " small", " red", " star", " on", " the", " left"]]
        + [(w, top) for w in [" a", " large", " blue", " circle", " at", " the", " top"]]
        + [(w, right) for w in [" a", " small", " red", " square", " on", " the", " right"]])   # not "." or the end
    assert len(loss.targets(batch.input_ids, batch.labels, [None])[0]) == 0      # not a caption: nothing
    words, cells, _ = caption_targets("zh")
    assert "".join(words) == "左边有一个小的红色星形上边有一个大的蓝色圆形右边有一个小的红色正方形"   # no "，" or "。"
    assert cells == [left] * 11 + [top] * 11 + [right] * 12


def where_is_chats():
    """"Where is the ...?" about an object in each of the five places, a row each; their groundings; the loss."""
    phrases = {"bottom": "at the bottom", "center": "in the center", "left": "on the left", "right": "on the right",
               "top": "at the top"}
    exchanges = [("Where is the red star?", f"The red star is {phrase}.") for phrase in phrases.values()]
    batch = ChatTokens(tokenizer(), BRIDGE.image_tokens, 52).collate([Example("image", [e]) for e in exchanges])
    marker = tokenizer().convert_tokens_to_ids("<|image|>")
    loss = place_readout_loss(marker, STAGE.grounding_layer, STAGE.grounding_head, STAGE.value_dim)
    return batch, [(place,) for place in phrases], loss


def test_the_place_read_is_asked_at_every_answer_position_of_an_answer_about_one_place_and_nowhere_else():
    batch, groundings, loss = where_is_chats()
    rows, queries, places = loss.targets(batch.input_ids, batch.labels, groundings)
    for row, (place,) in enumerate(groundings):
        predicted = (batch.labels[row, 1:] != IGNORE).nonzero().flatten()      # positions whose next token is learnt
        assert queries[rows == row].tolist() == predicted.tolist()
        assert {loss.places[p] for p in places[rows == row].tolist()} == {place}
    unasked = [None, (), ("left", "right"), None, ("top",)]                     # not grounded, nothing, two places
    rows, _, _ = loss.targets(batch.input_ids, batch.labels, unasked)
    assert set(rows.tolist()) == {4}


def test_the_place_read_learns_a_place_that_its_own_head_carries_and_not_one_that_only_another_head_carries():
    batch, groundings, _ = where_is_chats()
    width, heads = STAGE.value_dim, STAGE.heads

    def fitted_loss(carrier: int) -> float:
        """The loss after its read is fitted to outputs in which only head `carrier` tells the place."""
        _, _, loss = where_is_chats()
        rows, queries, places = loss.targets(batch.input_ids, batch.labels, groundings)
        outputs = torch.zeros(*batch.input_ids.shape, heads * width)                   # (B, T, heads * value)
        outputs[rows, queries, carrier * width + places] = 4.0
        optimizer = torch.optim.Adam(loss.parameters(), lr=0.05)
        for _ in range(150):
            optimizer.zero_grad()
            value = loss({STAGE.grounding_layer: outputs}, batch.input_ids, batch.labels, groundings)
            value.backward()
            optimizer.step()
        return value.item()

    assert fitted_loss(STAGE.grounding_head) < 0.05
    assert fitted_loss((STAGE.grounding_head + 1) % heads) > 1.0           # five places alike: about log 5


def test_the_head_outputs_read_are_what_the_layer_projects_into_its_attention_output_and_nothing_stays_hooked():
    model = DeepseekV3ForCausalLM(language_model_config(STAGE, tokenizer())).eval()
    layer = model.model.layers[STAGE.grounding_layer].self_attn
    seen = {}
    watch = layer.register_forward_hook(lambda module, inputs, output: seen.__setitem__("attention", output[0]))
    ids = torch.tensor([tokenizer().encode("Where is the red star?")])
    with torch.no_grad(), HeadOutputs(model, {STAGE.grounding_layer}) as outputs:
        model(input_ids=ids)
    watch.remove()
    read = outputs[STAGE.grounding_layer]                                    # (1, T, heads * value_dim)
    assert read.shape[-1] == STAGE.heads * STAGE.value_dim
    assert torch.allclose(layer.o_proj(read), seen["attention"], atol=1e-6)
    assert not layer.o_proj._forward_pre_hooks
