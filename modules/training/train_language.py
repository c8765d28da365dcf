"""Stage 2 of the mini suite: the DeepSeek-V3 language model and the prefix bridge, over frozen encoders."""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from tqdm import tqdm
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

from ..bridge_model import PrefixBridge, PrefixBridgeConfig
from ..encoders.audio_model import MiniAudioEncoder
from ..moe_trace import ExpertRecorder, moe_gates, update_balancing_bias
from .adamw import adamw
from .attribute_heads import RegionAttributeHeads, cell_weights
from .augment import heard_as_in_studio, mirror, resample_blur, training_picture, training_sound
from .balance_loss import RouterScores, sequence_balance_loss
from .batches_ahead import batches_ahead
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .corpus import scenes_for, sounds_for
from .fact_heads import scene_fact_head, sound_fact_head
from .grounding import caption_grounding_loss, grounding_loss, name_lookup_loss, names_in, place_readout_loss
from .index_add_experts import use_index_add_experts
from .lm_data import (IGNORE, Batch, ChatTokens, Example, picture_turn, sample_example, sample_sound_example,
                      search_turns)
from .packing import Packing
from .replicas import check_replicas_agree
from .suite_config import LanguageStage, SuiteConfig
from .threads_back import take_back_if_free
from .train_encoders import frozen_picture_tower
from ..world.pictures import Scene
from ..world.sounds import Sound, synthesize
from ..world.talk import QuestionMix
from ..world.studio_search import StudioSearchTurns


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
    audio = MiniAudioEncoder.from_pretrained(str(Path(out_dir) / "audio_encoder"))
    return frozen_picture_tower(Path(out_dir) / "image_encoder"), audio.eval().requires_grad_(False)


class MediaPools:
    """Training pictures (rendered once, some with JPEG artefacts) and sounds (synthesised when drawn: that takes
    about a millisecond), ready to be augmented."""

    def __init__(self, stage: LanguageStage, seed: int, side: int, sounds_only: bool = False):
        """side: the picture encoder's size in pixels. sounds_only: no pictures, and stage.sound_phase_sounds sounds
        rather than stage.sounds."""
        self.scenes, self.pictures = ([], None) if sounds_only else pictured_scenes(stage.scenes, seed,
                                                                                     stage.free_share, side)
        self.sounds = sounds_for("train", stage.sound_phase_sounds if sounds_only else stage.sounds, seed + 1)


@functools.lru_cache(maxsize=1)
def pictured_scenes(count: int, seed: int, free_share: float, side: int) -> tuple[list[Scene], torch.Tensor]:
    """The phases' training scenes and their pictures (count, 3, side, side), rendered once for all the phases that
    run in this process (about 16 s on two cores at 64 pixels; a share `free_share` drawn the ways people draw).
    Read only: augmentations make new tensors."""
    rng = random.Random(f"lm-pools-{seed}")
    scenes = scenes_for("train", count, seed + 1)
    return scenes, torch.stack([training_picture(s, rng, free_share, side) for s in scenes])


@dataclass
class MediaInputs:
    """What the frozen encoders made of a batch's pictures and sounds; the bridge turns them into prefixes."""

    patch_tokens: torch.Tensor | None = None   # (n, grid², width)
    pooled: torch.Tensor | None = None         # (n, D), normalised
    hidden: torch.Tensor | None = None         # (n,) bool: pictures whose summary tokens are hidden
    scenes: list[Scene] = field(default_factory=list)   # what the pictures show (mirrored where the picture was)
    groundings: list[tuple[str, ...] | None] = field(default_factory=list)  # per picture: Exchange.about of its turn
    names: list[tuple] = field(default_factory=list)    # per picture: the names its question uses (names_in)
    described: list[tuple[str, ...] | None] = field(default_factory=list)   # per picture: Exchange.described
    audio_tokens: torch.Tensor | None = None   # (m, T, width)
    sounds: list[Sound] = field(default_factory=list)   # what the sounds are


def add_picture_requests(examples: list[Example], rng: random.Random, stage: LanguageStage, phase: "Phase") -> None:
    """Give each picture example its request, about the picture as shown (flipped left-right half the time): a
    caption in the phase's caption_share of them, else a question."""
    for example in examples:
        if example.media != "image":
            continue
        example.mirrored = rng.random() < 0.5
        shown = example.shown_scene()
        example.request = picture_turn(shown, rng, stage.captions_by_place, stage.questions_think_first,
                                       phase.caption_share, phase.questions)
        example.turns = example.turns + [(example.request.question, example.request.answer)]


