"""Grounding: attention heads of the language model learn to look at the picture cells of the objects that a
question is about, or at the first token when no such object is there: one head from the words of the answer (and
of a caption, at the object each phrase describes), one from the question's words that name a colour or a shape;
and what the answer's head reads there learns to say which place it is."""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from .attribute_heads import REGIONS, cell_weights
from .lm_data import IGNORE
from ..world.pictures import COLORS, SHAPES, Scene


class GroundingLoss(nn.Module):
    """-log of the attention mass that one head (layer, head) of the language model puts on the right keys, averaged
    over the positions that predict a grounded answer's tokens. Without it the model found objects by place (a
    question naming the place: 39 of 40 right) but not by what they are (questions naming a colour or a shape: 23
    to 30 of 40, after 400 more steps with four times as many of them: the same)."""

    def __init__(self, layer: int, head: int, marker_id: int, global_tokens: int, cell_of_place: dict[str, int]):
        """cell_of_place: the bridge cell that holds each place (cells_of_places); global_tokens: the picture
        prefix tokens before the cells."""
        super().__init__()
        self.layer, self.head, self.marker_id, self.global_tokens = layer, head, marker_id, global_tokens
        self.cell_of_place = cell_of_place

    def forward(self, attentions: dict[int, torch.Tensor], input_ids: torch.Tensor, labels: torch.Tensor,
                groundings: list[tuple[str, ...] | None]) -> torch.Tensor:
        """attentions: by layer, (B, heads, T, T); input_ids, labels (B, T); groundings: per row, the places its
        answer is about (empty: nothing there, so the first token), None where the row is not grounded."""
        weights = attentions[self.layer][:, self.head]                                    # (B, T, T)
        queries, keys = self.targets(input_ids, labels, groundings)                       # (B, T), (B, T)
        if not queries.any():
            return weights.sum() * 0.0
        mass = (weights * keys[:, None, :]).sum(dim=-1)                                   # (B, T)
        return -torch.log(mass[queries].clamp(min=1e-6)).mean()

    def targets(self, input_ids: torch.Tensor, labels: torch.Tensor, groundings: list[tuple[str, ...] | None]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(queries, keys), each (B, T): the positions that predict a grounded answer's tokens (bool), and 1.0
        where they should look (float)."""
        queries = torch.zeros_like(input_ids, dtype=torch.bool)
        keys = torch.zeros_like(input_ids, dtype=torch.float)
        for row, places in enumerate(groundings):
            if places is None:
                continue
            markers = (input_ids[row] == self.marker_id).nonzero().flatten()
            keys[row] = place_keys(markers, places, self.global_tokens, self.cell_of_place, input_ids.shape[1])
            queries[row] = predicts_answer(labels[row], markers)
        return queries, keys


class PlaceReadoutLoss(nn.Module):
    """Cross-entropy of a linear read of one head's output (its attention-weighted values, before the layer's output
    projection), at the positions that predict an answer about one place, against that place. The answer's head
    (GroundingLoss) found the asked object's cell, yet "Where is the green star?" named the wrong place about a
    third of the time, on training scenes as on held-out ones: a linear probe told the place from that head's
    output at the position that writes the place word in 55 % of held-out answers. The cells' values carried what
    the object is, hardly where it is; this loss makes them carry it."""

    def __init__(self, layer: int, head: int, value_dim: int, marker_id: int, places: list[str]):
        """value_dim: the width of one head's values; places: the classes the read names, in order."""
        super().__init__()
        self.layer, self.head, self.value_dim, self.marker_id = layer, head, value_dim, marker_id
        self.places = places
        self.read = nn.Linear(value_dim, len(places))

    def forward(self, head_outputs: dict[int, torch.Tensor], input_ids: torch.Tensor, labels: torch.Tensor,
                groundings: list[tuple[str, ...] | None]) -> torch.Tensor:
        """head_outputs: by layer, every head's output side by side, (B, T, heads * value_dim); input_ids, labels
        (B, T); groundings: as GroundingLoss's (only the rows about exactly one place count)."""
        start = self.head * self.value_dim
        outputs = head_outputs[self.layer][..., start:start + self.value_dim]            # (B, T, value_dim)
        rows, queries, places = self.targets(input_ids, labels, groundings)
        if not len(rows):
            return outputs.sum() * 0.0
        return F.cross_entropy(self.read(outputs[rows, queries]), places.to(outputs.device))

    def targets(self, input_ids: torch.Tensor, labels: torch.Tensor, groundings: list[tuple[str, ...] | None]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, queries, places), each (N,): every position that predicts a token of an answer about one place,
        and the index of that place in self.places."""
        rows, queries, places = [], [], []
        for row, about in enumerate(groundings):
            if about is None or len(about) != 1:
                continue
            markers = (input_ids[row] == self.marker_id).nonzero().flatten()
            for position in predicts_answer(labels[row], markers).nonzero().flatten().tolist():
                rows.append(row)
                queries.append(position)
                places.append(self.places.index(about[0]))
        return torch.tensor(rows, dtype=torch.long), torch.tensor(queries, dtype=torch.long), torch.tensor(places)


def predicts_answer(labels: torch.Tensor, markers: torch.Tensor) -> torch.Tensor:
    """(T,) bool: the positions after the picture (markers: its prefix positions) that predict a token of the
    answer. labels (T,), IGNORE where no loss."""
    predicts = torch.zeros_like(labels, dtype=torch.bool)
    predicts[:-1] = labels[1:] != IGNORE
    predicts[: int(markers[-1]) + 1] = False
    return predicts


class NameLookupLoss(nn.Module):
    """-log of the attention mass that one head puts, from each token of a question that names a colour or a shape
    ("green" in "Is there anything green?"), on the cells of the objects that have it, or on the first token when
    none has. In an early layer such a token's query is little more than the name itself, so the head learns to
    find objects by colour and shape; the answer's head (GroundingLoss) alone learnt shapes but not colours."""

    def __init__(self, layer: int, head: int, marker_id: int, global_tokens: int, cell_of_place: dict[str, int],
                 name_tokens: dict[str, int]):
        """as GroundingLoss; name_tokens: every colour and shape name (both languages) -> the id of its first token
        in a question."""
        super().__init__()
        self.layer, self.head, self.marker_id, self.global_tokens = layer, head, marker_id, global_tokens
        self.cell_of_place, self.name_tokens = cell_of_place, name_tokens

    def forward(self, attentions: dict[int, torch.Tensor], input_ids: torch.Tensor, labels: torch.Tensor,
                names: list[tuple[tuple[str, tuple[str, ...]], ...] | None]) -> torch.Tensor:
        """attentions: by layer, (B, heads, T, T); input_ids, labels (B, T); names: per row, the names its question
        uses with the places of the objects that have each (names_in), None where the row has no picture."""
        return looking_loss(attentions[self.layer][:, self.head], *self.targets(input_ids, labels, names))

    def targets(self, input_ids: torch.Tensor, labels: torch.Tensor,
                names: list[tuple[tuple[str, tuple[str, ...]], ...] | None]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, queries, keys): for each naming token of a question, its row and position (N,), and 1.0 where it
        should look (N, T)."""
        rows, queries, keys = [], [], []
        for row, named in enumerate(names):
            if not named:
                continue
            markers = (input_ids[row] == self.marker_id).nonzero().flatten()
            in_question = labels[row] == IGNORE                                           # (T,) before the answer
            in_question[: int(markers[-1]) + 1] = False
            for name, places in named:
                for position in ((input_ids[row] == self.name_tokens[name]) & in_question).nonzero().flatten():
                    rows.append(row)
                    queries.append(int(position))
                    keys.append(place_keys(markers, places, self.global_tokens, self.cell_of_place,
                                           input_ids.shape[1]))
        return looking_targets(rows, queries, keys, input_ids.device)


class CaptionGroundingLoss(nn.Module):
    """-log of the attention mass that one head puts, from each position that predicts a word of a caption, on the
    cell of the object that word describes. A caption names its objects one phrase at a time, the phrases apart by
    "," or " and" (English) or "，" (Chinese): "A large red circle on the left, a small blue star at the top."
    English names the place last, so the model must keep to one object through the phrase. The positions that
    predict a separator or the caption's end decide whether another object follows; they are left free."""

    def __init__(self, layer: int, head: int, marker_id: int, global_tokens: int, cell_of_place: dict[str, int],
                 separators: set[int], ends: set[int]):
        """as GroundingLoss; separators: the ids of the tokens between two objects' phrases; ends: of the tokens
        that end a caption (its full stop, the end of the answer)."""
        super().__init__()
        self.layer, self.head, self.marker_id, self.global_tokens = layer, head, marker_id, global_tokens
        self.cell_of_place, self.separators, self.ends = cell_of_place, separators, ends

    def forward(self, attentions: dict[int, torch.Tensor], input_ids: torch.Tensor, labels: torch.Tensor,
                described: list[tuple[str, ...] | None]) -> torch.Tensor:
        """attentions: by layer, (B, heads, T, T); input_ids, labels (B, T); described: per row, the place of each
        object its caption names, in order (Exchange.described), None where the answer is not a caption."""
        return looking_loss(attentions[self.layer][:, self.head], *self.targets(input_ids, labels, described))

    def targets(self, input_ids: torch.Tensor, labels: torch.Tensor, described: list[tuple[str, ...] | None]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, queries, keys): for each position that predicts a word of an object's phrase (not a separator),
        its row and position (N,), and 1.0 at that object's cell (N, T)."""
        rows, queries, keys = [], [], []
        for row, places in enumerate(described):
            if not places:
                continue
            markers = (input_ids[row] == self.marker_id).nonzero().flatten()
            answer = labels[row] != IGNORE                                                # (T,)
            answer[: int(markers[-1]) + 1] = False
            phrase = 0
            for position in answer.nonzero().flatten().tolist():
                token = int(input_ids[row, position])
                if token in self.separators:
                    phrase += 1
                    continue
                if token in self.ends or phrase >= len(places):
                    break
                rows.append(row)
                queries.append(position - 1)                         # the position before predicts this token
                keys.append(place_keys(markers, (places[phrase],), self.global_tokens, self.cell_of_place,
                                       input_ids.shape[1]))
        return looking_targets(rows, queries, keys, input_ids.device)


