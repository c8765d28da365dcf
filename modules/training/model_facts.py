"""The studio's own facts (experts, layers, parameters) read from a DeepSeek-V3 language model's configuration:
the model is built on the meta device and counted, so the numbers are those of the real model."""
from __future__ import annotations

import functools

import torch
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

from ..world.studio import StudioFacts
from .suite_config import LanguageStage, SuiteConfig


def facts_of_config(config: DeepseekV3Config) -> StudioFacts:
    """Counts every parameter of the model the config makes (tied embeddings once) and, per token, the routed
    experts' share only top-k of n: what the Inspector's LanguageModel.parameter_counts reports."""
    with torch.device("meta"):
        model = DeepseekV3ForCausalLM(config)
    total = sum(p.numel() for p in model.parameters())
    n, k = config.n_routed_experts, config.num_experts_per_tok
    idle = 0
    for layer in model.model.layers[config.first_k_dense_replace:]:
        routed = sum(p.numel() for p in layer.mlp.experts.parameters())
        idle += routed * (n - k) // n
    return StudioFacts(routed_experts=n, shared_experts=config.n_shared_experts, experts_per_token=k,
                       layers=config.num_hidden_layers, dense_layers=config.first_k_dense_replace,
                       total_parameters=total, active_parameters=total - idle)


class _VocabularyOfSize:
    """Stands in for a tokenizer where only its size and special ids matter to the config."""

    def __init__(self, size: int):
        self.size, self.bos_token_id, self.eos_token_id, self.pad_token_id = size, 1, 2, 0

    def __len__(self) -> int:
        return self.size


@functools.lru_cache(maxsize=8)
def stage_facts(stage: LanguageStage = LanguageStage(), vocab_size: int = SuiteConfig().vocab_size) -> StudioFacts:
    """The facts of the model the recipe trains from this stage, with a tokenizer of vocab_size tokens."""
    from .train_language import language_model_config
    return facts_of_config(language_model_config(stage, _VocabularyOfSize(vocab_size)))
