"""The image decoder: a diffusers text-to-image pipeline with per-step progress and an interrupt flag."""
from __future__ import annotations

import threading
from typing import Callable

import torch
from PIL import Image

DISPLAY_SIDE = 256     # small native pictures are enlarged to this for viewing and download


class _Stopped(Exception):
    """Raised from the step callback: leaves the diffusion loop at once, skipping its remaining steps and the VAE."""


class ImageDecoder:
    def __init__(self, pipeline, device: torch.device):
        self.pipeline, self.device = pipeline, device
        self.lock = threading.Lock()
        self.steps_run = 0           # diffusion steps computed over the decoder's life (for tests and benches)
        self.pipeline.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None
             ) -> "ImageDecoder":
        from diffusers import DiffusionPipeline
        pipeline = DiffusionPipeline.from_pretrained(source, dtype=dtype, use_safetensors=True, revision=revision)
        return cls(pipeline.to(device), device)

    @property
    def native_side(self) -> int:
        unet = getattr(self.pipeline, "unet", None) or getattr(self.pipeline, "transformer", None)
        factor = getattr(self.pipeline, "vae_scale_factor", 8)
        return int(getattr(unet.config, "sample_size", 64)) * factor

    def draw(self, prompt: str, steps: int, guidance: float, seed: int,
             on_step: Callable[[int, int], None] | None = None,
             stop: threading.Event | None = None) -> Image.Image | None:
        """One picture; None when `stop` was set before it finished (checked before the first step and after each)."""
        def step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            self.steps_run += 1
            if on_step is not None:
                on_step(step + 1, steps)
            if stopped(stop):
                raise _Stopped
            return callback_kwargs

        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        side = self.native_side
        with self.lock, torch.inference_mode():
            if stopped(stop):                       # stopped while another drawing held the decoder
                return None
            try:
                result = self.pipeline(prompt, num_inference_steps=steps, guidance_scale=guidance,
                                       generator=generator, height=side, width=side, callback_on_step_end=step_end,
                                       output_type="pil")
            except _Stopped:
                return None
        image = result.images[0].convert("RGB")
        if image.width < DISPLAY_SIDE:
            image = image.resize((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
        return image


def stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()
