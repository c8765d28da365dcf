"""The places phase of the mini suite: the picture tower learns to pool where things are, its patch tokens kept.

After the encoders stage, the pooled picture embedding names every colour in the picture but hardly which places
hold an object, so picture-to-text retrieval took "on the right" for "at the bottom". Here the picture tower alone
trains on: contrastively against the frozen text tower, with more hard-negative partners in which one object moves;
with linear heads that name every place's colour, shape and size from the pooled embedding; and with its patch
tokens held where they were (the bridge, the language model and the decoder's perceptual loss read them).
"""
from __future__ import annotations

import copy
import random
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from tqdm import tqdm

from ..encoders.picture_stem import load_open_clip
from .adamw import adamw
from .attribute_heads import BackgroundHead, PooledPlaceHeads
from .augment import mirror, resample_blur
from .batches_ahead import batches_ahead
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .corpus import perturbed, scenes_for
from .replicas import check_replicas_agree
from .suite_config import EncoderStage, SuiteConfig
from .train_encoders import (PicturePool, TextBatch, caption_batch, caption_in, contrastive_loss, render_for_training,
                             save_image_encoder, stage_for_saved_tower, text_tokens, world_pictures)
from ..world.pictures import BACKGROUNDS, Scene


def relative_change(tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean squared change of tokens (B, N, W) against reference, over the reference's mean square."""
    return (tokens - reference).pow(2).mean() / reference.pow(2).mean()


class PlacesObjective(nn.Module):
    """The trained picture tower and place heads, with the tower as it was (frozen) to keep its patch tokens."""

    def __init__(self, visual: nn.Module, before: nn.Module, heads: PooledPlaceHeads, background: BackgroundHead):
        super().__init__()
        self.visual, self.before, self.heads = visual, before.eval().requires_grad_(False), heads
        self.background = background

    def forward(self, pictures: torch.Tensor, scenes: list[Scene], captions: torch.Tensor, keys: list[str],
                scale: torch.Tensor) -> dict[str, torch.Tensor]:
        """pictures (B, 3, H, W), captions (B, D) normalised text embeddings -> the four losses."""
        pooled, patch_tokens = self.visual(pictures)                                      # (B, D), (B, 64, width)
        with torch.no_grad():
            _, kept = self.before(pictures)
        return {"picture": contrastive_loss(F.normalize(pooled, dim=-1), captions, keys, scale),
                "places": self.heads.loss(pooled, scenes),
                "background": self.background.loss(pooled, scenes),
                "keep": relative_change(patch_tokens, kept)}


def place_batch(pool: PicturePool, stage: EncoderStage, rng: random.Random, tokens
                ) -> tuple[torch.Tensor, list[Scene], TextBatch]:
    """picture_batch base scenes and as many partners, a share of which move one object to a free place, and
    their captions: pictures (2B, 3, H, W)."""
    idx = rng.sample(range(len(pool.scenes)), stage.picture_batch)
    base = [pool.scenes[i] for i in idx]
    partners = [perturbed(scene, rng, "position") if rng.random() < stage.place_move_share else pool.partners[i]
                for scene, i in zip(base, idx)]
    scenes = base + partners
    pictures = torch.stack([render_for_training(s, rng, stage)[0] for s in scenes])  # (2B, 3, H, W)
    pictures, scenes = mirror(pictures, scenes, [rng.random() < 0.5 for _ in scenes])
    pictures = resample_blur(pictures, rng)
    return pictures, scenes, caption_batch(scenes, rng, tokens)


@torch.no_grad()
def retrieval_r1(clip, tokens, scenes: list[Scene], pictures: torch.Tensor, lang: str) -> float:
    """Picture -> caption R@1 among the scenes' own captions; pictures (N, 3, H, W)."""
    texts = F.normalize(clip.encode_text(tokens([caption_in(s, lang) for s in scenes])), dim=-1)      # (N, D)
    pooled = F.normalize(clip.visual(pictures)[0], dim=-1)                                           # (N, D)
    keys = [s.objects_key() for s in scenes]
    best = (pooled @ texts.T).argmax(dim=1).tolist()
    return sum(keys[b] == key for b, key in zip(best, keys)) / len(scenes)


@torch.no_grad()
def background_cosine(visual: nn.Module, scenes: list[Scene], side: int) -> float:
    """Mean cosine between the pooled embeddings of one scene drawn on each of the three backgrounds: near 1 when
    the embedding hardly says which background it is."""
    device = next(visual.parameters()).device
    cosines = []
    for scene in scenes:
        pictures = world_pictures([replace(scene, background=b) for b in sorted(BACKGROUNDS)], side).to(device)
        pooled = F.normalize(visual(pictures)[0], dim=-1)                                  # (3, D)
        similar = pooled @ pooled.T
        cosines.append(similar[torch.triu_indices(3, 3, 1).unbind()].mean().item())
    return sum(cosines) / len(cosines)


def held_out_report(clip, before: nn.Module, tokens, scenes: list[Scene], pictures: torch.Tensor) -> str:
    clip.visual.eval()
    with torch.no_grad():
        moved = relative_change(clip.visual(pictures)[1], before(pictures)[1]).item()
    line = (f"validation picture->text R@1 en {retrieval_r1(clip, tokens, scenes, pictures, 'en'):.3f} "
            f"zh {retrieval_r1(clip, tokens, scenes, pictures, 'zh'):.3f}; patch tokens moved {moved:.4f}; "
            f"one scene on each background, pooled cosine "
            f"{background_cosine(clip.visual, scenes[:40], pictures.shape[-1]):.3f}")
    clip.visual.train()
    return line


def train_places(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """Tune the saved picture tower (out_dir/image_encoder) and save it back in place."""
    folder = Path(suite.out_dir) / "image_encoder"
    suite = replace(suite, encoders=stage_for_saved_tower(suite.encoders, folder))
    stage, work = suite.encoders, Path(suite.work_dir)
    torch.manual_seed(suite.seed)
    rng = random.Random(f"places-{suite.seed}-{accelerator.process_index}")
    clip, _ = load_open_clip(folder)
    clip.visual.output_tokens = True
    clip.requires_grad_(False).visual.requires_grad_(True)            # the text tower stays as the encoders left it
    before, heads = copy.deepcopy(clip.visual), PooledPlaceHeads(stage.embed_dim)
    background = BackgroundHead(stage.embed_dim, stage.background_scale)
    optimizer = adamw([{"params": clip.visual.parameters(), "peak": stage.place_lr},
                       {"params": [*heads.parameters(), *background.parameters()], "peak": stage.lr}],
                      weight_decay=0.05)
    modules = {"visual": clip.visual, "before": before, "heads": heads,     # `before` too: a resumed run keeps it
               "background": background}
    start, checkpoint = 0, work / "places.safetensors"
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, modules, optimizer)
        print(f"resuming places at step {start}")
    if start < stage.place_steps:
        tune_places(clip, modules, optimizer, suite, tokenizer, accelerator, rng, start)
    if accelerator.is_main_process:
        save_image_encoder(clip, stage, tokenizer, suite.out_dir)


def tune_places(clip, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer, suite: SuiteConfig,
                tokenizer, accelerator: Accelerator, rng: random.Random, start: int) -> None:
    """modules: the trained tower ("visual"), the tower as it was ("before") and the place heads ("heads")."""
    stage, work, before = suite.encoders, Path(suite.work_dir), modules["before"]
    pool = PicturePool(stage, suite.seed)
    validation = scenes_for("validation", 400, suite.seed)
    validation_pictures = world_pictures(validation, stage.image_size).to(accelerator.device)
    clip.to(accelerator.device)
    objective, optimizer = accelerator.prepare(
        PlacesObjective(clip.visual, before, modules["heads"], modules["background"]), optimizer)
    tokens = text_tokens(tokenizer, stage, accelerator.device)
    print("places, before: " + held_out_report(clip, before, tokens, validation, validation_pictures))
    cpu_tokens = text_tokens(tokenizer, stage, torch.device("cpu"))
    batches = batches_ahead(lambda step: place_batch(pool, stage, rng, cpu_tokens), range(start, stage.place_steps))
    bar = tqdm(range(start, stage.place_steps), desc="places", initial=start, total=stage.place_steps)
    for step, (pictures, scenes, captions) in zip(bar, batches):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, stage.place_steps, group["peak"], 50)
        captions = captions.to(accelerator.device)
        with torch.no_grad():
            texts = F.normalize(clip.encode_text(captions.ids), dim=-1)                              # (2B, D)
        losses = objective(pictures.to(accelerator.device), scenes, texts, captions.keys, clip.logit_scale)
        loss = (losses["picture"] + stage.place_head_weight * losses["places"]
                + stage.place_keep_weight * losses["keep"] + stage.background_weight * losses["background"])
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        bar.set_postfix({name: f"{value.item():.3f}" for name, value in losses.items()})
        if accelerator.is_main_process and ((step + 1) % 100 == 0 or step + 1 == stage.place_steps):
            work.mkdir(parents=True, exist_ok=True)
            save_checkpoint(work / "places.safetensors", modules, optimizer, step + 1)
    print("places, after: " + held_out_report(clip, before, tokens, validation, validation_pictures))
    check_replicas_agree(accelerator, objective, "places")
