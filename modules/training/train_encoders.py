"""Stage 1 of the mini suite: an open_clip picture-text model and an audio encoder trained into the same text space."""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from open_clip.model import CLIP
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from ..encoders.audio_model import MiniAudioConfig, MiniAudioEncoder
from ..encoders.picture_stem import (CONFIG_FILE, CONFIG_KEY as STEM_KEY, WEIGHTS_FILE, add_stem, load_open_clip,
                                     stem_entry, stem_in)
from .adamw import adamw
from .attribute_heads import PooledPlaceHeads, RegionAttributeHeads, region_weights
from .augment import (batch_sounds, drawn_for_training, heard_with_offset, mirror, picture_to_tensor, resample_blur,
                      training_sound)
from .batches_ahead import batches_ahead
from .beep_heads import BeepCountHead, beep_onsets, begun_by_token
from .patch_heads import PatchAttributeHeads, coverage, mirrored_owners, owners
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .cleaning import clean_captioned_pictures, raw_captioned_pictures
from .corpus import perturbed, scenes_for, shuffled_objects, sounds_for
from .replicas import check_replicas_agree
from .suite_config import EncoderStage, SuiteConfig
from ..world.pictures import RenderStyle, Scene, caption_en, caption_zh, render_scene
from ..world.sounds import Sound, describe_en, describe_zh, synthesize


def open_clip_config(stage: EncoderStage, vocab_size: int) -> dict:
    """The architecture as open_clip reads it from open_clip_config.json (and, beside it, the convolutional stem
    that picture_stem.load_open_clip adds)."""
    config = {
        "model_cfg": {
            "embed_dim": stage.embed_dim,
            "vision_cfg": {"image_size": stage.image_size, "patch_size": stage.patch_size,
                           "width": stage.vision_width, "layers": stage.vision_layers, "head_width": 32,
                           "pool_type": stage.vision_pool},
            "text_cfg": {"context_length": stage.context_length, "vocab_size": vocab_size,
                         "width": stage.text_width, "heads": 4, "layers": stage.text_layers,
                         "hf_tokenizer_name": "omnimoe-mini", "pool_type": "eos", "eos_id": 2, "pad_id": 0},
        },
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic",
                           "resize_mode": "squash"},
    }
    if stage.picture_stem is not None:
        config[STEM_KEY] = stem_entry(stage.picture_stem)
    return config


def build_clip(stage: EncoderStage, vocab_size: int) -> CLIP:
    cfg = open_clip_config(stage, vocab_size)["model_cfg"]
    clip = CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"])
    return clip if stage.picture_stem is None else add_stem(clip, stage.picture_stem)


def caption_in(scene: Scene, lang: str) -> str:
    return caption_en(scene) if lang == "en" else caption_zh(scene)


