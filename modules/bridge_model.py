"""The prefix bridge: projectors that turn picture and sound encoder tokens into language-model input embeddings."""
from __future__ import annotations

import bisect
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class PrefixBridgeConfig(PretrainedConfig):
    model_type = "omnimoe_prefix_bridge"

    def __init__(self, image_width: int = 128, image_grid: int = 8,
                 image_pool: int = 2,          # average-pool the patch grid by this factor (8x8 -> 4x4 = 16 tokens)
                 image_pool_margin: int = 0,   # patches dropped at each edge before pooling (8x8, 1 -> 6x6 -> 3x3)
                 image_cell_bands: list[int] | None = None,  # else: the whole grid cut into these bands of patches
                                                              # per side ([3, 2, 3]: 3x3 cells, none left out)
                 audio_width: int = 192, audio_tokens: int = 16, lm_hidden: int = 256,
                 image_embed_dim: int = 0,      # >0: the picture's pooled embedding also becomes prefix tokens
                 image_global_tokens: int = 0,  # how many (ClipCap-style: the whole caption lives in that vector)
                 audio_global_tokens: int = 0,  # >0: summary tokens read from all the time tokens at once, each
                                                # through its own weights (so counts survive, which a mean loses)
                 **kwargs):
        if image_cell_bands is not None and (sum(image_cell_bands) != image_grid or min(image_cell_bands) < 1):
            raise ValueError(f"image_cell_bands must be positive widths that sum to image_grid {image_grid}; "
                             f"got {image_cell_bands!r}")
        if (image_grid - 2 * image_pool_margin) % image_pool:
            raise ValueError(f"image_grid {image_grid} minus twice image_pool_margin {image_pool_margin} must be a "
                             f"multiple of image_pool {image_pool}")
        self.image_width, self.image_grid, self.image_pool = image_width, image_grid, image_pool
        self.image_pool_margin = image_pool_margin
        self.image_cell_bands = None if image_cell_bands is None else [int(b) for b in image_cell_bands]
        self.image_embed_dim, self.image_global_tokens = image_embed_dim, image_global_tokens
        self.audio_width, self.audio_tokens, self.lm_hidden = audio_width, audio_tokens, lm_hidden
        self.audio_global_tokens = audio_global_tokens
        super().__init__(**kwargs)

    @property
    def image_tokens(self) -> int:
        return self.image_global_tokens + self.image_cells ** 2

    @property
    def audio_prefix_tokens(self) -> int:
        """Prefix embeddings per sound: the summary tokens, then one per encoder time token."""
        return self.audio_global_tokens + self.audio_tokens

    @property
    def image_cells(self) -> int:
        """Pooled cells per side of the patch grid."""
        if self.image_cell_bands is not None:
            return len(self.image_cell_bands)
        return (self.image_grid - 2 * self.image_pool_margin) // self.image_pool

    def cell_of(self, x: float, y: float) -> int:
        """The row-major index of the cell whose patches hold the point (x, y), in fractions of the frame."""
        col, row = (self._band_of(v * self.image_grid) for v in (x, y))
        return row * self.image_cells + col

    def _band_of(self, patch: float) -> int:
        """The cell column (or row) that holds this position along the grid, in patches."""
        if self.image_cell_bands is None:
            return int((patch - self.image_pool_margin) // self.image_pool)
        return bisect.bisect_right(list(itertools.accumulate(self.image_cell_bands)), patch)   # bands ended by then


POSITION_INIT_STD = 0.05     # a place vector's norm starts near 0.8, about a fresh projector output's
AUDIO_SUMMARY_WIDTH = 32     # each time token narrowed to this before the summary reads them all


def _projector(width: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, hidden))


