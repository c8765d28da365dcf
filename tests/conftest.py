"""Test session setup: no network for the hubs, and `gpu` tests skipped where CUDA is absent."""
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"          # before any test module imports huggingface_hub / transformers
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return                               # torch is imported only when a gpu test is collected
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)