def encode_media(examples: list[Example], pools: MediaPools, vision, audio, rng: random.Random, device: torch.device,
                 stage: LanguageStage) -> MediaInputs:
    """Augment and encode this batch's pictures (with their requests already drawn: add_picture_requests) and
    sounds."""
    media = MediaInputs()
    pictured = [e for e in examples if e.media == "image"]
    if pictured:
        pictures = pools.pictures[[e.picture_index for e in pictured]].to(device)
        pictures, media.scenes = mirror(pictures, [e.scene for e in pictured], [e.mirrored for e in pictured])
        for example, scene in zip(pictured, media.scenes):
            media.groundings.append(example.request.about)
            media.names.append(names_in(example.request.question, scene, example.request.language))
            media.described.append(example.request.described)
        with torch.no_grad():
            pooled, media.patch_tokens = vision(resample_blur(pictures, rng))           # (n, D), (n, 64, width)
        media.pooled = F.normalize(pooled, dim=-1)
        media.hidden = torch.tensor([rng.random() < stage.image_global_dropout for _ in pictured], device=device)
    heard = [e for e in examples if e.media == "audio"]
    if heard:
        media.sounds = [pools.sounds[e.sound_index] for e in heard]
        made = [pools.sounds[e.sound_index] for e in heard]
        waves = [heard_as_in_studio(training_sound(sound, synthesize(sound), rng, stage.free_share), rng,
                                    audio.config.trim_below_db) for sound in made]
        media.audio_tokens = time_tokens_one_by_one(audio, waves, device)               # (m, T, width)
    return media


