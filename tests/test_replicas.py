"""The check that data-parallel processes end a stage with the same weights: what its checksum notices."""
import torch
from torch import nn

from modules.training.replicas import weights_checksum


def test_the_checksum_changes_when_a_weight_changes_or_two_parameters_swap_values():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    before = weights_checksum(model)
    assert torch.equal(weights_checksum(model), before)
    with torch.no_grad():
        model[0].weight[0, 0] += 1e-3
    nudged = weights_checksum(model)
    assert not torch.equal(nudged, before)
    with torch.no_grad():
        first, second = model[0].weight.clone(), model[1].weight.clone()
        model[0].weight.copy_(second)
        model[1].weight.copy_(first)
    assert not torch.equal(weights_checksum(model), nudged)
