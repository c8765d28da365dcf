"""Records which routed experts fire in each MoE layer (router hooks) and nudges the balancing bias."""
from __future__ import annotations

import torch
from torch import nn


def moe_gates(model: nn.Module) -> dict[int, nn.Module]:
    """layer index -> the router module of every MoE layer (DeepSeek-V3 style: `mlp.gate` with a correction bias)."""
    gates = {}
    for index, layer in enumerate(model.model.layers):
        gate = getattr(getattr(layer, "mlp", None), "gate", None)
        if gate is not None and hasattr(gate, "e_score_correction_bias"):
            gates[index] = gate
    return gates


class ExpertRecorder:
    """While attached, keeps the top-k expert ids chosen for every token that passes each MoE layer."""

    def __init__(self, model: nn.Module):
        self.gates = moe_gates(model)
        self.calls: dict[int, list[torch.Tensor]] = {i: [] for i in self.gates}   # each (tokens, k)
        self._handles = []

    def __enter__(self) -> "ExpertRecorder":
        for index, gate in self.gates.items():
            self._handles.append(gate.register_forward_hook(self._hook(index)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, index: int):
        def record(_module, _inputs, output):
            _logits, _weights, topk_indices = output
            self.calls[index].append(topk_indices.detach().cpu())
        return record

    def clear(self) -> None:
        for calls in self.calls.values():
            calls.clear()

    def load(self, num_experts: int) -> torch.Tensor:
        """(layers, experts) counts of tokens routed to each expert since the last clear."""
        rows = []
        for index in sorted(self.calls):
            ids = torch.cat(self.calls[index]).flatten() if self.calls[index] else torch.zeros(0, dtype=torch.long)
            rows.append(torch.bincount(ids, minlength=num_experts))
        return torch.stack(rows) if rows else torch.zeros(0, num_experts, dtype=torch.long)


@torch.no_grad()
def update_balancing_bias(recorder: ExpertRecorder, num_experts: int, rate: float) -> None:
    """Auxiliary-loss-free balancing: raise the bias of under-used experts, lower it for busy ones."""
    load = recorder.load(num_experts).float()                                  # (layers, experts)
    for row, index in enumerate(sorted(recorder.gates)):
        gate = recorder.gates[index]
        error = load[row].mean() - load[row]
        gate.e_score_correction_bias += rate * torch.sign(error).to(gate.e_score_correction_bias.device)
