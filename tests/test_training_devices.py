"""Training helpers make their own tensors on the device of their inputs, so `train` runs on a GPU as it does here.

The "meta" device stands in for CUDA: a tensor made on the CPU beside meta inputs fails as it would beside cuda ones
(on an H200 the first encoders step stopped with "found at least two devices, cuda:0 and cpu")."""
from __future__ import annotations

import random

import pytest
import torch

from modules.training.attribute_heads import RegionAttributeHeads, region_weights
from modules.training.augment import mirror, resample_blur
from modules.training.corpus import scenes_for
from modules.training.train_encoders import contrastive_loss

META = torch.device("meta")


def test_a_cpu_tensor_beside_meta_inputs_fails_as_beside_cuda_ones():
    with pytest.raises(RuntimeError, match="device"):
        torch.where(torch.tensor([True])[:, None], torch.zeros(1, 2, device=META), torch.zeros(1, 2, device=META))


def test_mirroring_a_batch_keeps_it_on_its_device_and_swaps_left_and_right_in_its_scenes():
    scenes = scenes_for("train", 2, 0)
    pictures, mirrored = mirror(torch.zeros(2, 3, 64, 64, device=META), scenes, [True, False])
    assert pictures.device == META
    assert mirrored == [scenes[0].mirrored(), scenes[1]]
    assert resample_blur(pictures, random.Random(0), probability=1.0).device == META


def test_the_contrastive_loss_and_the_region_heads_run_on_the_inputs_device():
    embeddings = torch.zeros(4, 8, device=META)
    assert contrastive_loss(embeddings, embeddings, ["a", "b", "a", "c"], torch.zeros((), device=META)).device == META
    heads = RegionAttributeHeads(16, region_weights(8)).to(META)
    assert heads.loss(torch.zeros(2, 64, 16, device=META), scenes_for("train", 2, 0)).device == META
