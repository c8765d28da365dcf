"""The sound encoder: the built-in CLIP-style audio model or a CLAP model (transformers), both loaded with
from_pretrained, giving embeddings, time tokens and zero-shot tags over a label list."""
from __future__ import annotations

import json
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .audio_model import MiniAudioEncoder, trim_silence

INPUT_RATE = 16_000                   # what the pipeline hands over (modules.media.MediaLimits.sample_rate)
TAG_TEMPLATE = "the sound of {}."     # how a sound label is put to the text tower


@dataclass
class EncodedSound:
    embedding: torch.Tensor        # (embed_dim,), normalised, in the image encoder's text space
    tokens: torch.Tensor           # (time tokens, width): what the prefix bridge reads


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """float32 mono (samples,) from `rate` to `target` Hz (polyphase)."""
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    common = gcd(rate, target)
    return resample_poly(samples, target // common, rate // common).astype(np.float32)


def rank_labels(embedding: torch.Tensor, label_embeddings: torch.Tensor, labels: list[str], scale: float,
                k: int) -> list[tuple[str, float]]:
    """The k labels nearest an embedding (all normalised), with softmax probabilities over every label."""
    probs = (scale * label_embeddings.float() @ embedding.float()).softmax(0)
    order = probs.argsort(descending=True).tolist()[:k]
    return [(labels[i], float(probs[i])) for i in order]


class AudioEncoder:
    """The built-in encoder: its embedding lives in the image encoder's text space, so tags need that text tower."""

    def __init__(self, model: MiniAudioEncoder, device: torch.device, dtype: torch.dtype):
        self.model, self.device, self.dtype = model, device, dtype
        self.sample_rate = model.config.sample_rate
        self._label_embeddings: dict[tuple, torch.Tensor] = {}

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None
             ) -> "AudioEncoder":
        model = MiniAudioEncoder.from_pretrained(source, use_safetensors=True, revision=revision)
        return cls(model.to(device).eval(), device, dtype)

    @torch.inference_mode()
    def encode(self, samples: np.ndarray, rate: int | None = None) -> EncodedSound:
        """samples: float32 mono (samples,) at `rate` (default self.sample_rate)."""
        samples = resample(samples, rate or self.sample_rate, self.sample_rate)
        if self.model.config.trim_below_db is not None:
            samples = trim_silence(samples, self.sample_rate, self.model.config.trim_below_db)
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None].to(self.device)
        embedding, tokens = self.model(waveform)
        return EncodedSound(F.normalize(embedding.float(), dim=-1)[0], tokens[0])

    @torch.inference_mode()
    def tags(self, sound: np.ndarray | EncodedSound, labels: list[str], k: int = 5, template: str = TAG_TEMPLATE,
             text_encoder: Callable[[list[str]], torch.Tensor] | None = None) -> list[tuple[str, float]]:
        """Zero-shot tags; `text_encoder` (texts -> (n, embed_dim) normalised) is the image encoder's text tower."""
        if text_encoder is None:
            raise ValueError("the built-in audio encoder needs the image encoder's text tower to tag sounds")
        encoded = sound if isinstance(sound, EncodedSound) else self.encode(sound)
        key = (tuple(labels), template)
        if key not in self._label_embeddings:
            prompts = [template.format(label) for label in labels]
            self._label_embeddings[key] = torch.cat([text_encoder(prompts[i:i + 64])
                                                     for i in range(0, len(prompts), 64)])
        scale = float(self.model.logit_scale.exp().clamp(max=100))
        return rank_labels(encoded.embedding, self._label_embeddings[key], list(labels), scale, k)


class ClapAudioEncoder:
    """A CLAP model (transformers ClapModel + ClapProcessor): its own text tower tags sounds."""

    def __init__(self, model, processor, device: torch.device, dtype: torch.dtype):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype
        self.extractor = processor.feature_extractor
        self.model_rate = int(self.extractor.sampling_rate)           # 48 kHz for the LAION checkpoints
        self.sample_rate = INPUT_RATE                                  # what encode() expects by default
        self.fused = bool(getattr(model.config.audio_config, "enable_fusion", False))
        self._label_embeddings: dict[tuple, torch.Tensor] = {}

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None
             ) -> "ClapAudioEncoder":
        from transformers import ClapModel, ClapProcessor

        model = ClapModel.from_pretrained(source, dtype=dtype, use_safetensors=True, revision=revision)
        processor = ClapProcessor.from_pretrained(source, revision=revision)
        return cls(model.to(device).eval(), processor, device, dtype)

    @torch.inference_mode()
    def encode(self, samples: np.ndarray, rate: int | None = None) -> EncodedSound:
        """samples: float32 mono (samples,) at `rate` (default 16 kHz); longer than the model's window
        (10 s) -> the middle of it, so the same sound always gives the same embedding."""
        samples = resample(np.asarray(samples, dtype=np.float32), rate or self.sample_rate, self.model_rate)
        window = int(self.extractor.nb_max_samples)
        if not self.fused and samples.shape[0] > window:
            start = (samples.shape[0] - window) // 2
            samples = samples[start:start + window]
        features = self.extractor(samples, sampling_rate=self.model_rate, return_tensors="pt",
                                  truncation="fusion" if self.fused else "rand_trunc")
        features = {k: v.to(self.device) for k, v in features.items()}
        features["input_features"] = features["input_features"].to(self.dtype)
        output = self.model.get_audio_features(**features)
        hidden = output.last_hidden_state                      # (1, channels, freq, time)
        tokens = hidden.float().mean(dim=2)[0].transpose(0, 1)  # (time, channels)
        return EncodedSound(F.normalize(output.pooler_output.float(), dim=-1)[0], tokens)

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """(n, projection_dim), normalised."""
        inputs = self.processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
        return F.normalize(self.model.get_text_features(**inputs).pooler_output.float(), dim=-1)

    @torch.inference_mode()
    def tags(self, sound: np.ndarray | EncodedSound, labels: list[str], k: int = 5, template: str = TAG_TEMPLATE,
             text_encoder=None) -> list[tuple[str, float]]:
        encoded = sound if isinstance(sound, EncodedSound) else self.encode(sound)
        key = (tuple(labels), template)
        if key not in self._label_embeddings:
            prompts = [template.format(label) for label in labels]
            self._label_embeddings[key] = torch.cat([self.encode_texts(prompts[i:i + 64])
                                                     for i in range(0, len(prompts), 64)])
        scale = float(self.model.logit_scale_a.exp().clamp(max=100))
        return rank_labels(encoded.embedding, self._label_embeddings[key], list(labels), scale, k)


def _model_type(source: str, revision: str | None = None) -> str | None:
    """config.json's model_type of a folder or hub repo (read from the cache when offline)."""
    folder = Path(source)
    if folder.is_dir():
        path = folder / "config.json"
    else:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(source, "config.json", revision=revision))
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


def load_audio_encoder(source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None):
    """A CLAP checkpoint (model_type "clap") -> ClapAudioEncoder; anything else -> the built-in AudioEncoder."""
    if _model_type(source, revision) == "clap":
        return ClapAudioEncoder.load(source, device, dtype, revision)
    return AudioEncoder.load(source, device, dtype, revision)
