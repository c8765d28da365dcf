"""The models bench/decode.py times: the built-in language model as the studio loads it, or a randomly initialised
DeepSeek-V3 model of a named shape (small for a CPU; Moonlight-16B-A3B and DeepSeek-V2-Lite dimensions for a GPU)."""
from __future__ import annotations

from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = ROOT / "assets" / "mini" / "language_model"

# DeepseekV3Config fields of each randomly initialised shape. DeepSeek-V2-Lite's dimensions are built as a DeepSeek-V3
# model (sigmoid router with a balancing bias instead of V2's softmax one): the same weights per token are read.
SHAPES: dict[str, dict] = {
    "small": dict(vocab_size=4096, hidden_size=128, intermediate_size=384, moe_intermediate_size=128,
                  num_hidden_layers=4, first_k_dense_replace=1, num_attention_heads=4, num_key_value_heads=4,
                  n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=1, n_group=1, topk_group=1,
                  q_lora_rank=64, kv_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32,
                  max_position_embeddings=512),
    "moonlight": dict(vocab_size=163840, hidden_size=2048, intermediate_size=11264, moe_intermediate_size=1408,
                      num_hidden_layers=27, first_k_dense_replace=1, num_attention_heads=16, num_key_value_heads=16,
                      n_routed_experts=64, num_experts_per_tok=6, n_shared_experts=2, n_group=1, topk_group=1,
                      q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                      routed_scaling_factor=2.446, max_position_embeddings=8192),
    "deepseek-v2-lite": dict(vocab_size=102400, hidden_size=2048, intermediate_size=10944, moe_intermediate_size=1408,
                             num_hidden_layers=27, first_k_dense_replace=1, num_attention_heads=16,
                             num_key_value_heads=16, n_routed_experts=64, num_experts_per_tok=6, n_shared_experts=2,
                             n_group=1, topk_group=1, q_lora_rank=None, kv_lora_rank=512, qk_nope_head_dim=128,
                             qk_rope_head_dim=64, v_head_dim=128, routed_scaling_factor=1.0,
                             max_position_embeddings=8192),
}
CHOICES = ("builtin", *SHAPES)
GPU_ONLY = ("moonlight", "deepseek-v2-lite")


def check_shape(name: str, device: str) -> None:
    """ValueError naming the valid shapes, or saying that a large shape needs a GPU."""
    if name not in CHOICES:
        raise ValueError(f"unknown shape {name!r}; valid choices: {', '.join(CHOICES)}")
    if name in GPU_ONLY and device != "cuda":
        raise ValueError(f"shape {name!r} is for a GPU (--device cuda --dtype bfloat16); on the CPU run "
                         f"builtin or small")


def build(name: str, device: str, dtype: torch.dtype, experts_implementation: str = "grouped_mm"):
    """(model in eval mode, prompt ids (1, T) or None to draw them, tokenizer or None) for a shape."""
    check_shape(name, device)
    if name == "builtin":
        from modules.language_model import LanguageModel

        language_model = LanguageModel.load(str(BUILTIN), torch.device(device), dtype,
                                            experts_implementation=experts_implementation)
        return language_model.model, language_model
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    config = DeepseekV3Config(**SHAPES[name], pad_token_id=0, bos_token_id=1, eos_token_id=2)
    config._experts_implementation_internal = experts_implementation
    torch.manual_seed(0)
    with torch.device(device):
        model = DeepseekV3ForCausalLM._from_config(config, dtype=dtype)
    return model.eval(), None


def prompt_ids(language_model, vocab: int, length: int) -> list[int]:
    """The built-in model's chat prompt for a question; else `length` fixed ids for a random model."""
    if language_model is not None:
        return language_model.prompt_ids([{"role": "user", "content": "What is in a picture of a red star?"}],
                                         None, 0)
    generator = torch.Generator().manual_seed(0)
    return torch.randint(3, vocab, (length,), generator=generator).tolist()


def active_weight_bytes(model) -> int:
    """Bytes of weights one token reads at batch 1: everything but the routed experts, and k of n of those."""
    from modules.moe_trace import ExpertRecorder, experts_per_token, parameter_counts, routed_experts

    recorder = ExpertRecorder(model)
    n, k = recorder.experts_count or routed_experts(model.config), recorder.top_k or experts_per_token(model.config)
    _, active = parameter_counts(model, recorder, n, k)
    return active * next(model.parameters()).element_size()