def looking_loss(weights: torch.Tensor, rows: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor
                 ) -> torch.Tensor:
    """-log of the attention mass (weights: one head's, (B, T, T)) that each query (rows, queries: (N,)) puts where
    its keys (N, T) are 1.0, averaged; zero, still attached to the graph, when there is no query."""
    if not len(rows):
        return weights.sum() * 0.0
    mass = (weights[rows, queries] * keys).sum(dim=-1)                                   # (N,)
    return -torch.log(mass.clamp(min=1e-6)).mean()


def looking_targets(rows: list[int], queries: list[int], keys: list[torch.Tensor], device: torch.device
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What looking_loss reads: rows, queries (N,) and keys (N, T) on `device`; empty tensors when N is 0."""
    if not rows:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.tensor(rows), torch.tensor(queries), torch.stack(keys).to(device)


def place_keys(markers: torch.Tensor, places: tuple[str, ...], global_tokens: int, cell_of_place: dict[str, int],
               length: int) -> torch.Tensor:
    """(length,): 1.0 at the picture cells of the places, or at the first token when there are none. markers:
    the positions of the picture's prefix tokens."""
    keys = torch.zeros(length, device=markers.device)
    for place in places:
        keys[markers[global_tokens + cell_of_place[place]]] = 1.0
    if not places:
        keys[0] = 1.0
    return keys


def names_in(question: str, scene: Scene, language: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The colour and shape names a question about the scene uses, each with the places of the objects that have
    it: "Where is the green star?" -> (("green", places of green objects), ("star", places of stars))."""
    found = []
    for key, name in names_of_colours_and_shapes(language):
        pattern = rf"\b{name}\b" if language == "en" else re.escape(name)
        if re.search(pattern, question):
            found.append((name, tuple(o.position for o in scene.objects if key in (o.color, o.shape))))
    return tuple(found)


def names_of_colours_and_shapes(language: str) -> list[tuple[str, str]]:
    """(the world's key, its name in the language) for every colour, then every shape: ("red", "红色")."""
    if language == "en":
        return [(key, key) for key in [*sorted(COLORS), *sorted(SHAPES)]]
    return [(key, COLORS[key][1]) for key in sorted(COLORS)] + [(key, SHAPES[key]) for key in sorted(SHAPES)]


def name_token_ids(tokenizer) -> dict[str, int]:
    """Every colour and shape name, in English and Chinese -> the id of its first token inside a question (English
    words follow a space there)."""
    return ({name: first_token(tokenizer, " " + name) for _, name in names_of_colours_and_shapes("en")}
            | {name: first_token(tokenizer, name) for _, name in names_of_colours_and_shapes("zh")})


def cells_of_places(bridge_config) -> dict[str, int]:
    """Each place -> the bridge cell that holds it (cell_weights)."""
    cells = cell_weights(bridge_config)
    return {region: int(row.argmax()) for region, row in zip(REGIONS, cells)}


def grounding_loss(bridge_config, marker_id: int, layer: int, head: int) -> GroundingLoss:
    return GroundingLoss(layer, head, marker_id, bridge_config.image_global_tokens, cells_of_places(bridge_config))


def name_lookup_loss(bridge_config, marker_id: int, layer: int, head: int, tokenizer) -> NameLookupLoss:
    return NameLookupLoss(layer, head, marker_id, bridge_config.image_global_tokens, cells_of_places(bridge_config),
                          name_token_ids(tokenizer))


def first_token(tokenizer, text: str) -> int:
    """The id of the text's first token, as the text is tokenised inside a longer one (no special tokens)."""
    return tokenizer.encode(text, add_special_tokens=False)[0]


def place_readout_loss(marker_id: int, layer: int, head: int, value_dim: int) -> PlaceReadoutLoss:
    return PlaceReadoutLoss(layer, head, value_dim, marker_id, REGIONS)


def caption_grounding_loss(bridge_config, marker_id: int, layer: int, head: int, tokenizer) -> CaptionGroundingLoss:
    separators = {first_token(tokenizer, text) for text in (",", " and", "，")}
    ends = {first_token(tokenizer, text) for text in (".", "。")} | {tokenizer.eos_token_id}
    return CaptionGroundingLoss(layer, head, marker_id, bridge_config.image_global_tokens,
                                cells_of_places(bridge_config), separators, ends)
