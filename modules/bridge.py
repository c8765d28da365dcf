"""Encoder outputs -> language-model inputs: prefix embeddings from trained projectors."""
from __future__ import annotations

import torch

from .bridge_model import PrefixBridge


class Bridge:
    def __init__(self, model: PrefixBridge, device: torch.device, dtype: torch.dtype):
        self.model, self.device, self.dtype = model, device, dtype

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None) -> "Bridge":
        model = PrefixBridge.from_pretrained(source, use_safetensors=True, revision=revision)
        return cls(model.to(device, dtype).eval(), device, dtype)

    @property
    def prefix_lengths(self) -> dict[str, int]:
        return {"image": self.model.config.image_tokens, "audio": self.model.config.audio_prefix_tokens}

    @torch.inference_mode()
    def prefix(self, kind: str, tokens: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """(tokens, width) and the pooled embedding (embed_dim,) from an encoder -> (prefix_tokens, lm_hidden)."""
        tokens = tokens.to(self.device, self.dtype)[None]
        if kind == "audio":
            return self.model.project_audio(tokens)[0]
        embedding = None if embedding is None else embedding.to(self.device, self.dtype)[None]
        return self.model.project_image(tokens, embedding)[0]
