"""Grounding: one attention head of the language model learns to look, from the words of an answer, at the picture
cells of the objects the question is about, or at the first token when no such object is there."""
from __future__ import annotations

import torch
from torch import nn

from .attribute_heads import REGIONS, cell_weights
from .lm_data import IGNORE


class GroundingLoss(nn.Module):
    """-log of the attention mass that one head (layer, head) of the language model puts on the right keys, averaged
    over the positions that predict a grounded answer's tokens. Without it the model found objects by place (a
    question naming the place: 39 of 40 right) but not by what they are (questions naming a colour or a shape: 23
    to 30 of 40, after 400 more steps with four times as many of them: the same)."""

    def __init__(self, layer: int, head: int, marker_id: int, global_tokens: int, cells: torch.Tensor):
        """cells (regions, cells²): the bridge cell of each place (cell_weights); global_tokens: the picture
        prefix tokens before the cells."""
        super().__init__()
        self.layer, self.head, self.marker_id, self.global_tokens = layer, head, marker_id, global_tokens
        self.cell_of_place = {region: int(row.argmax()) for region, row in zip(REGIONS, cells)}

    def forward(self, attentions: tuple[torch.Tensor, ...], input_ids: torch.Tensor, labels: torch.Tensor,
                groundings: list[tuple[str, ...] | None]) -> torch.Tensor:
        """attentions: per layer (B, heads, T, T); input_ids, labels (B, T); groundings: per row, the places its
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
            for place in places:
                keys[row, markers[self.global_tokens + self.cell_of_place[place]]] = 1.0
            if not places:
                keys[row, 0] = 1.0
            predicts_answer = torch.zeros_like(queries[row])
            predicts_answer[:-1] = labels[row, 1:] != IGNORE
            predicts_answer[: int(markers[-1]) + 1] = False
            queries[row] = predicts_answer
        return queries, keys


def grounding_loss(bridge_config, marker_id: int, layer: int, head: int) -> GroundingLoss:
    cells = cell_weights(bridge_config.image_grid, bridge_config.image_pool_margin, bridge_config.image_pool)
    return GroundingLoss(layer, head, marker_id, bridge_config.image_global_tokens, cells)
