"""The decoder's training objectives: what the VAE is asked to keep."""
from __future__ import annotations

import torch

from modules.training.train_decoder import FOREGROUND_WEIGHT, foreground_weighted_mse


def test_a_wrong_object_costs_the_vae_more_than_the_same_error_in_the_background():
    picture = torch.ones(1, 3, 16, 16)                     # white
    picture[:, :, 6:10, 6:10] = torch.tensor([1.0, -0.7, -0.7])[:, None, None]   # a red square
    wrong_object, wrong_background = picture.clone(), picture.clone()
    wrong_object[:, 1, 6:10, 6:10] += 0.5                  # the square turns orange
    wrong_background[:, 1, 0:4, 0:4] -= 0.5                # a patch of the background as far off
    on_object = foreground_weighted_mse(wrong_object, picture)
    on_background = foreground_weighted_mse(wrong_background, picture)
    assert torch.isclose(on_object, (1 + FOREGROUND_WEIGHT) * on_background)
    assert foreground_weighted_mse(picture, picture) == 0
