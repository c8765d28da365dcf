"""The picture encoder: an open_clip model from "local-dir:" or "hf-hub:", giving embeddings, patch tokens, zero-shot
tags and, for a CoCa model (contrastive captioner), a caption."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .picture_stem import load_open_clip


def open_clip_name(source: str) -> str:
    """open_clip's model name for a source: a folder becomes local-dir:, a hub id becomes hf-hub:."""
    if source.startswith(("local-dir:", "hf-hub:")):
        return source
    if Path(source).is_dir():
        return f"local-dir:{source}"
    return f"hf-hub:{source}"


def squashes(model) -> bool:
    """Whether an open_clip model's preprocessing squashes any picture to its square (resize_mode "squash")."""
    return getattr(model.visual, "preprocess_cfg", {}).get("resize_mode") == "squash"


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


TAG_TEMPLATE = "a photo of {}."       # how a label is put to the text tower for zero-shot tags (CLIP's own prompt)
CAPTION_TOKENS = 30                   # longest caption, in the caption decoder's tokens


def square_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """(n, width) -> the last g*g of them, g = floor(sqrt(n)), so a prefix bridge can lay them out as a g x g grid.
    ViT patch tokens (7x7, 8x8, 16x16) are kept whole; CoCa's attention-pooled queries (255) lose the first few."""
    side = math.isqrt(tokens.shape[0])
    return tokens[tokens.shape[0] - side * side:]


class ImageEncoder:
    def __init__(self, model, preprocess, tokenizer, device: torch.device, dtype: torch.dtype):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device, self.dtype = device, dtype
        self.model.visual.output_tokens = True
        self.can_caption = hasattr(model, "text_decoder")     # open_clip's CoCa has a multimodal text decoder
        self.squashes = squashes(model)
        self._label_embeddings: dict[tuple, torch.Tensor] = {}

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None
             ) -> "ImageEncoder":
        import open_clip
        name = open_clip_name(source)
        if name.startswith("hf-hub:"):           # only the config and safetensors: open_clip would fetch a pickle
            from ..offline import hub_folder
            name = "local-dir:" + hub_folder(name[len("hf-hub:"):], "image_encoder", revision)
        folder = Path(name[len("local-dir:"):])
        require_safetensors(folder)
        model, preprocess = load_open_clip(folder, device)
        tokenizer = open_clip.get_tokenizer(name)
        return cls(model.to(dtype).eval(), preprocess, tokenizer, device, dtype)

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        """The picture as the model was trained to see it: squashed to its square by a model whose preprocessing
        says so (its frame's edges, and so every place in it, stay where they were); else padded to a square first,
        so that a centre crop cuts nothing off. (1, 3, side, side)."""
        image = image.convert("RGB")
        square = image if self.squashes else pad_to_square(image)
        return self.preprocess(square).unsqueeze(0).to(self.device, self.dtype)

    @torch.inference_mode()
    def encode(self, image: Image.Image) -> EncodedPicture:
        output = self.model.visual(self._pixels(image))
        pooled, tokens = output if isinstance(output, tuple) else (output, None)
        return EncodedPicture(F.normalize(pooled.float(), dim=-1)[0],
                              None if tokens is None else square_tokens(tokens[0]))

    @torch.inference_mode()
    def caption(self, image: Image.Image, max_tokens: int = CAPTION_TOKENS) -> str | None:
        """A greedy caption from CoCa's text decoder; None for a model that cannot caption (plain CLIP).
        (open_clip's own CoCa.generate needs transformers' BeamSearchScorer, which transformers 5 no longer has.)"""
        if not self.can_caption:
            return None
        pixels = self._pixels(image)
        latent, image_embs = self.model._encode_image(pixels)
        start, end = self._caption_ids()
        ids = torch.tensor([[start]], device=self.device)                              # (1, t)
        for _ in range(max_tokens):
            logits = self.model(pixels, ids, image_latent=latent, image_embs=image_embs,
                                output_labels=False)["logits"][0, -1]                    # (vocab,)
            token = int(logits.float().argmax())
            if token == end:
                break
            ids = torch.cat([ids, torch.tensor([[token]], device=self.device)], dim=1)
        return self._decode(ids[0, 1:].tolist())

    @torch.inference_mode()
    def tags(self, image: Image.Image | EncodedPicture, labels: list[str], k: int = 5,
             template: str = TAG_TEMPLATE) -> list[tuple[str, float]]:
        """The k labels the picture matches best (zero-shot), with softmax probabilities over all labels."""
        encoded = image if isinstance(image, EncodedPicture) else self.encode(image)
        key = (tuple(labels), template)
        if key not in self._label_embeddings:          # a label list is embedded once, in batches
            prompts = [template.format(label) for label in labels]
            self._label_embeddings[key] = torch.cat([self.encode_texts(prompts[i:i + 64])
                                                     for i in range(0, len(prompts), 64)])
        return self.rank_texts(encoded.embedding, list(labels), self._label_embeddings[key])[:k]

    def _caption_ids(self) -> tuple[int, int]:
        """(start, end) token ids of the caption decoder's tokenizer."""
        if hasattr(self.tokenizer, "sot_token_id"):
            return self.tokenizer.sot_token_id, self.tokenizer.eot_token_id
        inner = self.tokenizer.tokenizer                                   # open_clip's HFTokenizer
        start = inner.cls_token_id if inner.cls_token_id is not None else inner.bos_token_id
        end = inner.sep_token_id if inner.sep_token_id is not None else inner.eos_token_id
        return start, end

    def _decode(self, ids: list[int]) -> str:
        if hasattr(self.tokenizer, "sot_token_id"):
            text = self.tokenizer.decode(ids)
        else:
            text = self.tokenizer.tokenizer.decode(ids, skip_special_tokens=True)
        for special in ("<start_of_text>", "<end_of_text>"):
            text = text.replace(special, " ")
        return " ".join(text.split()).strip(" .")

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
