"""Test session setup: no network (the hubs, Gradio's analytics), no fast-decode compile at start-up, and `gpu` tests
skipped where CUDA is absent.

So that `python -m pytest` alone is offline, as the README, requirements-dev.txt and .ci/run give it."""
import os
import sys

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"          # before any test module imports huggingface_hub / transformers
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["OMNIMOE_FAST_DECODE"] = "0"       # no background compile in studios the tests start (test_fast_decode.py
                                               # builds its own fast decoder)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"     # studios launched in-process report nothing to gradio.app
if "huggingface_hub" in sys.modules:        # imported by a pytest plugin before this file: tell it too
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True


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