class PrefixBridge(PreTrainedModel):
    config_class = PrefixBridgeConfig
    base_model_prefix = "bridge"

    def __init__(self, config: PrefixBridgeConfig):
        super().__init__(config)
        self.image_projector = _projector(config.image_width, config.lm_hidden)
        self.audio_projector = _projector(config.audio_width, config.lm_hidden)
        if config.image_global_tokens:
            self.image_global = nn.Sequential(nn.LayerNorm(config.image_embed_dim),
                                              nn.Linear(config.image_embed_dim, config.lm_hidden), nn.GELU(),
                                              nn.Linear(config.lm_hidden, config.lm_hidden * config.image_global_tokens))
        if config.audio_global_tokens:
            self.audio_narrow = nn.Sequential(nn.LayerNorm(config.audio_width),
                                              nn.Linear(config.audio_width, AUDIO_SUMMARY_WIDTH))
            self.audio_global = nn.Sequential(nn.Linear(config.audio_tokens * AUDIO_SUMMARY_WIDTH, config.lm_hidden),
                                              nn.GELU(),
                                              nn.Linear(config.lm_hidden, config.lm_hidden * config.audio_global_tokens))
        self.image_positions = nn.Parameter(torch.zeros(config.image_tokens, config.lm_hidden))
        self.audio_positions = nn.Parameter(torch.zeros(config.audio_prefix_tokens, config.lm_hidden))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Each prefix place starts as its own random vector: with zeros, the language model could tell the picture's
        cells apart only by their distance from the word it writes, and it put objects in the wrong places."""
        super()._init_weights(module)
        if module is self:
            for positions in (self.image_positions, self.audio_positions):
                torch.nn.init.normal_(positions, std=POSITION_INIT_STD)

    def project_image(self, patch_tokens: torch.Tensor, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, grid*grid, image_width) and the pooled embedding (B, image_embed_dim) -> (B, image_tokens, lm_hidden)."""
        b = patch_tokens.shape[0]
        prefix = self.image_projector(self.pool_patches(patch_tokens))
        if self.config.image_global_tokens:
            glob = self.image_global(embedding).reshape(b, self.config.image_global_tokens, -1)  # (B, G, hidden)
            prefix = torch.cat([glob, prefix], dim=1)
        return prefix + self.image_positions

    def pool_patches(self, patch_tokens: torch.Tensor) -> torch.Tensor:
        """(B, grid*grid, W) row-major patches -> (B, cells², W): each cell the mean of its block of patches (the
        bands', or the margin dropped and then average-pooled)."""
        b, _, w = patch_tokens.shape
        g, m = self.config.image_grid, self.config.image_pool_margin
        grid = patch_tokens.transpose(1, 2).reshape(b, w, g, g)                                # (B, W, g, g)
        if self.config.image_cell_bands is not None:
            blocks = [rows.split(self.config.image_cell_bands, dim=3)
                      for rows in grid.split(self.config.image_cell_bands, dim=2)]
            return torch.stack([block.mean(dim=(2, 3)) for row in blocks for block in row], dim=1)  # (B, cells², W)
        grid = grid[:, :, m: g - m, m: g - m]                                                   # (B, W, g-2m, g-2m)
        return F.avg_pool2d(grid, self.config.image_pool).flatten(2).transpose(1, 2)

    def sound_parameters(self) -> list[nn.Parameter]:
        """What project_audio reads: the sound half of the bridge."""
        parts = [self.audio_projector] + ([self.audio_narrow, self.audio_global] if self.config.audio_global_tokens
                                          else [])
        return [p for part in parts for p in part.parameters()] + [self.audio_positions]

    def project_audio(self, audio_tokens: torch.Tensor) -> torch.Tensor:
        """(B, audio_tokens, audio_width) -> (B, audio_prefix_tokens, lm_hidden)."""
        prefix = self.audio_projector(audio_tokens)                                        # (B, T, hidden)
        if self.config.audio_global_tokens:
            b = audio_tokens.shape[0]
            everything = self.audio_narrow(audio_tokens).flatten(1)                         # (B, T * narrow)
            summary = self.audio_global(everything).reshape(b, self.config.audio_global_tokens, -1)   # (B, G, hidden)
            prefix = torch.cat([summary, prefix], dim=1)
        return prefix + self.audio_positions