def describe_in(sound: Sound, lang: str) -> str:
    return describe_en(sound) if lang == "en" else describe_zh(sound)


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, keys: list[str], scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every pair with the same content counts as a positive. a, b: (B, D) normalised."""
    logits = scale.exp().clamp(max=100) * a @ b.T                                   # (B, B)
    same = torch.tensor([[x == y for y in keys] for x in keys], dtype=torch.float32, device=logits.device)
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (torch.sum(-targets * logits.log_softmax(1), 1).mean()
                  + torch.sum(-targets * logits.log_softmax(0).T, 1).mean())


class PicturePool:
    """Cleaned training scenes, each with a hard-negative partner (one thing changed: stage.partner_changes).

    Pictures are drawn afresh for every batch, with new shades and small shifts, some without anti-aliasing and
    some with JPEG artefacts: a picture rendered once and seen a dozen times is learnt by heart, not by shape."""

    def __init__(self, stage: EncoderStage, seed: int):
        raw = raw_captioned_pictures(scenes_for("train", stage.scenes, seed), seed)
        kept, report = clean_captioned_pictures(raw)
        print("picture-caption cleaning:\n" + report.table())
        rng = random.Random(f"pool-{seed}")
        self.scenes = [item.scene for item in kept]
        self.partners = [perturbed(s, rng, rng.choice(stage.partner_changes)) for s in self.scenes]


def render_for_training(scene: Scene, rng: random.Random, stage: EncoderStage) -> tuple[torch.Tensor, np.ndarray]:
    """One fresh look at the scene (new shades and shifts; a share stage.free_share drawn the ways people draw):
    (3, side, side), side = stage.image_size, and the object each patch shows (patch_heads.owners, (grid²,))."""
    picture, drawn = drawn_for_training(replace(scene, shade_seed=rng.randrange(1 << 30)), rng, stage.free_share,
                                        stage.image_size)
    return picture, owners(coverage(drawn, stage.image_size // stage.patch_size))


def world_pictures(scenes: list[Scene], side: int) -> torch.Tensor:
    """The scenes in the world's own look at the encoder's size: (N, 3, side, side)."""
    return torch.stack([picture_to_tensor(render_scene(s, RenderStyle(size=side))) for s in scenes])


def picture_batch(pool: PicturePool, stage: EncoderStage, rng: random.Random, partners: bool = True
                  ) -> tuple[torch.Tensor, list[Scene], torch.Tensor]:
    """2 x picture_batch pictures: base scenes and their hard-negative partners, or as many other scenes; with the
    object each of their patches shows ((2B, grid²), -1 for none)."""
    if partners:
        idx = rng.sample(range(len(pool.scenes)), stage.picture_batch)
        scenes = [pool.scenes[i] for i in idx] + [pool.partners[i] for i in idx]
    else:
        scenes = [pool.scenes[i] for i in rng.sample(range(len(pool.scenes)), 2 * stage.picture_batch)]
    drawn = [render_for_training(s, rng, stage) for s in scenes]
    pictures = torch.stack([picture for picture, _ in drawn])                       # (2B, 3, H, W)
    flips = [rng.random() < 0.5 for _ in scenes]
    grid = stage.image_size // stage.patch_size
    owner = torch.from_numpy(np.stack([mirrored_owners(o, grid) if f else o for (_, o), f in zip(drawn, flips)]))
    pictures, scenes = mirror(pictures, scenes, flips)
    return resample_blur(pictures, rng), scenes, owner


def phase_lr(step: int, stage: EncoderStage) -> float:
    """Each phase has its own warm-up and cosine decay: the shape phase, then the joint phase."""
    if step < stage.shape_steps:
        return cosine_lr(step, stage.shape_steps, stage.lr, 100)
    return cosine_lr(step - stage.shape_steps, stage.steps, stage.lr, 100)


def parameter_groups(clip: CLIP, audio: MiniAudioEncoder, heads: list[nn.Module]) -> list[dict]:
    """The picture trunk in its own group, so that the joint phase can move it slowly (see joint_trunk_lr_scale)."""
    trunk = [p for name, p in clip.visual.named_parameters() if name != "proj"]
    trunk_ids = {id(p) for p in trunk}
    rest = [p for p in list(clip.parameters()) + list(audio.parameters())
            + [p for head in heads for p in head.parameters()] if id(p) not in trunk_ids]
    return [{"params": trunk, "name": "picture trunk"}, {"params": rest, "name": "rest"}]


def set_learning_rates(optimizer: torch.optim.Optimizer, step: int, stage: EncoderStage) -> None:
    lr = phase_lr(step, stage)
    for group in optimizer.param_groups:
        slow = group["name"] == "picture trunk" and step >= stage.shape_steps
        group["lr"] = lr * (stage.joint_trunk_lr_scale if slow else 1.0)


def rest_stem_in_joint_phase(clip: CLIP, stage: EncoderStage) -> None:
    """In the joint phase the convolutional stem, if the tower has one and joint_stem_frozen asks it, takes no
    gradient: autograd then skips its backward over the full-size pictures, and the optimizer skips its weights."""
    if stage.picture_stem is not None and stage.joint_stem_frozen:
        clip.visual.conv1.requires_grad_(False)


def held_out_regions(clip: CLIP, heads: RegionAttributeHeads, scenes: list[Scene], pictures: torch.Tensor
                     ) -> dict[str, float]:
    """How well the patch tokens name each region's colour, shape and size on validation scenes.
    pictures (N, 3, H, W): the scenes, rendered."""
    clip.visual.eval()
    with torch.no_grad():
        _, patch_tokens = clip.visual(pictures)
    clip.visual.train()
    return heads.accuracy(patch_tokens, scenes)


class EncoderObjective(nn.Module):
    """Every trained part of the stage in one module, so that `accelerate launch` wraps one model for data-parallel
    training and every loss runs inside its forward (the trunk, the text tower, the sound tower and the heads)."""

    def __init__(self, clip: CLIP, audio: MiniAudioEncoder, heads: RegionAttributeHeads,
                 caption_places: PooledPlaceHeads, patch_heads: PatchAttributeHeads, beep_head: BeepCountHead):
        super().__init__()
        self.clip, self.audio, self.heads, self.caption_places = clip, audio, heads, caption_places
        self.patch_heads, self.beep_head = patch_heads, beep_head

    def forward(self, pictures: torch.Tensor, scenes: list[Scene], owner: torch.Tensor,
                captions: TextBatch | None = None, sounds: SoundBatch | None = None) -> dict[str, torch.Tensor]:
        """pictures (B, 3, H, W), owner (B, grid²) the object each patch shows -> losses: the region and patch
        attribute heads always; when captions and sounds are given (the joint phase) the contrastive losses and the
        place heads over the captions' embeddings."""
        pooled, patch_tokens = self.clip.visual(pictures)                                 # (B, D), (B, grid², width)
        losses = {"attributes": self.heads.loss(patch_tokens, scenes),
                  "patches": self.patch_heads.loss(patch_tokens, scenes, owner)}
        if captions is not None:
            text_emb = F.normalize(self.clip.encode_text(captions.ids), dim=-1)
            losses["picture"] = contrastive_loss(F.normalize(pooled, dim=-1), text_emb, captions.keys,
                                                 self.clip.logit_scale)
            losses["caption places"] = self.caption_places.loss(text_emb, scenes)
        if sounds is not None:
            losses |= sound_losses(self.audio, self.beep_head, self.clip, sounds)
        return losses


