"""The audio stage of the mini suite: the saved sound tower trained on alone, the text tower frozen, on sounds made
mostly the ways people make them (free timing), so that beeps of any length and spacing are counted.

After the encoders stage the sound tower counted the world's own evenly spread beeps, but freely timed ones (0.05 to
0.4 s beeps, 0.05 to 0.6 s gaps) far less well: the joint phase gives sounds a small share of its steps. Here the
same two losses as there (the contrastive loss against the frozen text tower, so the sound embedding stays in the
text space, and the beep heads over the time tokens) train the sound tower alone, which costs a fraction of a joint
step. The later stages read the tower this stage saves; on saved weights, `--stage audio --stage sounds` fits the
bridge's sound half to it.
"""
from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import nn
from tqdm import tqdm

from ..encoders.audio_model import MiniAudioEncoder
from ..encoders.picture_stem import load_open_clip
from ..world.sounds import synthesize
from .adamw import adamw
from .batches_ahead import batches_ahead
from .beep_heads import BeepCountHead
from .checkpoint import cosine_lr, load_checkpoint, save_checkpoint
from .corpus import sounds_for
from .replicas import check_replicas_agree
from .suite_config import SuiteConfig
from .threads_back import take_back_if_free
from .train_encoders import SoundBatch, sound_batch, sound_losses, text_tokens


class SoundObjective(nn.Module):
    """The sound tower and its beep head over a frozen text tower, in one module for `accelerate`."""

    def __init__(self, audio: MiniAudioEncoder, beep_head: BeepCountHead, text_tower: nn.Module):
        super().__init__()
        self.audio, self.beep_head, self.text_tower = audio, beep_head, text_tower

    def forward(self, sounds: SoundBatch) -> dict[str, torch.Tensor]:
        """The encoders' joint-phase sound losses (sound_losses); the text tower is frozen, so only the sound
        tower and the beep head learn."""
        return sound_losses(self.audio, self.beep_head, self.text_tower, sounds)


def train_audio(suite: SuiteConfig, tokenizer, accelerator: Accelerator) -> None:
    """The saved sound tower, trained on for stage.audio_steps and saved back in place."""
    stage, work, out = suite.encoders, Path(suite.work_dir), Path(suite.out_dir)
    torch.manual_seed(suite.seed + 5)
    rng = random.Random(f"audio-{suite.seed}-{accelerator.process_index}")
    text_tower, _ = load_open_clip(out / "image_encoder")
    text_tower.eval().requires_grad_(False)
    audio = MiniAudioEncoder.from_pretrained(str(out / "audio_encoder")).train()
    beep_head = BeepCountHead(audio.config.width)
    optimizer = adamw([*audio.parameters(), *beep_head.parameters()], lr=stage.audio_lr, weight_decay=0.05)
    checkpoint, start = work / "audio.safetensors", 0
    if checkpoint.exists():
        start, _ = load_checkpoint(checkpoint, {"audio": audio, "beep_head": beep_head}, optimizer)
        print(f"resuming audio at step {start}")
    if start < stage.audio_steps:
        run_audio_steps(suite, tokenizer, accelerator, SoundObjective(audio, beep_head, text_tower), optimizer,
                        start, rng)
    if accelerator.is_main_process:
        audio.eval().save_pretrained(str(out / "audio_encoder"))


def run_audio_steps(suite: SuiteConfig, tokenizer, accelerator: Accelerator, objective: SoundObjective,
                    optimizer: torch.optim.Optimizer, start: int, rng: random.Random) -> None:
    """The stage's steps from `start`, batches made ahead in a worker, a checkpoint every 250 steps and at the end."""
    stage, work = suite.encoders, Path(suite.work_dir)
    freely_timed = replace(stage, free_share=stage.audio_free_share)
    sounds = sounds_for("train", stage.sounds, suite.seed)
    waves = [synthesize(s) for s in sounds]
    tokens = text_tokens(tokenizer, stage, torch.device("cpu"))
    modules = {"audio": objective.audio, "beep_head": objective.beep_head}
    objective, optimizer = accelerator.prepare(objective, optimizer)
    batches = batches_ahead(lambda step: sound_batch(sounds, waves, freely_timed, rng, tokens),
                            range(start, stage.audio_steps))
    bar = tqdm(range(start, stage.audio_steps), desc="audio", initial=start, total=stage.audio_steps)
    for step, heard in zip(bar, batches):
        take_back_if_free()
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, stage.audio_steps, stage.audio_lr, 50)
        losses = objective(heard.to(accelerator.device))
        optimizer.zero_grad()
        accelerator.backward(losses["sound"] + stage.beep_loss_weight * losses["beeps"])
        accelerator.clip_grad_norm_(objective.parameters(), stage.audio_max_grad_norm)
        optimizer.step()
        bar.set_postfix({name: f"{value.item():.3f}" for name, value in losses.items()})
        if accelerator.is_main_process and ((step + 1) % 250 == 0 or step + 1 == stage.audio_steps):
            work.mkdir(parents=True, exist_ok=True)
            save_checkpoint(work / "audio.safetensors", modules, optimizer, step + 1)
    check_replicas_agree(accelerator, objective, "audio")
