"""Records which routed experts fire in each MoE layer (router hooks) and nudges the balancing bias.

Where the routed experts chosen per token become visible, per family (transformers 5.24; no model code changed):

    family         MoE block of layer i               router           router output               experts config key
    DeepSeek-V3    layers[i].mlp (after dense layers)  mlp.gate         (logits, weights, ids)      n_routed_experts
    DeepSeek-V2    layers[i].mlp (after dense layers)  mlp.gate         (logits, weights, ids)      n_routed_experts
    Qwen2-MoE      layers[i].mlp (sparse steps)        mlp.gate         (logits, weights, ids)      num_experts
    Mixtral        layers[i].mlp                       mlp.gate         (logits, weights, ids)      num_local_experts
    GraniteMoE     layers[i].block_sparse_moe          .router          (logits, weights, ids)      num_local_experts
    Qwen3-VL-MoE   model.language_model.layers[i].mlp  mlp.gate       (logits, weights, ids)      text_config.num_experts
    Qwen3-Omni     thinker.model.layers[i].mlp         mlp.gate         (logits, weights, ids)      thinker text_config
    Gemma 4 MoE    model.language_model.layers[i]      layer.router     (probs, weights, ids)       text num_experts
    DeepSeek-V2 remote code (trust_remote_code): mlp.gate = MoEGate -> (ids, weights, aux_loss)

MoE blocks are found by walking the model's modules, not by a list of names per model: a block is any module
holding an `experts` module beside a router (a child named `gate` or `router`), and its layer is the number after
the last `layers.` in its name. The ids are the router output's integer tensor, (tokens, k) with tokens = batch ×
sequence flattened. The counts come from the modules where they say them (`experts.num_experts`, `router.top_k`),
else from the config (nested configs such as Qwen3-Omni's thinker_config.text_config included). k is
`num_experts_per_tok` in every family but Gemma 4, whose config says `top_k_experts`; a router without a `top_k`
says k through the config it holds (Gemma 4's decoder layer is its own MoE block: `.router` beside `.experts`).
Only DeepSeek-V3 routers carry `e_score_correction_bias` (auxiliary-loss-free balancing); the others balance
through an auxiliary loss in training and have no bias to nudge.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)
ROUTER_NAMES = ("gate", "router")                    # DeepSeek, Qwen2-MoE, Mixtral | GraniteMoE, Gemma 4
EXPERTS_KEYS = ("n_routed_experts", "num_local_experts", "num_experts")   # DeepSeek | Mixtral, Granite | Qwen2-MoE
TOP_K_KEYS = ("num_experts_per_tok", "top_k_experts")                   # every family above | Gemma 4


TEXT_CONFIGS = ("thinker_config", "text_config")     # where a multimodal config keeps its language model's settings
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")


def text_config(config):
    """The config that holds the language model's settings: the config itself, or its thinker's / text part's
    (Qwen3-Omni: thinker_config.text_config; Qwen3-VL-MoE: text_config)."""
    for key in TEXT_CONFIGS:
        inner = getattr(config, key, None)
        if inner is not None and not isinstance(inner, dict):
            return text_config(inner)
    return config


def _first_count(config, keys: tuple[str, ...]) -> int:
    """The first of `keys` that the language model's config sets to a non-zero count; 0 when none does."""
    config = text_config(config)
    for key in keys:
        value = getattr(config, key, None)
        if value:
            return int(value)
    return 0


def routed_experts(config) -> int:
    """Routed experts per MoE layer, read from whichever key the family's config uses (0 for a dense model)."""
    return _first_count(config, EXPERTS_KEYS)


def experts_per_token(config) -> int:
    """k: routed experts each token goes to, read from whichever key the family's config uses (0 for a dense
    model)."""
    return _first_count(config, TOP_K_KEYS)


def _router(block: nn.Module) -> nn.Module | None:
    for name in ROUTER_NAMES:
        router = getattr(block, name, None)
        if isinstance(router, nn.Module):
            return router
    return None


def is_moe_block(module: nn.Module) -> bool:
    """A module holding routed experts beside the router that picks them."""
    return isinstance(getattr(module, "experts", None), nn.Module) and _router(module) is not None


def layer_number(name: str) -> int | None:
    """'model.layers.3.mlp' -> 3: the number after the last `layers.` of a module's name; None without one."""
    found = _LAYER.findall(name)
    return int(found[-1]) if found else None


def moe_blocks(model: nn.Module) -> dict[int, nn.Module]:
    """layer index -> the MoE block of every MoE layer, found by walking the model's modules in order. A block
    outside any `layers.N` takes the next free index. Where two stacks number their layers alike, the first one
    walked keeps each index (pass the module that holds the language model, e.g. Qwen3-Omni's thinker)."""
    blocks: dict[int, nn.Module] = {}
    inside: set[str] = set()                          # blocks already taken: their own children are not walked
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside) or not is_moe_block(module):
            continue
        inside.add(name)
        index = layer_number(name)
        if index is None:
            index = max(blocks, default=-1) + 1
        blocks.setdefault(index, module)
    return dict(sorted(blocks.items()))


def block_experts(block: nn.Module) -> int:
    """Routed experts of one block: `experts.num_experts` (fused experts), the length of a ModuleList of experts,
    or the router's `num_experts`; 0 when none of them says."""
    for owner in (block.experts, _router(block)):
        value = getattr(owner, "num_experts", None)
        if isinstance(value, int) and value > 0:
            return value
    return len(block.experts) if isinstance(block.experts, nn.ModuleList) else 0


