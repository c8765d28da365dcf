"""Saves drawn pictures as PNG files carrying their prompt, seed, steps and guidance in the PNG's text metadata."""
from __future__ import annotations

import re
import tempfile
import threading
import uuid
from pathlib import Path

from PIL.PngImagePlugin import PngInfo

from modules.contracts import DrawnPicture

_lock = threading.Lock()
_folder: Path | None = None     # one temp folder per process, made on first use (nothing is written at import)


def picture_folder() -> Path:
    """The temp folder drawn pictures are written to (inside the system temp dir, which gradio may serve)."""
    global _folder
    with _lock:
        if _folder is None or not _folder.is_dir():
            _folder = Path(tempfile.mkdtemp(prefix="omnimoe-pictures-"))
        return _folder


def _slug(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    return "-".join(words)[:40].strip("-") or "picture"


def png_info(picture: DrawnPicture) -> PngInfo:
    """Text chunks "prompt", "seed", "steps", "guidance" (non-Latin prompts go into an iTXt chunk)."""
    info = PngInfo()
    info.add_text("prompt", picture.prompt)
    info.add_text("seed", str(picture.seed))
    info.add_text("steps", str(picture.steps))
    info.add_text("guidance", f"{picture.guidance:g}")
    info.add_text("software", "OmniMoE Studio")
    return info


def save_picture(picture: DrawnPicture) -> str:
    """Write one picture as PNG; returns its path. The name says the prompt and the seed."""
    path = picture_folder() / f"{_slug(picture.prompt)}-seed{picture.seed}-{uuid.uuid4().hex[:8]}.png"
    picture.image.convert("RGB").save(path, format="PNG", pnginfo=png_info(picture))
    return str(path)


def caption(picture: DrawnPicture) -> str:
    """A short caption for galleries and chat: the seed that reproduces the picture."""
    return f"seed {picture.seed} · {picture.steps} steps · guidance {picture.guidance:g}"