@torch.no_grad()
def time_tokens_one_by_one(audio: MiniAudioEncoder, waves: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Each sound's time tokens as the studio makes them, from that sound alone: its tokens span its own length
    (at least 3 s). Padded to the batch's longest sound (3.0 to 3.3 s), a short sound's beeps fell on other tokens
    than in the studio, and the example three beeps, heard as four in the studio, came out three when padded
    to 3.1 s or more. waves: (samples,) each -> (m, T, width)."""
    return torch.cat([audio(torch.from_numpy(wave)[None].to(device))[1] for wave in waves])


class LanguageObjective(nn.Module):
    """The language model, the bridge and the auxiliary heads that are on, in one module, so that `accelerate
    launch` wraps one model for data-parallel training and the prefixes are made inside its forward."""

    def __init__(self, model: DeepseekV3ForCausalLM, bridge: PrefixBridge, heads: dict[str, nn.Module],
                 markers: dict[str, int], loss_per_example: bool = False):
        """heads: the auxiliary heads that are on, by the name of their loss (see auxiliary_heads)."""
        super().__init__()
        self.model, self.bridge, self.markers = model, bridge, markers
        self.heads = nn.ModuleDict(heads)
        self.loss_per_example = loss_per_example

    def forward(self, batch, media: MediaInputs, packing: Packing) -> dict[str, torch.Tensor]:
        """batch: input_ids, attention_mask, labels (B, T) -> the next-token loss ("text") and each auxiliary
        head's loss, by its name. The model runs on the batch's examples laid out as `packing` says; the losses
        read its logits and attention weights back in the batch's rows."""
        embeds = self.model.get_input_embeddings()(batch.input_ids)                      # (B, T, H)
        losses = {}
        if media.patch_tokens is not None:
            prefix = self.bridge.project_image(media.patch_tokens, media.pooled)          # (n, G + cells², H)
            prefix = hide_global_tokens(prefix, self.bridge, media.hidden)
            embeds = splice(embeds, batch.input_ids, self.markers["image"], prefix)
            cells = prefix[:, self.bridge.config.image_global_tokens:]                       # (n, cells², H)
            if "cells" in self.heads:
                losses["cells"] = self.heads["cells"].loss(cells, media.scenes)
            if "scene_facts" in self.heads:
                losses["scene_facts"] = self.heads["scene_facts"].loss(cells, media.scenes)
        if media.audio_tokens is not None:
            prefix = self.bridge.project_audio(media.audio_tokens)                        # (m, audio prefix, H)
            if "sound_facts" in self.heads:
                summary = prefix[:, :self.bridge.config.audio_global_tokens]               # (m, G, H)
                losses["sound_facts"] = self.heads["sound_facts"].loss(summary, media.sounds)
            embeds = splice(embeds, batch.input_ids, self.markers["audio"], prefix)
        with HeadOutputs(self.model, {self.heads[name].layer for name in OUTPUT_LOSSES if name in self.heads}
                         ) as head_outputs:
            predicted, out = packed_text_losses(self.model, embeds, batch.labels, packing,
                                                reads_attention(self.heads))
        losses["text"] = (per_example_loss(predicted, batch.labels) if self.loss_per_example
                          else token_loss(predicted, batch.labels))
        targets = {"grounding": media.groundings, "naming": media.names,           # per picture, by loss
                   "captions": media.described}
        attentions = {layer: packing.unpack_attention(out.attentions[layer], batch.input_ids.shape[1])  # (B, h, T, T)
                      for layer in {self.heads[name].layer for name in ATTENTION_LOSSES if name in self.heads}}
        for name in ATTENTION_LOSSES:
            if name in self.heads:
                losses[name] = self.heads[name](attentions, batch.input_ids, batch.labels,
                                                rows_of_pictures(batch.media, targets[name]))
        if "places" in self.heads:
            outputs = {layer: packing.unpack(packed, batch.input_ids.shape[1])             # (B, T, heads * value)
                       for layer, packed in head_outputs.items()}
            losses["places"] = self.heads["places"](outputs, batch.input_ids, batch.labels,
                                                    rows_of_pictures(batch.media, media.groundings))
        return losses


ATTENTION_LOSSES = ("grounding", "naming", "captions")   # the losses that read the attention weights (grounding.py)
OUTPUT_LOSSES = ("places",)                              # the losses that read the attention heads' outputs


class HeadOutputs:
    """While open, the attention heads' outputs of some layers as the model last ran: by layer, (R, L, heads *
    value_dim), the input of that layer's output projection."""

    def __init__(self, model: DeepseekV3ForCausalLM, layers: set[int]):
        self.model, self.layers = model, layers
        self.outputs: dict[int, torch.Tensor] = {}
        self.hooks = []

    def __enter__(self) -> dict[int, torch.Tensor]:
        for layer in self.layers:
            projection = self.model.model.layers[layer].self_attn.o_proj
            self.hooks.append(projection.register_forward_pre_hook(
                lambda module, inputs, layer=layer: self.outputs.__setitem__(layer, inputs[0])))
        return self.outputs

    def __exit__(self, *exc) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()


def reads_attention(heads: dict[str, nn.Module]) -> bool:
    return any(name in heads for name in ATTENTION_LOSSES)


def rows_of_pictures(row_media: list[str | None], values: list) -> list:
    """values, one per picture in batch order -> one per row (None in the rows without a picture)."""
    given = iter(values)
    return [next(given) if kind == "image" else None for kind in row_media]


def packed_text_losses(model: DeepseekV3ForCausalLM, embeds: torch.Tensor, labels: torch.Tensor, packing: Packing,
                       output_attentions: bool = False):
    """The model on the batch's examples packed as `packing` says -> (next_token_losses back in the batch's rows,
    (B, T); the model's output on the packed (R, L) rows). embeds (B, T, H); labels (B, T)."""
    out = model(inputs_embeds=packing.pack(embeds), position_ids=packing.position_ids().to(embeds.device),
                use_cache=False, output_attentions=output_attentions)
    # each example's first label (its <bos>) is IGNORE, so no loss reads across examples
    packed_labels = packing.pack(labels, fill=IGNORE)
    return packing.unpack(next_token_losses(out.logits, packed_labels), labels.shape[1]), out


def next_token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """At each position, the cross-entropy of its label as predicted from the position before; 0 at the first
    position and wherever the label is IGNORE. logits (B, T, V); labels (B, T) -> (B, T)."""
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), labels[:, 1:], ignore_index=IGNORE,
                                reduction="none")                                        # (B, T-1)
    return F.pad(per_token, (1, 0))


