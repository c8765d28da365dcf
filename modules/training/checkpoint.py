"""Resumable training checkpoints in safetensors: module weights, AdamW moments and the step, never pickle."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def _flatten(modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"model/{name}/{key}"] = value.detach().cpu().clone()  # tied weights share storage
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, param in enumerate(params):
        for key, value in optimizer.state.get(param, {}).items():
            tensors[f"optim/{i}/{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
    return tensors


def save_checkpoint(path: str | Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer,
                    step: int, extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    tensors = _flatten(modules, optimizer)
    for key, value in (extra or {}).items():
        tensors[f"extra/{key}"] = value.detach().contiguous().cpu()
    tmp = Path(str(path) + ".tmp")
    save_file(tensors, str(tmp), metadata={"step": str(step)})
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer
                    ) -> tuple[int, dict[str, torch.Tensor]]:
    """Restore modules and optimizer in place; returns (step, extra tensors)."""
    from safetensors import safe_open
    with safe_open(str(path), "pt") as handle:
        step = int(handle.metadata()["step"])
    tensors = load_file(str(path))
    for name, module in modules.items():
        prefix = f"model/{name}/"
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, param in enumerate(params):
        state = {k.split("/", 2)[2]: v for k, v in tensors.items() if k.startswith(f"optim/{i}/")}
        if state:
            optimizer.state[param] = state
    extra = {k[len("extra/"):]: v for k, v in tensors.items() if k.startswith("extra/")}
    return step, extra


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(progress * 3.14159265)).item()))