def sound_losses(audio: MiniAudioEncoder, beep_head: BeepCountHead, text_tower: CLIP, sounds: "SoundBatch"
                 ) -> dict[str, torch.Tensor]:
    """The sound tower's two losses: its beep heads over the time tokens, and contrastive against the text tower's
    embeddings of the descriptions."""
    audio_emb, time_tokens = audio(sounds.waves, sounds.lengths)                    # (B, D), (B, tokens, width)
    desc_emb = F.normalize(text_tower.encode_text(sounds.descriptions.ids), dim=-1)  # (B, D)
    return {"beeps": beep_head.loss(time_tokens, sounds.begun),
            "sound": contrastive_loss(F.normalize(audio_emb, dim=-1), desc_emb, sounds.descriptions.keys,
                                      audio.logit_scale)}


@dataclass
class TextBatch:
    ids: torch.Tensor          # (B, context) token ids
    keys: list[str]            # what each text says: equal keys are not negatives of each other

    def to(self, device: torch.device) -> "TextBatch":
        return TextBatch(self.ids.to(device), self.keys)


@dataclass
class SoundBatch:
    waves: torch.Tensor        # (B, samples), padded with silence
    descriptions: TextBatch
    lengths: torch.Tensor      # (B,): each sound's own length in samples
    begun: torch.Tensor        # (B, time tokens): beeps begun by the end of each token (beep_heads)

    def to(self, device: torch.device) -> "SoundBatch":
        return SoundBatch(self.waves.to(device), self.descriptions.to(device), self.lengths, self.begun)


def text_tokens(tokenizer, stage: EncoderStage, device: torch.device) -> Callable[[list[str]], torch.Tensor]:
    """texts -> their token ids (n, context_length) on `device`, padded and cut as the text tower reads them."""
    def tokens(texts: list[str]) -> torch.Tensor:
        return tokenizer(texts, padding="max_length", max_length=stage.context_length, truncation=True,
                         return_tensors="pt").input_ids.to(device)
    return tokens


def caption_batch(scenes: list[Scene], rng: random.Random, tokens) -> TextBatch:
    """Each picture's caption, objects in random order, in a random language."""
    langs = [rng.choice(["en", "zh"]) for _ in scenes]
    texts = [caption_in(shuffled_objects(s, rng), lang) for s, lang in zip(scenes, langs)]
    return TextBatch(tokens(texts), [s.objects_key() + lang for s, lang in zip(scenes, langs)])


def sound_batch(sounds: list[Sound], waves: list[np.ndarray], stage: EncoderStage, rng: random.Random, tokens
                ) -> SoundBatch:
    """One batch of augmented sounds and their descriptions, in random languages."""
    pick = rng.sample(range(len(sounds)), stage.sound_batch)
    langs = [rng.choice(["en", "zh"]) for _ in pick]
    heard, begun = [], []
    for i in pick:
        wave, timing = heard_and_timed(sounds[i], training_sound(sounds[i], waves[i], rng, stage.free_share), stage,
                                       rng)
        heard.append(wave)
        begun.append(timing)
    batch, lengths = batch_sounds(heard)
    descriptions = TextBatch(tokens([describe_in(sounds[i], l) for i, l in zip(pick, langs)]),
                             [sounds[i].content_key() + l for i, l in zip(pick, langs)])
    return SoundBatch(batch, descriptions, lengths, torch.from_numpy(np.stack(begun)))