def token_loss(losses: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy averaged over the batch's answer tokens.
    losses (B, T): next_token_losses; labels (B, T), IGNORE where no loss."""
    return losses.sum() / (labels[:, 1:] != IGNORE).sum().clamp(min=1)


def per_example_loss(losses: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy averaged within each example, then over examples: a short answer weighs as much as
    a long caption. losses (B, T): next_token_losses; labels (B, T), IGNORE where no loss."""
    counted = (labels[:, 1:] != IGNORE).float().sum(dim=1)                               # (B,)
    return (losses.sum(dim=1) / counted.clamp(min=1.0)).mean()


def cell_attribute_heads(config: PrefixBridgeConfig, hidden: int) -> RegionAttributeHeads:
    """Colour, shape and size heads on the bridge's cell for each place (dropped after training): the cells carry
    all three, but the language model read only shape, size and place from them and took colour from the summary
    tokens, where colours of several objects blur together."""
    return RegionAttributeHeads(hidden, cell_weights(config))


def hide_global_tokens(prefix: torch.Tensor, bridge: PrefixBridge, hidden: torch.Tensor) -> torch.Tensor:
    """The hidden pictures' global tokens keep only their place vectors: the language model must then read every
    object from the cells. prefix (n, G + cells², H); hidden (n,) bool."""
    globals_ = bridge.config.image_global_tokens
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


@dataclass(frozen=True)
class Phase:
    """One run of training over the language model and the bridge."""

    name: str                       # the progress bar's label and the checkpoint's name
    steps: int
    lr: float
    warmup: int
    aux_weights: dict[str, float]   # the auxiliary heads to train, by the name of their loss, and their weights
    loss_per_example: bool          # next-token loss averaged per example first (else over all tokens)
    caption_share: float            # of the picture turns with a request, the share asking for a caption
    questions: QuestionMix | None = None   # how picture questions are drawn (default: every kind alike)
    sounds_only: bool = False       # every example a sound turn, and only the bridge's sound half (and the heads)
                                    # trains: the language model, its balancing bias and the picture half stay


def auxiliary_heads(phase: Phase, bridge: PrefixBridge, stage: LanguageStage, image_marker: int, tokenizer
                    ) -> dict[str, nn.Module]:
    makers = {"cells": lambda: cell_attribute_heads(bridge.config, stage.hidden),
              "scene_facts": lambda: scene_fact_head(stage.hidden),
              "sound_facts": lambda: sound_fact_head(stage.hidden),
              "grounding": lambda: grounding_loss(bridge.config, image_marker, stage.grounding_layer,
                                                  stage.grounding_head),
              "naming": lambda: name_lookup_loss(bridge.config, image_marker, stage.naming_layer, stage.naming_head,
                                                 tokenizer),
              "captions": lambda: caption_grounding_loss(bridge.config, image_marker, stage.grounding_layer,
                                                         stage.grounding_head, tokenizer),
              "places": lambda: place_readout_loss(image_marker, stage.grounding_layer, stage.grounding_head,
                                                   stage.value_dim)}
    return {name: makers[name]() for name, weight in phase.aux_weights.items() if weight}


def train_language(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """The language model and the bridge from scratch, on every task."""
    stage = suite.language
    torch.manual_seed(suite.seed)
    vision, audio = (m.to(accelerator.device) for m in load_frozen_encoders(suite.out_dir))
    model = DeepseekV3ForCausalLM(language_model_config(stage, tokenizer))
    bridge = PrefixBridge(PrefixBridgeConfig(image_width=vision.proj.shape[0], audio_width=audio.config.width,
                                             audio_tokens=audio.config.tokens, lm_hidden=stage.hidden,
                                             image_embed_dim=vision.proj.shape[1],
                                             image_global_tokens=stage.image_global_tokens,
                                             image_pool_margin=stage.image_pool_margin,
                                             image_cell_bands=stage.image_cell_bands,
                                             audio_global_tokens=stage.audio_global_tokens))
    phase = Phase("language", stage.steps, stage.lr, 150, {"cells": stage.cell_attribute_weight}, False,
                  stage.caption_share)
    run_phase(phase, suite, tokenizer, accelerator, model, bridge, (vision, audio))


def tune_on_questions(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """The saved language model and bridge, trained on further with the fact heads and the per-example loss, so
    that short answers to questions count as much as long captions."""
    stage = suite.language
    torch.manual_seed(suite.seed + 1)
    encoders, model, bridge = load_saved_language(Path(suite.out_dir), accelerator)
    phase = Phase("questions", stage.question_steps, stage.question_lr, 50, question_phase_heads(stage), True,
                  stage.question_caption_share)
    run_phase(phase, suite, tokenizer, accelerator, model, bridge, encoders)


def tune_with_grounding(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """The saved language model and bridge, trained on with the grounding loss (grounding.py) and more of the
    questions that name an object by what it is, so that one head finds the object and the answer reads it."""
    stage = suite.language
    torch.manual_seed(suite.seed + 2)
    encoders, model, bridge = load_saved_language(Path(suite.out_dir), accelerator)
    weights = question_phase_heads(stage) | {"grounding": stage.grounding_weight, "naming": stage.naming_weight,
                                             "captions": stage.caption_grounding_weight,
                                             "places": stage.place_readout_weight}
    phase = Phase("grounding", stage.grounding_steps, stage.question_lr, 50, weights, True,
                  stage.question_caption_share,
                  QuestionMix(dict(stage.grounding_question_weights), stage.grounding_balanced_yes_no,
                              stage.grounding_balanced_places, stage.grounding_lookalikes))
    run_phase(phase, suite, tokenizer, accelerator, model, bridge, encoders)


def tune_sound_bridge(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """The saved bridge's sound half trained on sound turns alone, the language model frozen: beep counts moved
    with every grounding phase, and this phase mends them without changing any answer about a picture or any text
    without a sound."""
    stage = suite.language
    torch.manual_seed(suite.seed + 3)
    encoders, model, bridge = load_saved_language(Path(suite.out_dir), accelerator)
    model.requires_grad_(False)             # gradients still pass through it to the sound prefix
    phase = Phase("sounds", stage.sound_steps, stage.sound_lr, 20, {"sound_facts": stage.sound_fact_weight}, True,
                  stage.question_caption_share, sounds_only=True)
    run_phase(phase, suite, tokenizer, accelerator, model, bridge, encoders)


def question_phase_heads(stage: LanguageStage) -> dict[str, float]:
    """The auxiliary heads of the questions phase, by the name of their loss, and their weights."""
    return {"cells": stage.cell_attribute_weight, "scene_facts": stage.fact_weight, "sound_facts": stage.fact_weight}


def load_saved_language(out: Path, accelerator: Accelerator
                        ) -> tuple[tuple[nn.Module, MiniAudioEncoder], DeepseekV3ForCausalLM, PrefixBridge]:
    """The frozen encoders, and the language model and bridge that an earlier phase saved, ready to train on."""
    encoders = tuple(m.to(accelerator.device) for m in load_frozen_encoders(out))
    model = DeepseekV3ForCausalLM.from_pretrained(str(out / "language_model")).train()
    return encoders, model, PrefixBridge.from_pretrained(str(out / "bridge"))


def run_phase(phase: Phase, suite: SuiteConfig, tokenizer, accelerator: Accelerator, model: DeepseekV3ForCausalLM,
              bridge: PrefixBridge, encoders: tuple[nn.Module, MiniAudioEncoder]) -> None:
    """Train the model and bridge over the frozen (picture, sound) encoders for the phase's steps, resuming from
    its checkpoint, then save them."""
    stage, work = suite.language, Path(suite.work_dir)
    rng = random.Random(f"{phase.name}-{suite.seed}-{accelerator.process_index}")
    vision, audio = encoders
    markers = {kind: tokenizer.convert_tokens_to_ids(f"<|{kind}|>") for kind in ("image", "audio")}
    heads = auxiliary_heads(phase, bridge, stage, markers["image"], tokenizer)
    trained = {"lm": model, "bridge": bridge} | heads
    optimizer = adamw(trained_parameters(phase, model, bridge, heads), lr=phase.lr,
                                  weight_decay=0.05, betas=(0.9, 0.95))
    checkpoint, start = work / f"{phase.name}.safetensors", 0
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, trained, optimizer)
        print(f"resuming {phase.name} at step {start}")
    chat = ChatTokens(tokenizer, bridge.config.image_tokens, bridge.config.audio_prefix_tokens)
    searched = search_turns(tokenizer, stage.context)
    if reads_attention(heads):
        model.set_attn_implementation("eager")
    if accelerator.device.type == "cpu":
        use_index_add_experts(model)        # the same gradients as grouped_mm, sooner on a CPU
    side = vision.image_size[0]                    # the saved tower's own size, whatever the recipe's default
    pools = MediaPools(stage, suite.seed, side, phase.sounds_only) if start < phase.steps else None
    objective, optimizer = accelerator.prepare(
        LanguageObjective(model, bridge, heads, markers, phase.loss_per_example), optimizer)
    recorder = ExpertRecorder(model)
    # the balance loss needs the routers' logits with gradients; hooked only when that loss is on
    routers = RouterScores(moe_gates(model) if stage.sequence_balance_weight else {})

    def make_batch(step: int) -> tuple[Batch, MediaInputs, Packing]:
        examples = draw_examples(phase, stage, pools.scenes, pools.sounds, rng, searched)
        media = encode_media(examples, pools, vision, audio, rng, accelerator.device, stage)
        batch = chat.collate(examples).to(accelerator.device)
        return batch, media, packed_rows(batch, stage)

    # on a GPU the frozen encoders run here; on a CPU a worker draws and encodes the next batches meanwhile
    batches = batches_ahead(make_batch, range(start, phase.steps), in_worker=accelerator.device.type == "cpu")
    bar = tqdm(range(start, phase.steps), desc=phase.name, initial=start, total=phase.steps)
    with recorder, routers:
        for step, (batch, media, packing) in zip(bar, batches):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, phase.steps, phase.lr, phase.warmup)
            take_back_if_free()
            recorder.clear()
            routers.clear()
            losses = objective(batch, media, packing)
            loss = losses["text"] + sum(phase.aux_weights[name] * value for name, value in losses.items()
                                        if name != "text")
            if stage.sequence_balance_weight and not phase.sounds_only:
                seen = [(packing.unpack_tokens(logits, batch.input_ids.shape[1]),
                         packing.unpack_tokens(ids, batch.input_ids.shape[1])) for logits, ids in routers.seen]
                loss = loss + stage.sequence_balance_weight * sequence_balance_loss(seen, batch.attention_mask.bool())
            optimizer.zero_grad()
            accelerator.backward(loss)
            torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], 1.0)
            optimizer.step()
            if not phase.sounds_only:
                update_balancing_bias(recorder, stage.routed_experts, stage.bias_update_rate,
                                      token_mask=balanced_tokens(batch, packing, markers, stage),
                                      total=lambda load: accelerator.reduce(load.to(accelerator.device), "sum").cpu())
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if accelerator.is_main_process and ((step + 1) % 250 == 0 or step + 1 == phase.steps):
                work.mkdir(parents=True, exist_ok=True)
                save_checkpoint(checkpoint, trained, optimizer, step + 1)
    check_replicas_agree(accelerator, objective, phase.name)
    model.set_attn_implementation("sdpa")
    model.set_experts_implementation("grouped_mm")
    if accelerator.is_main_process:
        save_language(model, bridge, tokenizer, suite.out_dir)


def packed_rows(batch, stage: LanguageStage) -> Packing:
    """How the batch's examples are laid out for the model: packed (stage.pack_examples) or a row each."""
    lengths = batch.attention_mask.sum(dim=1).tolist()
    return Packing.first_fit(lengths) if stage.pack_examples else Packing.one_per_row(lengths)


def balanced_tokens(batch, packing: Packing, markers: dict[str, int], stage: LanguageStage) -> torch.Tensor:
    """(R, L) bool over the packed rows: the tokens whose experts the balancing bias counts. Every example's token,
    or with stage.balance_text_only its text alone (the picture and sound prefixes' places left out)."""
    counted = batch.attention_mask.bool().cpu()                                               # (B, T)
    for marker in markers.values() if stage.balance_text_only else ():
        counted &= batch.input_ids.cpu() != marker
    return packing.pack(counted, fill=False)


def draw_examples(phase: Phase, stage: LanguageStage, scenes: list[Scene], sounds: list[Sound], rng: random.Random,
                  searched: StudioSearchTurns | None = None) -> list[Example]:
    """The examples of one batch, their pictures' requests drawn; searched: lm_data.search_turns (else no studio
    questions with search sources)."""
    examples = [sample_sound_example(rng, sounds) if phase.sounds_only
                else sample_example(rng, scenes, sounds, stage.questions_think_first, searched=searched)
                for _ in range(stage.batch)]
    add_picture_requests(examples, rng, stage, phase)
    return examples


def trained_parameters(phase: Phase, model: DeepseekV3ForCausalLM, bridge: PrefixBridge,
                       heads: dict[str, nn.Module]) -> list[nn.Parameter]:
    """What the phase's optimizer moves: with sounds_only, the bridge's sound half and the heads."""
    if phase.sounds_only:
        return bridge.sound_parameters() + [p for head in heads.values() for p in head.parameters()]
    return [p for module in [model, bridge, *heads.values()] for p in module.parameters()]


def save_language(model: DeepseekV3ForCausalLM, bridge: PrefixBridge, tokenizer, out_dir: Path) -> None:
    lm_dir, bridge_dir = Path(out_dir) / "language_model", Path(out_dir) / "bridge"
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(str(lm_dir))
    tokenizer.model_max_length = model.config.max_position_embeddings
    tokenizer.save_pretrained(str(lm_dir))
    bridge.save_pretrained(str(bridge_dir))
