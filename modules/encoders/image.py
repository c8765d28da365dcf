"""The picture encoder: an open_clip model from "local-dir:" or "hf-hub:", giving embeddings, patch tokens and tags."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def open_clip_name(source: str) -> str:
    """open_clip's model name for a source: a folder becomes local-dir:, a hub id becomes hf-hub:."""
    if source.startswith(("local-dir:", "hf-hub:")):
        return source
    if Path(source).is_dir():
        return f"local-dir:{source}"
    return f"hf-hub:{source}"


def pad_to_square(image: Image.Image) -> Image.Image:
    """Any aspect to a square, padded with the picture's own border colour so the background stays one colour."""
    width, height = image.size
    if width == height:
        return image
    border = np.concatenate([np.asarray(image)[0], np.asarray(image)[-1],
                             np.asarray(image)[:, 0], np.asarray(image)[:, -1]])        # (n, 3)
    fill = tuple(int(v) for v in np.median(border, axis=0))
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def require_safetensors(folder: Path) -> None:
    """Weights are read from safetensors only: a folder holding only pickled weights is refused."""
    if not list(folder.glob("*.safetensors")):
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise ValueError(f"no .safetensors weights in {folder} (found: {found or 'nothing'}); "
                         "pickled weights (.bin, .pth) are never loaded")


@dataclass
class EncodedPicture:
    embedding: torch.Tensor        # (embed_dim,), normalised
    tokens: torch.Tensor | None    # (patches, width): what the prefix bridge reads


class ImageEncoder:
    def __init__(self, model, preprocess, tokenizer, device: torch.device, dtype: torch.dtype):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device, self.dtype = device, dtype
        self.model.visual.output_tokens = True

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype) -> "ImageEncoder":
        import open_clip
        name = open_clip_name(source)
        if name.startswith("local-dir:"):
            require_safetensors(Path(name[len("local-dir:"):]))
        model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
        tokenizer = open_clip.get_tokenizer(name)
        return cls(model.to(dtype).eval(), preprocess, tokenizer, device, dtype)

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        return self.preprocess(pad_to_square(image.convert("RGB"))).unsqueeze(0).to(self.device, self.dtype)

    @torch.inference_mode()
    def encode(self, image: Image.Image) -> EncodedPicture:
        output = self.model.visual(self._pixels(image))
        pooled, tokens = output if isinstance(output, tuple) else (output, None)
        return EncodedPicture(F.normalize(pooled.float(), dim=-1)[0], None if tokens is None else tokens[0])

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """(n, embed_dim), normalised."""
        return F.normalize(self.model.encode_text(self.tokenizer(texts).to(self.device)).float(), dim=-1)

    def rank_texts(self, embedding: torch.Tensor, texts: list[str], text_embeddings: torch.Tensor | None = None
                   ) -> list[tuple[str, float]]:
        """Texts ordered by similarity to an embedding, with softmax probabilities."""
        text_embeddings = self.encode_texts(texts) if text_embeddings is None else text_embeddings
        scale = float(self.model.logit_scale.exp().clamp(max=100))
        probs = (scale * text_embeddings @ embedding.float()).softmax(0)
        order = probs.argsort(descending=True).tolist()
        return [(texts[i], float(probs[i])) for i in order]
