"""Training's index_add experts give the DeepSeek-V3 model the same loss and gradients as transformers' grouped_mm."""
import torch
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

from modules.training.index_add_experts import use_index_add_experts


def tiny_moe() -> DeepseekV3ForCausalLM:
    torch.manual_seed(0)
    config = DeepseekV3Config(vocab_size=97, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                              num_hidden_layers=2, first_k_dense_replace=0, n_routed_experts=6, num_experts_per_tok=2,
                              n_shared_experts=1, n_group=1, topk_group=1, num_attention_heads=2,
                              num_key_value_heads=2, kv_lora_rank=16, q_lora_rank=24, qk_rope_head_dim=8,
                              qk_nope_head_dim=8, v_head_dim=8, max_position_embeddings=64)
    return DeepseekV3ForCausalLM(config).train()


def loss_and_gradients(model, ids):
    model.zero_grad()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_index_add_experts_train_exactly_as_grouped_mm():
    model = tiny_moe()
    ids = torch.randint(0, 97, (3, 40), generator=torch.Generator().manual_seed(1))
    model.set_experts_implementation("grouped_mm")
    loss, gradients = loss_and_gradients(model, ids)
    use_index_add_experts(model)
    assert model.config._experts_implementation == "index_add"
    loss_after, gradients_after = loss_and_gradients(model, ids)
    assert abs(loss - loss_after) < 1e-6
    assert gradients.keys() == gradients_after.keys()
    assert any("experts" in name for name in gradients)
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradients_after[name], gradient, rtol=1e-5, atol=1e-6, msg=name)
    model.set_experts_implementation("grouped_mm")
    assert model.config._experts_implementation == "grouped_mm"
