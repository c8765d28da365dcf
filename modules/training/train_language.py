"""Stage 2 of the mini suite: the DeepSeek-V3 language model and the prefix bridge, over frozen encoders."""
from __future__ import annotations

import random
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm import tqdm
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

from ..bridge_model import PrefixBridge, PrefixBridgeConfig
from ..encoders.audio_model import MiniAudioEncoder
from ..moe_trace import ExpertRecorder, moe_gates, update_balancing_bias
from .attribute_heads import RegionAttributeHeads, cell_weights
from .augment import augment_sound, batch_sounds, mirror, resample_blur, training_picture
from .balance_loss import RouterScores, sequence_balance_loss
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .corpus import scenes_for, sounds_for
from .lm_data import ChatTokens, Example, picture_turn, sample_example
from .suite_config import LanguageStage, SuiteConfig
from .world_pictures import Scene
from .world_sounds import synthesize


def language_model_config(stage: LanguageStage, tokenizer) -> DeepseekV3Config:
    return DeepseekV3Config(
        vocab_size=len(tokenizer), hidden_size=stage.hidden, intermediate_size=stage.dense_width,
        moe_intermediate_size=stage.expert_width, num_hidden_layers=stage.layers,
        num_attention_heads=stage.heads, num_key_value_heads=stage.heads,
        n_shared_experts=stage.shared_experts, n_routed_experts=stage.routed_experts,
        num_experts_per_tok=stage.experts_per_token, n_group=1, topk_group=1, routed_scaling_factor=1.0,
        first_k_dense_replace=stage.dense_layers, norm_topk_prob=True,
        kv_lora_rank=stage.kv_lora_rank, q_lora_rank=stage.q_lora_rank, qk_rope_head_dim=stage.rope_dim,
        qk_nope_head_dim=stage.nope_dim, v_head_dim=stage.value_dim, max_position_embeddings=stage.context,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def load_frozen_encoders(out_dir: Path) -> tuple[torch.nn.Module, MiniAudioEncoder]:
    clip, _, _ = open_clip.create_model_and_transforms(f"local-dir:{Path(out_dir) / 'image_encoder'}")
    clip.visual.output_tokens = True
    audio = MiniAudioEncoder.from_pretrained(str(Path(out_dir) / "audio_encoder"))
    for module in (clip, audio):
        module.eval().requires_grad_(False)
    return clip.visual, audio


class MediaPools:
    """Training pictures (rendered once, some with JPEG artefacts) and sounds, ready to be augmented."""

    def __init__(self, stage: LanguageStage, seed: int):
        rng = random.Random(f"lm-pools-{seed}")
        self.scenes = scenes_for("train", stage.scenes, seed + 1)
        self.pictures = torch.stack([training_picture(s, rng) for s in self.scenes])  # (N, 3, 64, 64)
        self.sounds = sounds_for("train", stage.sounds, seed + 1)
        self.waves = [synthesize(s) for s in self.sounds]


def media_prefixes(examples: list[Example], pools: MediaPools, vision, audio, bridge, rng: random.Random,
                   device: torch.device, by_place: bool, global_dropout: float
                   ) -> tuple[dict[str, torch.Tensor], list[Scene]]:
    """Encode this batch's pictures and sounds and project them: kind -> (n, tokens, hidden), and the scenes the
    pictures show (mirrored where the picture was)."""
    out, scenes = {}, []
    pictured = [e for e in examples if e.media == "image"]
    if pictured:
        pictures = pools.pictures[[e.picture_index for e in pictured]].to(device)
        pictures, scenes = mirror(pictures, [e.scene for e in pictured], [rng.random() < 0.5 for _ in pictured])
        for example, scene in zip(pictured, scenes):
            example.turns = example.turns + [picture_turn(scene, rng, by_place)]
        with torch.no_grad():
            pooled, patch_tokens = vision(resample_blur(pictures, rng))                 # (n, D), (n, 64, width)
        prefix = bridge.project_image(patch_tokens, F.normalize(pooled, dim=-1))          # (n, G + cells², H)
        out["image"] = hide_global_tokens(prefix, bridge, global_dropout, rng)
    heard = [e for e in examples if e.media == "audio"]
    if heard:
        waves = batch_sounds([augment_sound(pools.waves[e.sound_index], rng) for e in heard]).to(device)
        with torch.no_grad():
            _, audio_tokens = audio(waves)                                              # (n, T, width)
        out["audio"] = bridge.project_audio(audio_tokens)
    return out, scenes


def cell_attribute_heads(config: PrefixBridgeConfig, hidden: int) -> RegionAttributeHeads:
    """Colour, shape and size heads on the bridge's cell for each place (dropped after training): the cells carry
    all three, but the language model read only shape, size and place from them and took colour from the summary
    tokens, where colours of several objects blur together."""
    return RegionAttributeHeads(hidden, cell_weights(config.image_grid, config.image_pool_margin, config.image_pool))


def hide_global_tokens(prefix: torch.Tensor, bridge: PrefixBridge, share: float, rng: random.Random) -> torch.Tensor:
    """For a random share of the pictures, the global tokens keep only their place vectors: the language model must
    then read every object from the cells. prefix (n, G + cells², H)."""
    globals_ = bridge.config.image_global_tokens
    hidden = torch.tensor([rng.random() < share for _ in range(prefix.shape[0])], device=prefix.device)
    if not globals_ or not hidden.any():
        return prefix
    bare = bridge.image_positions[:globals_].expand(prefix.shape[0], -1, -1)                # (n, G, H)
    head = torch.where(hidden[:, None, None], bare, prefix[:, :globals_])
    return torch.cat([head, prefix[:, globals_:]], dim=1)


def splice(embeds: torch.Tensor, input_ids: torch.Tensor, marker_id: int, prefix: torch.Tensor) -> torch.Tensor:
    """Put prefix embeddings where the marker tokens are. embeds (B, T, H); prefix (n, tokens, H)."""
    mask = (input_ids == marker_id).unsqueeze(-1)                                        # (B, T, 1)
    flat = torch.zeros_like(embeds)
    flat[mask.expand_as(embeds)] = prefix.reshape(-1).to(embeds.dtype)
    return torch.where(mask, flat, embeds)


def train_language(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    stage, work = suite.language, Path(suite.work_dir)
    torch.manual_seed(suite.seed)
    rng = random.Random(f"language-{suite.seed}-{accelerator.process_index}")
    vision, audio = (m.to(accelerator.device) for m in load_frozen_encoders(suite.out_dir))
    model = DeepseekV3ForCausalLM(language_model_config(stage, tokenizer))
    bridge = PrefixBridge(PrefixBridgeConfig(image_width=vision.proj.shape[0], audio_width=audio.config.width,
                                             audio_tokens=audio.config.tokens, lm_hidden=stage.hidden,
                                             image_embed_dim=vision.proj.shape[1],
                                             image_global_tokens=stage.image_global_tokens,
                                             image_pool_margin=stage.image_pool_margin,
                                             audio_global_tokens=stage.audio_global_tokens))
    cell_heads = cell_attribute_heads(bridge.config, stage.hidden)
    trained = {"lm": model, "bridge": bridge} | ({"cell_heads": cell_heads} if stage.cell_attribute_weight else {})
    optimizer = torch.optim.AdamW([p for module in trained.values() for p in module.parameters()], lr=stage.lr,
                                  weight_decay=0.05, betas=(0.9, 0.95))
    checkpoint, start = work / "language.safetensors", 0
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, trained, optimizer)
        print(f"resuming language model at step {start}")
    chat = ChatTokens(tokenizer, bridge.config.image_tokens, bridge.config.audio_prefix_tokens)
    markers = {kind: tokenizer.convert_tokens_to_ids(f"<|{kind}|>") for kind in ("image", "audio")}
    pools = MediaPools(stage, suite.seed) if start < stage.steps else None
    model, bridge, optimizer = accelerator.prepare(model, bridge, optimizer)
    cell_heads.to(accelerator.device)
    recorder = ExpertRecorder(accelerator.unwrap_model(model))
    # the balance loss needs the routers' logits with gradients; hooked only when that loss is on
    routers = RouterScores(moe_gates(accelerator.unwrap_model(model)) if stage.sequence_balance_weight else {})
    bar = tqdm(range(start, stage.steps), desc="language", initial=start, total=stage.steps)
    with recorder, routers:
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, stage.steps, stage.lr, 150)
            examples = [sample_example(rng, pools.scenes, pools.sounds) for _ in range(stage.batch)]
            prefixes, scenes = media_prefixes(examples, pools, vision, audio, accelerator.unwrap_model(bridge), rng,
                                              accelerator.device, stage.captions_by_place, stage.image_global_dropout)
            batch = chat.collate(examples).to(accelerator.device)
            embeds = accelerator.unwrap_model(model).get_input_embeddings()(batch.input_ids)
            for kind, prefix in prefixes.items():
                embeds = splice(embeds, batch.input_ids, markers[kind], prefix)
            recorder.clear()
            routers.clear()
            loss = model(inputs_embeds=embeds, attention_mask=batch.attention_mask, labels=batch.labels).loss
            if stage.sequence_balance_weight:
                loss = loss + stage.sequence_balance_weight * sequence_balance_loss(
                    routers.seen, batch.attention_mask.bool())
            if stage.cell_attribute_weight and scenes:
                cells = prefixes["image"][:, stage.image_global_tokens:]                     # (n, cells², H)
                loss = loss + stage.cell_attribute_weight * cell_heads.loss(cells, scenes)
            optimizer.zero_grad()
            accelerator.backward(loss)
            torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], 1.0)
            optimizer.step()
            update_balancing_bias(recorder, stage.routed_experts, stage.bias_update_rate,
                                  token_mask=batch.attention_mask.bool())
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if accelerator.is_main_process and ((step + 1) % 250 == 0 or step + 1 == stage.steps):
                work.mkdir(parents=True, exist_ok=True)
                save_checkpoint(checkpoint, {name: accelerator.unwrap_model(module) for name, module in trained.items()},
                                optimizer, step + 1)
    if accelerator.is_main_process:
        save_language(accelerator.unwrap_model(model), accelerator.unwrap_model(bridge), tokenizer, suite.out_dir)


def save_language(model: DeepseekV3ForCausalLM, bridge: PrefixBridge, tokenizer, out_dir: Path) -> None:
    lm_dir, bridge_dir = Path(out_dir) / "language_model", Path(out_dir) / "bridge"
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(str(lm_dir))
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.save_pretrained(str(lm_dir))
    bridge.save_pretrained(str(bridge_dir))