def block_top_k(block: nn.Module) -> int:
    """k of one block as its router or the block says it (`top_k`), else as the config either holds says it
    (Gemma 4's router keeps only its `config`); 0 when none does."""
    owners = (_router(block), block)
    for owner in owners:
        value = getattr(owner, "top_k", None)
        if isinstance(value, int) and value > 0:
            return value
    for owner in owners:
        config = getattr(owner, "config", None)
        k = experts_per_token(config) if config is not None and not isinstance(config, dict) else 0
        if k > 0:
            return k
    return 0


def moe_gates(model: nn.Module) -> dict[int, nn.Module]:
    """layer index -> the router module of every MoE layer."""
    return {index: _router(block) for index, block in moe_blocks(model).items()}


def topk_ids(output) -> torch.Tensor | None:
    """A router's output -> its top-k expert ids (tokens, k): the integer tensor among the outputs; None if none."""
    for value in output if isinstance(output, (tuple, list)) else (output,):
        if isinstance(value, torch.Tensor) and value.dim() == 2 and value.dtype in (torch.int64, torch.int32):
            return value
    return None


class ExpertRecorder:
    """While attached, keeps the top-k expert ids chosen for every token that passes each MoE layer."""

    def __init__(self, model: nn.Module):
        blocks = moe_blocks(model)
        self.gates = {index: _router(block) for index, block in blocks.items()}       # the hooked routers
        self.experts = {index: block.experts for index, block in blocks.items()}      # their routed experts
        self.experts_count = max((block_experts(b) for b in blocks.values()), default=0)   # n per layer
        self.top_k = max((block_top_k(b) for b in blocks.values()), default=0)             # k per token
        self.calls: dict[int, list[torch.Tensor]] = {i: [] for i in self.gates}       # each (tokens, k)
        self._handles = []
        self._warned = False

    @property
    def has_balancing_bias(self) -> bool:
        """True when every router carries DeepSeek-V3's e_score_correction_bias (update_balancing_bias applies)."""
        return bool(self.gates) and all(hasattr(g, "e_score_correction_bias") for g in self.gates.values())

    def __enter__(self) -> "ExpertRecorder":
        for index, gate in self.gates.items():
            self._handles.append(gate.register_forward_hook(self._hook(index)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, index: int):
        def record(module, _inputs, output):
            ids = topk_ids(output)
            if ids is not None:
                self.calls[index].append(ids.detach().cpu())
            elif not self._warned:                # an unknown router: no trace, but the answer goes on
                self._warned = True
                log.warning("router %s of layer %d returned no (tokens, k) integer ids; experts are not traced",
                            type(module).__name__, index)
        return record

    def clear(self) -> None:
        for calls in self.calls.values():
            calls.clear()

    def load(self, num_experts: int, token_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(layers, experts) counts of tokens routed to each expert since the last clear.

        token_mask: (tokens,) bool over the recorded tokens of each layer; only True tokens count (padding is
        routed like any token, but balancing it would skew the experts that real text uses)."""
        rows = []
        for index in sorted(self.calls):
            ids = torch.cat(self.calls[index]) if self.calls[index] else torch.zeros(0, 1, dtype=torch.long)  # (N, k)
            if token_mask is not None:
                ids = ids[token_mask.flatten().cpu()]
            rows.append(torch.bincount(ids.flatten().long(), minlength=num_experts))
        return torch.stack(rows) if rows else torch.zeros(0, num_experts, dtype=torch.long)


def parameter_counts(model: nn.Module, recorder: ExpertRecorder, num_experts: int, k: int) -> tuple[int, int]:
    """(total, active per token) of `model`: each traced layer's routed experts count k of n toward the active
    share; everything else (attention, shared experts, towers that read pictures and sounds) counts whole."""
    total = sum(p.numel() for p in model.parameters())
    idle = 0
    for experts in recorder.experts.values():
        routed = sum(p.numel() for p in experts.parameters())
        idle += routed * (num_experts - k) // max(1, num_experts)
    return total, total - idle


@torch.no_grad()
def update_balancing_bias(recorder: ExpertRecorder, num_experts: int, rate: float,
                          token_mask: torch.Tensor | None = None,
                          total: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
    """Auxiliary-loss-free balancing: raise the bias of under-used experts, lower it for busy ones.
    total: the load summed over data-parallel processes (e.g. accelerator.reduce(load, "sum")), so that every
    process moves its biases alike. Only DeepSeek-V3-style routers have the bias; for any other family this raises
    ValueError saying so."""
    if not recorder.has_balancing_bias:
        kinds = sorted({type(g).__name__ for g in recorder.gates.values()}) or ["no MoE layers"]
        raise ValueError(f"Bias-based expert balancing needs DeepSeek-V3-style routers with an "
                         f"e_score_correction_bias; this model's routers ({', '.join(kinds)}) have none. Such "
                         f"families balance their experts with an auxiliary loss (router_aux_loss_coef) instead.")
    load = recorder.load(num_experts, token_mask).float()                      # (layers, experts)
    if total is not None:
        load = total(load)
    for row, index in enumerate(sorted(recorder.gates)):
        gate = recorder.gates[index]
        error = load[row].mean() - load[row]
        gate.e_score_correction_bias += rate * torch.sign(error).to(gate.e_score_correction_bias.device)