def heard_and_timed(sound: Sound, clean: np.ndarray, stage: EncoderStage, rng: random.Random
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The sound as the studio hears it (augmented, trimmed) and how many beeps have begun by the end of each of
    its time tokens (tokens,), from the clean samples' beeps carried through the shift and the trim."""
    wave, offset = heard_with_offset(clean, rng, stage.audio_trim_below_db)
    onsets = beep_onsets(clean) + offset if sound.kind == "beeps" else np.zeros(0, np.int64)
    onsets = onsets[(onsets >= 0) & (onsets < len(wave))]
    return wave, begun_by_token(onsets, len(wave), int(stage.audio_min_seconds * 16_000), stage.audio_tokens)


def encoder_models(stage: EncoderStage, vocab_size: int
                   ) -> tuple[CLIP, MiniAudioEncoder, RegionAttributeHeads, PooledPlaceHeads, PatchAttributeHeads,
                              BeepCountHead]:
    """The picture-text model (its picture tower giving patch tokens), the audio encoder, the region attribute heads
    over the patch tokens, the place heads over the captions' embeddings, the per-patch heads and the beep head over
    the sound's time tokens, untrained."""
    clip = build_clip(stage, vocab_size)
    clip.visual.output_tokens = True                   # the attribute heads read the patch tokens
    audio = MiniAudioEncoder(MiniAudioConfig(embed_dim=stage.embed_dim, tokens=stage.audio_tokens,
                                             time_stride=stage.audio_time_stride, mel_top_hz=stage.audio_mel_top_hz,
                                             min_seconds=stage.audio_min_seconds,
                                             trim_below_db=stage.audio_trim_below_db))
    return (clip, audio, RegionAttributeHeads(stage.vision_width, region_weights(stage.image_size // stage.patch_size)),
            PooledPlaceHeads(stage.embed_dim), PatchAttributeHeads(stage.vision_width),
            BeepCountHead(audio.config.width))


def encoder_batch(joint: bool, pool: PicturePool, sounds: list[Sound], waves: list[np.ndarray], stage: EncoderStage,
                  rng: random.Random, tokens
                  ) -> tuple[torch.Tensor, list[Scene], torch.Tensor, TextBatch | None, SoundBatch | None]:
    """One step's pictures (2B, 3, H, W), their scenes and the object each patch shows (2B, grid²), and in the
    joint phase captions and sounds; on the CPU."""
    pictures, scenes, owner = picture_batch(pool, stage, rng, partners=joint)
    captions = caption_batch(scenes, rng, tokens) if joint else None
    return pictures, scenes, owner, captions, sound_batch(sounds, waves, stage, rng, tokens) if joint else None


def encoder_loss(losses: dict[str, torch.Tensor], stage: EncoderStage, joint: bool) -> torch.Tensor:
    """The attribute loss alone in the shape phase; in the joint phase the contrastive losses and the captions'
    place loss beside it."""
    attributes = losses["attributes"] + stage.patch_loss_weight * losses["patches"]
    if not joint:
        return attributes
    return (losses["picture"] + losses["sound"] + stage.beep_loss_weight * losses["beeps"]
            + stage.attribute_loss_weight * attributes
            + stage.caption_place_weight * losses["caption places"])


def gradient_norm_clipped(objective: nn.Module, limit: float | None, accelerator: Accelerator) -> float:
    """The gradient's norm before clipping; above `limit` (None: no limit) the gradient is scaled down to it."""
    return float(accelerator.clip_grad_norm_(objective.parameters(), float("inf") if limit is None else limit))


def train_encoders(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    stage, work = suite.encoders, Path(suite.work_dir)
    torch.manual_seed(suite.seed)
    rng = random.Random(f"encoders-{suite.seed}-{accelerator.process_index}")
    clip, audio, heads, caption_places, patch_heads, beep_head = encoder_models(stage, len(tokenizer))
    optimizer = adamw(parameter_groups(clip, audio, [heads, caption_places, patch_heads, beep_head]), lr=stage.lr,
                      weight_decay=0.05)
    modules = {"clip": clip, "audio": audio, "heads": heads, "caption_places": caption_places,
               "patch_heads": patch_heads, "beep_head": beep_head}
    start, total = 0, stage.shape_steps + stage.steps
    checkpoint = work / "encoders.safetensors"
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, modules, optimizer)
        print(f"resuming encoders at step {start}")
    if start >= total:
        if accelerator.is_main_process:
            save_encoders(clip, audio, stage, tokenizer, suite.out_dir)
        return
    pool = PicturePool(stage, suite.seed)
    validation = scenes_for("validation", 400, suite.seed)
    validation_pictures = world_pictures(validation, stage.image_size)                            # (N, 3, H, W)
    sounds = sounds_for("train", stage.sounds, suite.seed)
    waves = [synthesize(s) for s in sounds]
    objective, optimizer = accelerator.prepare(EncoderObjective(clip, audio, heads, caption_places, patch_heads,
                                                                beep_head),
                                               optimizer)
    tokens = text_tokens(tokenizer, stage, torch.device("cpu"))
    batches = batches_ahead(lambda step: encoder_batch(step >= stage.shape_steps, pool, sounds, waves, stage, rng,
                                                       tokens), range(start, total))
    bar = tqdm(range(start, total), desc="encoders", initial=start, total=total)
    for step, (pictures, scenes, owner, captions, heard) in zip(bar, batches):
        set_learning_rates(optimizer, step, stage)
        joint = step >= stage.shape_steps
        if joint:
            rest_stem_in_joint_phase(clip, stage)
            captions, heard = captions.to(accelerator.device), heard.to(accelerator.device)
        losses = objective(pictures.to(accelerator.device), scenes, owner, captions, heard)
        loss = encoder_loss(losses, stage, joint)
        optimizer.zero_grad()
        accelerator.backward(loss)
        norm = gradient_norm_clipped(objective, stage.joint_max_grad_norm if joint else stage.shape_max_grad_norm,
                                     accelerator)
        optimizer.step()
        bar.set_postfix({**{name: f"{value.item():.3f}" for name, value in losses.items()}, "grad": f"{norm:.2f}"})
        if step + 1 in (stage.shape_steps, total):
            accuracy = held_out_regions(clip, heads, validation, validation_pictures.to(accelerator.device))
            print(f"step {step + 1}: validation regions named right: "
                  + ", ".join(f"{name} {value:.3f}" for name, value in accuracy.items()))
        if accelerator.is_main_process and ((step + 1) % 250 == 0 or step + 1 in (stage.shape_steps, total)):
            work.mkdir(parents=True, exist_ok=True)
            save_checkpoint(checkpoint, modules, optimizer, step + 1)
            if step + 1 == stage.shape_steps:          # kept: the joint phase can be redone from here
                shutil.copyfile(checkpoint, work / "encoders-shape-phase.safetensors")
    check_replicas_agree(accelerator, objective, "encoders")
    if accelerator.is_main_process:
        save_encoders(clip, audio, stage, tokenizer, suite.out_dir)


def stage_for_saved_tower(stage: EncoderStage, image_encoder_dir: Path) -> EncoderStage:
    """The stage with the picture tower's architecture as saved in image_encoder_dir (size, patch, stem, width,
    layers, pooling): a later stage that trains and saves that tower keeps its architecture, whatever the recipe's
    defaults are now (a folder trained before them, such as the shipped one, stays loadable)."""
    config_path = Path(image_encoder_dir) / CONFIG_FILE
    config = json.loads(config_path.read_text())
    vision = config["model_cfg"]["vision_cfg"]
    return replace(stage, image_size=vision["image_size"], patch_size=vision["patch_size"],
                   picture_stem=stem_in(config, config_path), vision_width=vision["width"],
                   vision_layers=vision["layers"], vision_pool=vision.get("pool_type", "tok"))


def frozen_picture_tower(image_encoder_dir: Path) -> nn.Module:
    """The saved open_clip picture tower, frozen, returning (pooled, patch tokens): what the later stages read."""
    clip, _ = load_open_clip(Path(image_encoder_dir))
    clip.visual.output_tokens = True
    return clip.visual.eval().requires_grad_(False)


def save_encoders(clip: CLIP, audio: MiniAudioEncoder, stage: EncoderStage, tokenizer, out_dir: Path) -> None:
    """open_clip folder (config + safetensors + tokenizer) and a transformers-style audio folder."""
    save_image_encoder(clip, stage, tokenizer, out_dir)
    audio_dir = Path(out_dir) / "audio_encoder"
    audio.save_pretrained(str(audio_dir))
    tokenizer.save_pretrained(str(audio_dir))


def save_image_encoder(clip: CLIP, stage: EncoderStage, tokenizer, out_dir: Path) -> None:
    """open_clip folder: config, safetensors weights and the tokenizer, loadable with "local-dir:"."""
    image_dir = Path(out_dir) / "image_encoder"
    image_dir.mkdir(parents=True, exist_ok=True)
    (image_dir / CONFIG_FILE).write_text(json.dumps(open_clip_config(stage, len(tokenizer)), indent=2))
    save_file({k: v.detach().cpu().contiguous() for k, v in clip.state_dict().items()}, str(image_dir / WEIGHTS_FILE))
    tokenizer.save_pretrained(str(image_dir))
