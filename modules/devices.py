"""Resolves the configured device and dtype ("auto" included) to what this machine has."""
from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(requested: str) -> torch.device:
    """auto -> cuda, else mps, else cpu; an explicit device that is absent is an error naming what is present."""
    present = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + \
        (["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else [])
    if requested == "auto":
        return torch.device("cuda" if "cuda" in present else "mps" if "mps" in present else "cpu")
    if requested not in present:
        raise RuntimeError(f"device {requested!r} is not available on this machine; available: {present}")
    return torch.device(requested)


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """auto -> bfloat16 on cuda, float32 elsewhere (CPU half precision is slow and lossy)."""
    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if requested not in DTYPES:
        raise RuntimeError(f"dtype {requested!r} is not supported; valid: {sorted(DTYPES)} or 'auto'")
    return DTYPES[requested]
