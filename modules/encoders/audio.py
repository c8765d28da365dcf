"""The sound encoder: a CLIP-style audio model loaded with from_pretrained, giving embeddings and time tokens."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .audio_model import MiniAudioEncoder


@dataclass
class EncodedSound:
    embedding: torch.Tensor        # (embed_dim,), normalised, in the image encoder's text space
    tokens: torch.Tensor           # (time tokens, width): what the prefix bridge reads


class AudioEncoder:
    def __init__(self, model: MiniAudioEncoder, device: torch.device, dtype: torch.dtype):
        self.model, self.device, self.dtype = model, device, dtype
        self.sample_rate = model.config.sample_rate

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype) -> "AudioEncoder":
        model = MiniAudioEncoder.from_pretrained(source, use_safetensors=True)
        return cls(model.to(device).eval(), device, dtype)

    @torch.inference_mode()
    def encode(self, samples: np.ndarray) -> EncodedSound:
        """samples: float32 mono (samples,) at self.sample_rate."""
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None].to(self.device)
        embedding, tokens = self.model(waveform)
        return EncodedSound(F.normalize(embedding.float(), dim=-1)[0], tokens[0])
