"""The encoders stage's step: a gradient above its phase's limit is scaled down to it, in the same direction."""
from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn

from modules.training.train_encoders import gradient_norm_clipped


def model_with_gradient(scale: float) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    (scale * model(torch.randn(16, 8)).square().sum()).backward()
    return model


def gradient(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_a_spiking_gradient_is_scaled_down_to_the_limit_and_its_norm_is_reported():
    model = model_with_gradient(1000.0)
    before = gradient(model).clone()
    norm = gradient_norm_clipped(model, 1.0, Accelerator(cpu=True))
    after = gradient(model)
    assert abs(norm - before.norm().item()) < 1e-3 * norm and norm > 100
    assert abs(after.norm().item() - 1.0) < 1e-4
    assert torch.allclose(after / after.norm(), before / before.norm(), atol=1e-6)


def test_a_gradient_under_the_limit_or_with_no_limit_is_left_as_it_is():
    for limit, scale in ((1.0, 1e-4), (None, 1000.0)):
        model = model_with_gradient(scale)
        before = gradient(model).clone()
        norm = gradient_norm_clipped(model, limit, Accelerator(cpu=True))
        assert torch.equal(gradient(model), before)
        assert abs(norm - before.norm().item()) < 1e-3 * max(norm, 1e-6)
