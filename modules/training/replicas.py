"""After a data-parallel stage, a check that every process ends with the same weights (one gather of checksums)."""
from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn


def weights_checksum(module: nn.Module) -> torch.Tensor:
    """(1,) float64: a sum over every parameter, each weighted by its position, so swapped values also change it."""
    total = torch.zeros(1, dtype=torch.float64)
    for k, parameter in enumerate(module.parameters()):
        total += (k + 1) * parameter.detach().double().sum().cpu()
    return total


def check_replicas_agree(accelerator: Accelerator, module: nn.Module, stage: str) -> None:
    """Raise if the processes hold different weights: a part trained outside the data-parallel wrapper, whose
    gradients were never averaged. A single process has nothing to compare."""
    if accelerator.num_processes == 1:
        return
    sums = accelerator.gather(weights_checksum(accelerator.unwrap_model(module)).to(accelerator.device)).cpu()
    if not torch.allclose(sums, sums[0].expand_as(sums), rtol=1e-6, atol=0.0):
        raise RuntimeError(f"{stage}: the {accelerator.num_processes} processes ended with different weights "
                           f"(checksums {sums.tolist()}); some parameters were trained outside the wrapped model")
