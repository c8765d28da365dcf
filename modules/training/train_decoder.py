"""Stage 3 of the mini suite: a tiny latent diffusion decoder (VAE + UNet) conditioned on the CLIP text tower."""
from __future__ import annotations

import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, StableDiffusionPipeline,
                       UNet2DConditionModel)
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm
from transformers import CLIPTextConfig, CLIPTextModel

from .adamw import adamw
from .augment import mirror, picture_to_tensor
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .corpus import single_object_scenes_for
from .replicas import check_replicas_agree
from .suite_config import DecoderStage, SuiteConfig
from .train_encoders import frozen_picture_tower
from ..world.pictures import RenderStyle, render_scene
from ..world.talk import draw_prompt


def text_encoder_from_open_clip(image_encoder_dir: Path) -> CLIPTextModel:
    """The open_clip text tower's weights in a transformers CLIPTextModel (as Stable Diffusion 2 did with OpenCLIP)."""
    import json
    cfg = json.loads((image_encoder_dir / "open_clip_config.json").read_text())["model_cfg"]
    text, state = cfg["text_cfg"], load_file(str(image_encoder_dir / "open_clip_model.safetensors"))
    width = text["width"]
    config = CLIPTextConfig(vocab_size=text["vocab_size"], hidden_size=width, intermediate_size=4 * width,
                            num_hidden_layers=text["layers"], num_attention_heads=text["heads"],
                            max_position_embeddings=text["context_length"], hidden_act="gelu",
                            projection_dim=cfg["embed_dim"], pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = CLIPTextModel(config)
    mapped = {"embeddings.token_embedding.weight": state["token_embedding.weight"],
              "embeddings.position_embedding.weight": state["positional_embedding"],
              "final_layer_norm.weight": state["ln_final.weight"],
              "final_layer_norm.bias": state["ln_final.bias"]}
    for i in range(text["layers"]):
        src, dst = f"transformer.resblocks.{i}.", f"encoder.layers.{i}."
        q, k, v = state[src + "attn.in_proj_weight"].chunk(3)
        qb, kb, vb = state[src + "attn.in_proj_bias"].chunk(3)
        for name, w, b in (("q_proj", q, qb), ("k_proj", k, kb), ("v_proj", v, vb)):
            mapped[dst + f"self_attn.{name}.weight"], mapped[dst + f"self_attn.{name}.bias"] = w, b
        pairs = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
                 "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
        for hf_name, oc_name in pairs.items():
            mapped[dst + hf_name + ".weight"] = state[src + oc_name + ".weight"]
            mapped[dst + hf_name + ".bias"] = state[src + oc_name + ".bias"]
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    return model.eval().requires_grad_(False)


def build_vae(stage: DecoderStage) -> AutoencoderKL:
    levels = len(stage.vae_blocks)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=stage.latent_channels,
                         down_block_types=("DownEncoderBlock2D",) * levels,
                         up_block_types=("UpDecoderBlock2D",) * levels,
                         block_out_channels=stage.vae_blocks, layers_per_block=1, norm_num_groups=16,
                         sample_size=stage.picture_size)


def latent_side(stage: DecoderStage) -> int:
    """Each VAE level after the first halves the side: 64 px with 4 levels -> 8x8 latents."""
    return stage.picture_size // 2 ** (len(stage.vae_blocks) - 1)


def build_unet(stage: DecoderStage, text_width: int) -> UNet2DConditionModel:
    return UNet2DConditionModel(sample_size=latent_side(stage), in_channels=stage.latent_channels,
                                out_channels=stage.latent_channels, layers_per_block=1,
                                block_out_channels=(64, 128), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=text_width,
                                attention_head_dim=8, norm_num_groups=32)


class DrawingPool:
    """Single-object pictures at the decoder's size, with the scenes they show."""

    def __init__(self, stage: DecoderStage, seed: int):
        self.scenes = single_object_scenes_for("train", stage.scenes, seed)
        style = RenderStyle(size=stage.picture_size, shade_jitter=8, position_jitter=0.02)
        self.pictures = torch.stack([picture_to_tensor(render_scene(s, style)) for s in self.scenes])  # (N,3,s,s)


def foreground_mask(pictures: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W): 1 where a pixel is unlike the corner's background (the object), else 0. pictures (B, 3, H, W)."""
    background = pictures[:, :, :1, :1]                                               # (B, 3, 1, 1)
    return ((pictures - background).abs().sum(dim=1, keepdim=True) > 0.15).float()


FOREGROUND_WEIGHT = 20.0     # an object covers 1-6 % of the picture; unweighted, the VAE learnt a brown blob


def foreground_weighted_mse(recon: torch.Tensor, pictures: torch.Tensor) -> torch.Tensor:
    """Squared error with the object's pixels (those unlike the corner's background) counted 21 times.
    (B, 3, H, W) each."""
    return ((recon - pictures) ** 2 * (1 + FOREGROUND_WEIGHT * foreground_mask(pictures))).mean()


