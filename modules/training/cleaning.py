"""Data cleaning as pretraining pipelines do it: exact and near duplicates, quality checks, label contradictions."""
from __future__ import annotations

import hashlib
import io
import random
import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..world.pictures import Scene, caption_en, caption_zh, render_scene
from .corpus import perturbed

_ALLOWED_TEXT = re.compile(r"^[\x20-\x7e\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+$")
_MINHASH_PERMUTATIONS = 64
_PRIME = (1 << 61) - 1


@dataclass
class CaptionedPicture:
    """A raw picture-caption item as a source delivers it: the caption may be wrong or the item repeated."""

    scene: Scene                  # the labels the picture was drawn from
    caption: str
    language: str
    recompressed: bool = False    # the same picture saved again as JPEG (a near duplicate)

    def picture(self) -> Image.Image:
        image = render_scene(self.scene)
        if self.recompressed:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=60)
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        return image


@dataclass
class CleaningReport:
    stages: list[tuple[str, int, int]] = field(default_factory=list)    # (stage, removed, kept)

    def add(self, stage: str, before: int, after: int) -> None:
        self.stages.append((stage, before - after, after))

    def table(self) -> str:
        lines = [f"{'stage':<34}{'removed':>9}{'kept':>9}"]
        lines += [f"{name:<34}{removed:>9}{kept:>9}" for name, removed, kept in self.stages]
        return "\n".join(lines)


def raw_captioned_pictures(scenes: list[Scene], seed: int) -> list[CaptionedPicture]:
    """What a scraped source looks like: every scene captioned, plus repeats, near repeats and wrong captions."""
    rng = random.Random(f"raw-{seed}")
    items: list[CaptionedPicture] = []
    for scene in scenes:
        lang = rng.choice(["en", "zh"])
        caption = caption_en(scene) if lang == "en" else caption_zh(scene)
        roll = rng.random()
        if roll < 0.03:                              # a caption that belongs to another picture
            wrong = perturbed(scene, rng)
            caption = caption_en(wrong) if lang == "en" else caption_zh(wrong)
        elif roll < 0.04:                            # mojibake / truncated text
            caption = caption[: rng.randint(0, 3)] + "\ufffd\x00" * rng.randint(0, 2)
        items.append(CaptionedPicture(scene, caption, lang))
        repeat = rng.random()
        if repeat < 0.03:                            # the very same item again
            items.append(CaptionedPicture(scene, caption, lang))
        elif repeat < 0.06:                          # re-encoded as JPEG, caption punctuated differently
            items.append(CaptionedPicture(scene, caption + ("." if lang == "en" else "。"), lang, recompressed=True))
    return items


def text_minhash(text: str, shingle: int = 3) -> np.ndarray:
    """MinHash signature (64 values) of a text's character shingles; near-identical texts share most values."""
    shingles = {text[i:i + shingle] for i in range(max(1, len(text) - shingle + 1))}
    hashes = np.array([int(hashlib.blake2b(s.encode(), digest_size=8).hexdigest(), 16) % _PRIME for s in shingles],
                      dtype=np.uint64)
    rng = np.random.default_rng(12345)
    a = rng.integers(1, 1 << 31, _MINHASH_PERMUTATIONS, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, _MINHASH_PERMUTATIONS, dtype=np.uint64)
    return ((hashes[None, :] * a[:, None] + b[:, None]) % np.uint64(_PRIME)).min(axis=1)


def picture_hash(image: Image.Image) -> bytes:
    """A perceptual hash: the picture at 8x8 per colour channel, each cell above or below its channel mean."""
    small = np.asarray(image.convert("RGB").resize((8, 8), Image.Resampling.BOX), dtype=np.float32)  # (8, 8, 3)
    bits = small > small.mean(axis=(0, 1), keepdims=True)
    return np.packbits(bits).tobytes()


def caption_matches_labels(item: CaptionedPicture) -> bool:
    """A caption is kept only if it names exactly the objects the picture was drawn with."""
    truth = caption_en(item.scene) if item.language == "en" else caption_zh(item.scene)
    caption = item.caption.rstrip(".。")
    if item.language == "en":
        parts = sorted(p.strip() for p in re.split(r",| and ", caption))
        return parts == sorted(p.strip() for p in re.split(r",| and ", truth))
    return sorted(caption.split("，")) == sorted(truth.split("，"))


def passes_quality(text: str, min_chars: int = 4, max_chars: int = 400) -> bool:
    return min_chars <= len(text) <= max_chars and bool(_ALLOWED_TEXT.match(text))


def dedupe_exact(items: list[CaptionedPicture]) -> list[CaptionedPicture]:
    seen: set[tuple[str, int, str]] = set()
    kept = []
    for item in items:
        key = (item.scene.content_key(), item.scene.shade_seed, item.caption)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def hash_distance(a: bytes, b: bytes) -> int:
    """Hamming distance between two perceptual hashes (bits that differ)."""
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


def dedupe_near_pictures(items: list[CaptionedPicture], text_threshold: float = 0.85, max_bits: int = 12
                         ) -> list[CaptionedPicture]:
    """Drop an item whose caption is MinHash-similar and whose picture hash is within max_bits of an earlier one.

    Candidates are found through four MinHash bands (locality-sensitive hashing), so the cost stays linear."""
    bands: dict[tuple[int, bytes], list[tuple[np.ndarray, bytes]]] = {}
    kept = []
    for item in items:
        signature, picture = text_minhash(item.caption), picture_hash(item.picture())
        keys = [(b, signature[4 * b: 4 * b + 4].tobytes()) for b in range(4)]
        candidates = [c for key in keys for c in bands.get(key, [])]
        if any((signature == s).mean() >= text_threshold and hash_distance(picture, p) <= max_bits
               for s, p in candidates):
            continue
        for key in keys:
            bands.setdefault(key, []).append((signature, picture))
        kept.append(item)
    return kept


def clean_captioned_pictures(items: list[CaptionedPicture]) -> tuple[list[CaptionedPicture], CleaningReport]:
    report = CleaningReport()
    report.stages.append(("raw items", 0, len(items)))
    stages = [
        ("quality: length and character set", lambda xs: [x for x in xs if passes_quality(x.caption)]),
        ("exact duplicates", dedupe_exact),
        ("near duplicates (phash + MinHash)", dedupe_near_pictures),
        ("caption contradicts its labels", lambda xs: [x for x in xs if caption_matches_labels(x)]),
    ]
    for name, stage in stages:
        before = len(items)
        items = stage(items)
        report.add(name, before, len(items))
    return items, report


def dedupe_texts(texts: list[str], threshold: float = 0.9) -> tuple[list[str], int]:
    """Near-duplicate removal for plain texts by MinHash similarity (bucketed on the first 8 values)."""
    kept: list[str] = []
    buckets: dict[bytes, list[np.ndarray]] = {}
    for text in texts:
        signature = text_minhash(text)
        bucket = buckets.setdefault(signature[:8].tobytes(), [])
        if any((signature == other).mean() >= threshold for other in bucket):
            continue
        bucket.append(signature)
        kept.append(text)
    return kept, len(texts) - len(kept)
