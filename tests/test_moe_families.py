"""Expert traces, expert load and total/active parameters on tiny random models of every MoE family a profile may
run: DeepSeek-V3 (mini), DeepSeek-V2 (hub-gpu: DeepSeek-V2-Lite), GraniteMoE (hub-cpu), Qwen2-MoE, Mixtral and
Gemma 4's text model (its decoder layer is the MoE block; k is its config's top_k_experts, its router has no top_k)."""
import pytest
import torch
from transformers import (DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM,
                          Gemma4ForCausalLM, Gemma4TextConfig, GraniteMoeConfig, GraniteMoeForCausalLM, MixtralConfig,
                          MixtralForCausalLM, Qwen2MoeConfig, Qwen2MoeForCausalLM)

from modules.contracts import GenerationSettings
from modules.language_model import GenerationStats, LanguageModel
from modules.moe_trace import ExpertRecorder, update_balancing_bias
from modules.trace import expert_load
from modules.training.corpus import tokenizer_corpus
from modules.training.tokenizer import train_tokenizer

SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
             max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=0)
MLA = dict(kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8)

# family -> (build(vocab) -> model, routed experts n, experts per token k, MoE layer indices). Each family gets an
# n and k unlike its config's defaults, so a count read from the wrong key shows.
FAMILIES = {
    "deepseek_v3": (lambda v: DeepseekV3ForCausalLM(DeepseekV3Config(
        vocab_size=v, **SMALL, **MLA, moe_intermediate_size=16, n_routed_experts=6, num_experts_per_tok=3,
        n_group=1, topk_group=1, first_k_dense_replace=1)), 6, 3, [1, 2]),
    "deepseek_v2": (lambda v: DeepseekV2ForCausalLM(DeepseekV2Config(
        vocab_size=v, **SMALL, **MLA, moe_intermediate_size=16, n_routed_experts=6, num_experts_per_tok=3,
        n_shared_experts=1, first_k_dense_replace=1, topk_method="greedy")), 6, 3, [1, 2]),
    "deepseek_v2_grouped": (lambda v: DeepseekV2ForCausalLM(DeepseekV2Config(
        vocab_size=v, **SMALL, **MLA, moe_intermediate_size=16, n_routed_experts=8, num_experts_per_tok=3,
        n_shared_experts=1, first_k_dense_replace=2, topk_method="group_limited_greedy", n_group=4, topk_group=2)),
        8, 3, [2]),
    "granitemoe": (lambda v: GraniteMoeForCausalLM(GraniteMoeConfig(
        vocab_size=v, **SMALL, num_local_experts=5, num_experts_per_tok=3)), 5, 3, [0, 1, 2]),
    "qwen2_moe": (lambda v: Qwen2MoeForCausalLM(Qwen2MoeConfig(
        vocab_size=v, **SMALL, moe_intermediate_size=16, shared_expert_intermediate_size=32, num_experts=7,
        num_experts_per_tok=2, mlp_only_layers=[1])), 7, 2, [0, 2]),
    "mixtral": (lambda v: MixtralForCausalLM(MixtralConfig(
        vocab_size=v, **SMALL, num_local_experts=5, num_experts_per_tok=1)), 5, 1, [0, 1, 2]),
    "gemma4_text": (lambda v: Gemma4ForCausalLM(Gemma4TextConfig(
        vocab_size=v, **SMALL, head_dim=16, global_head_dim=16, hidden_size_per_layer_input=0,
        vocab_size_per_layer_input=v, layer_types=["sliding_attention"] * 2 + ["full_attention"],
        enable_moe_block=True, moe_intermediate_size=16, num_experts=6, top_k_experts=3)), 6, 3, [0, 1, 2]),
}


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(tokenizer_corpus(0, 200), 400, 128)


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tokenizer):
    build, n, k, layers = FAMILIES[request.param]
    torch.manual_seed(0)
    model = build(len(tokenizer)).eval()
    with torch.no_grad():
        model.lm_head.weight[2] = 0.0           # <eos> scores 0, below the best token: answers run to the cap
    return request.param, LanguageModel(model, tokenizer, torch.device("cpu")), n, k, layers


def test_config_keys_give_the_moe_layers_and_expert_count(family):
    name, lm, n, k, layers = family
    assert lm.moe_layers == layers, name
    assert lm.num_experts == n, name


def test_each_generated_token_records_k_distinct_experts_per_moe_layer(family):
    name, lm, n, k, layers = family
    stats = GenerationStats()
    list(lm.stream([{"role": "user", "content": "hello"}], GenerationSettings(max_new_tokens=6), stats))
    assert stats.answer_tokens == 6 and len(stats.experts) == 6, name
    for per_token in stats.experts:
        assert len(per_token) == len(layers)
        for ids in per_token:
            assert len(ids) == k and len(set(ids)) == k and all(0 <= e < n for e in ids), (name, per_token)
    load = expert_load(stats.experts, len(layers), n)                   # what the Inspector's bar chart shows
    assert [sum(row) for row in load] == [6 * k] * len(layers), name


def test_load_over_a_batch_counts_every_token_k_times(family):
    name, lm, n, k, layers = family
    ids = torch.randint(3, len(lm.tokenizer), (2, 5), generator=torch.Generator().manual_seed(1))
    recorder = ExpertRecorder(lm.model)
    with torch.inference_mode(), recorder:
        lm.model(input_ids=ids)
    load = recorder.load(n)
    assert load.shape == (len(layers), n) and load.sum(dim=1).tolist() == [2 * 5 * k] * len(layers), name
    with torch.inference_mode():                                        # hooks are gone once the recorder exits
        lm.model(input_ids=ids)
    assert recorder.load(n).sum() == load.sum()


def test_active_parameters_leave_out_the_idle_routed_experts(family):
    name, lm, n, k, layers = family
    total, active = lm.parameter_counts()
    assert total == sum(p.numel() for p in lm.model.parameters())
    idle = 0
    for module in lm.model.modules():                                   # every fused routed-experts module
        if hasattr(module, "gate_up_proj") and getattr(module, "num_experts", None) == n:
            one_expert = module.gate_up_proj[0].numel() + module.down_proj[0].numel()
            idle += (n - k) * one_expert
    assert idle > 0 and active == total - idle and active < total, name


def test_balancing_bias_moves_only_deepseek_v3_routers(family):
    name, lm, n, k, layers = family
    recorder = ExpertRecorder(lm.model)
    for index in layers:
        recorder.calls[index] = [torch.tensor([list(range(k))] * 10)]  # the first k experts took every token
    if name != "deepseek_v3":
        assert not recorder.has_balancing_bias
        with pytest.raises(ValueError, match="e_score_correction_bias"):
            update_balancing_bias(recorder, n, rate=0.01)
        return
    gate = recorder.gates[layers[0]]
    before = gate.e_score_correction_bias.clone()
    update_balancing_bias(recorder, n, rate=0.01)
    change = gate.e_score_correction_bias - before
    assert (change[:k] < 0).all() and (change[k:] > 0).all()
    gate.e_score_correction_bias.copy_(before)