def at_tower_size(tower: torch.nn.Module, pictures: torch.Tensor) -> torch.Tensor:
    """Pictures (B, 3, h, w) brought to the picture tower's own size (B, 3, H, W), as the studio's preprocessing
    brings a drawing: bicubic."""
    side = tower.image_size[0]
    if pictures.shape[-1] == side:
        return pictures
    return F.interpolate(pictures, size=(side, side), mode="bicubic", align_corners=False)


def perceptual_distance(features: torch.nn.Module, recon: torch.Tensor, pictures: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of the picture tower's patch tokens, over the patches the object touches: the features
    that tell shapes apart (the tower was trained with per-region attribute heads). Averaged over all 64 patches,
    a triangle for a star cost less than faint noise everywhere. (B, 3, H, W) each."""
    recon, pictures = at_tower_size(features, recon), at_tower_size(features, pictures)
    _, recon_tokens = features(recon)                                                  # (B, patches, width)
    with torch.no_grad():
        _, tokens = features(pictures)
        side = math.isqrt(tokens.shape[1])
        touched = (F.adaptive_max_pool2d(foreground_mask(pictures), side).flatten(1) > 0).float()   # (B, patches)
    per_patch = 1 - F.cosine_similarity(recon_tokens, tokens, dim=-1)                   # (B, patches)
    return (per_patch * touched).sum() / touched.sum().clamp(min=1)


class VAEObjective(nn.Module):
    """Both VAE phases as one module's forward, so that `accelerate launch` wraps one model: first the whole VAE on
    pixels (and the perceptual distance, with perceptual_from_start); then its decoder alone on pixels and the
    perceptual distance, with the encoder (so the latents the UNet learns) unchanged. Pixel error alone let small
    stars and triangles come back as blobs."""

    def __init__(self, vae: AutoencoderKL, features: nn.Module, perceptual_weight: float, perceptual_from_start: bool):
        super().__init__()
        self.vae, self.features, self.perceptual_weight = vae, features, perceptual_weight
        self.perceptual_from_start = perceptual_from_start

    def forward(self, pictures: torch.Tensor, decoder_only: bool) -> torch.Tensor:
        """pictures (B, 3, side, side) -> the phase's loss."""
        if decoder_only:
            with torch.no_grad():
                latents = self.vae.encode(pictures).latent_dist.sample()
            recon = self.vae.decode(latents).sample
            return (foreground_weighted_mse(recon, pictures)
                    + self.perceptual_weight * perceptual_distance(self.features, recon, pictures))
        posterior = self.vae.encode(pictures).latent_dist
        recon = self.vae.decode(posterior.sample()).sample
        loss = foreground_weighted_mse(recon, pictures) + 1e-6 * posterior.kl().mean()
        if self.perceptual_from_start:
            loss = loss + self.perceptual_weight * perceptual_distance(self.features, recon, pictures)
        return loss


def train_vae_phase(objective: nn.Module, vae: AutoencoderKL, pool: DrawingPool, stage: DecoderStage, work: Path,
                    rng: random.Random, accelerator: Accelerator, decoder_only: bool) -> None:
    """One VAE phase, resumable from its own checkpoint; objective is the (wrapped) VAEObjective over vae."""
    trained = [vae.post_quant_conv, vae.decoder] if decoder_only else [vae]
    steps = stage.vae_decoder_steps if decoder_only else stage.vae_steps
    optimizer = adamw([p for m in trained for p in m.parameters()], lr=stage.lr)
    checkpoint, start = work / ("vae-decoder.safetensors" if decoder_only else "vae.safetensors"), 0
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, {"vae": vae}, optimizer)
    optimizer = accelerator.prepare(optimizer)
    for step in tqdm(range(start, steps), desc="vae decoder" if decoder_only else "vae", initial=start, total=steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, stage.lr, 50)
        pictures = pool.pictures[rng.sample(range(len(pool.scenes)), stage.vae_batch)].to(vae.device)  # (B,3,s,s)
        loss = objective(pictures, decoder_only)
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        if accelerator.is_main_process and ((step + 1) % 200 == 0 or step + 1 == steps):
            save_checkpoint(checkpoint, {"vae": vae}, optimizer, step + 1)


@torch.no_grad()
def pool_latents(vae: AutoencoderKL, pictures: torch.Tensor) -> torch.Tensor:
    """(N, 3, side, side) -> latent means (N, 4, 8, 8) (side / 2 ** (levels - 1)), in chunks."""
    return torch.cat([vae.encode(chunk.to(vae.device)).latent_dist.mean for chunk in pictures.split(256)])


