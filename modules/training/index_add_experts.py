"""The routed experts' forward used to train on a CPU: grouped_mm's arithmetic, gathering and scattering with
index_select and index_add, whose backwards are cheap on a CPU (advanced indexing's backward is an accumulating
index_put, 9 % of a grounding step's CPU time)."""
from __future__ import annotations

import torch
from transformers import PreTrainedModel
from transformers.integrations.moe import ALL_EXPERTS_FUNCTIONS, _grouped_linear

NAME = "index_add"


def index_add_experts_forward(experts: torch.nn.Module, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                              top_k_weights: torch.Tensor) -> torch.Tensor:
    """hidden_states (T, H); top_k_index, top_k_weights (T, k) -> (T, H): the sum over each token's chosen experts
    of their output times their weight, as transformers' grouped_mm computes it."""
    k = top_k_index.shape[-1]
    expert_of_pair, order = torch.sort(top_k_index.reshape(-1))                # (T*k,) pairs grouped by expert
    token_of_pair = order // k
    rows = hidden_states.index_select(0, token_of_pair)                        # (T*k, H)
    counts = torch.histc(expert_of_pair.float(), bins=experts.num_experts, min=0, max=experts.num_experts - 1)
    offsets = torch.cumsum(counts, dim=0, dtype=torch.int32)                   # (E,) end of each expert's rows
    gated = experts._apply_gate(_grouped_linear(rows, experts.gate_up_proj, offsets,
                                                is_transposed=experts.is_transposed))   # (T*k, I)
    out = _grouped_linear(gated, experts.down_proj, offsets, is_transposed=experts.is_transposed)   # (T*k, H)
    weighted = out * top_k_weights.reshape(-1).index_select(0, order).unsqueeze(-1)
    summed = torch.zeros(hidden_states.shape, dtype=weighted.dtype, device=weighted.device)
    return summed.index_add(0, token_of_pair, weighted).to(hidden_states.dtype)


def use_index_add_experts(model: PreTrainedModel) -> None:
    """Make the model's routed experts run index_add_experts_forward (set_experts_implementation("grouped_mm")
    goes back). Only for experts without biases or post-expert norms, with a gate: DeepSeek-V3's."""
    ALL_EXPERTS_FUNCTIONS.register(NAME, index_add_experts_forward)
    model.set_experts_implementation(NAME)