def train_unet(unet, vae, text_encoder, tokenizer, pool: DrawingPool, stage: DecoderStage, work: Path,
               rng: random.Random, accelerator: Accelerator) -> None:
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                              prediction_type="v_prediction")
    latents = {flip: pool_latents(vae, mirror(pool.pictures, pool.scenes, [flip] * len(pool.scenes))[0])
               for flip in (False, True)}
    scale = float(1.0 / latents[False].std())
    vae.register_to_config(scaling_factor=scale)
    optimizer = adamw(unet_parameter_groups(unet, text_encoder, stage), lr=stage.lr)
    trained = {"unet": unet, "text_encoder": text_encoder} if stage.text_encoder_lr else {"unet": unet}
    checkpoint, start = work / "unet.safetensors", 0
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, trained, optimizer)
    unet, optimizer = accelerator.prepare(unet, optimizer)
    text_encoder.train(bool(stage.text_encoder_lr)).requires_grad_(bool(stage.text_encoder_lr))
    reader = accelerator.prepare(text_encoder) if stage.text_encoder_lr else text_encoder   # DDP when trained
    for step in tqdm(range(start, stage.unet_steps), desc="unet", initial=start, total=stage.unet_steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, stage.unet_steps, group["peak_lr"], 100)
        idx = rng.sample(range(len(pool.scenes)), stage.unet_batch)
        flips = [rng.random() < 0.5 for _ in idx]
        x0 = torch.stack([latents[f][i] for i, f in zip(idx, flips)]) * scale               # (B, 4, 8, 8)
        scenes = [pool.scenes[i].mirrored() if f else pool.scenes[i] for i, f in zip(idx, flips)]
        prompts = ["" if rng.random() < 0.1 else draw_prompt(s, rng.choice(["en", "zh"]), rng)[0] for s in scenes]
        ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids.to(accelerator.device)
        with torch.set_grad_enabled(bool(stage.text_encoder_lr)):
            context = reader(ids)[0]                                                        # (B, T, width)
        noise = torch.randn_like(x0)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),), device=x0.device)
        predicted = unet(scheduler.add_noise(x0, noise, t), t, encoder_hidden_states=context).sample
        loss = F.mse_loss(predicted, scheduler.get_velocity(x0, noise, t))                  # v-prediction
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        if accelerator.is_main_process and ((step + 1) % 250 == 0 or step + 1 == stage.unet_steps):
            save_checkpoint(checkpoint, {**trained, "unet": accelerator.unwrap_model(unet)}, optimizer, step + 1)
    text_encoder.eval().requires_grad_(False)


def unet_parameter_groups(unet, text_encoder, stage: DecoderStage) -> list[dict]:
    """The UNet at stage.lr and, when stage.text_encoder_lr is not 0, the decoder's own copy of the text tower at
    that rate (each group's peak, which the cosine schedule scales)."""
    groups = [{"params": list(unet.parameters()), "peak_lr": stage.lr}]
    if stage.text_encoder_lr:
        groups.append({"params": list(text_encoder.parameters()), "lr": stage.text_encoder_lr,
                       "peak_lr": stage.text_encoder_lr})
    return groups


def sampling_scheduler() -> DDIMScheduler:
    """DDIM on the training noise schedule and target (v), without clipping (latents are not bounded to [-1, 1]).

    The UNet predicts v rather than the noise: at the noisiest steps a noise prediction says little about the
    picture, and the few-step sampler starts there. The multistep solvers (DPM-Solver++, UniPC) diverged on this
    cosine schedule at 12 steps; DDIM does not."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction")


def train_decoder(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    stage, work = suite.decoder, Path(suite.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(suite.seed)
    rng = random.Random(f"decoder-{suite.seed}-{accelerator.process_index}")
    text_encoder = text_encoder_from_open_clip(Path(suite.out_dir) / "image_encoder").to(accelerator.device)
    if not 1 <= stage.prompt_tokens <= text_encoder.config.max_position_embeddings:
        raise ValueError(f"prompt_tokens must be in 1..{text_encoder.config.max_position_embeddings} (the text "
                         f"tower's positions); got {stage.prompt_tokens}.")
    tokenizer.model_max_length = stage.prompt_tokens      # what the pipeline pads and cuts every prompt to
    pool = DrawingPool(stage, suite.seed)
    vae = build_vae(stage).to(accelerator.device)
    features = frozen_picture_tower(Path(suite.out_dir) / "image_encoder").to(accelerator.device)
    vae_objective = accelerator.prepare(VAEObjective(vae, features, stage.perceptual_weight,
                                                     stage.perceptual_from_start))
    for decoder_only in (False, True):
        train_vae_phase(vae_objective, vae, pool, stage, work, rng, accelerator, decoder_only)
    check_replicas_agree(accelerator, vae, "vae")
    vae.eval().requires_grad_(False)
    unet = build_unet(stage, text_encoder.config.hidden_size)
    train_unet(unet, vae, text_encoder, tokenizer, pool, stage, work, rng, accelerator)
    check_replicas_agree(accelerator, unet, "unet")
    check_replicas_agree(accelerator, text_encoder, "the decoder's text tower")
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=accelerator.unwrap_model(unet).eval(),
        scheduler=sampling_scheduler(), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    if accelerator.is_main_process:
        pipeline.to("cpu").save_pretrained(str(Path(suite.out_dir) / "image_decoder"), safe_serialization=True)
