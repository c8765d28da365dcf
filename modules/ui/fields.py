"""Slider and Number that pass API values through untouched, so the studio's checks name a bad setting."""
from __future__ import annotations

from typing import Any, TypeVar

import gradio as gr

C = TypeVar("C", gr.Slider, gr.Number)


def unchecked(component: C) -> C:
    """Let an API value reach the handler as sent: not range-checked or rounded by gradio, so the handler can
    refuse it by name ("Temperature must be a number in 0..2; got 5") instead of gradio's anonymous "Value 5 is
    greater than maximum value 2.0" (or a silent rounding). The browser still bounds the control.
    (An instance override, not a subclass: gradio writes a .pyi file beside any module defining a component.)"""
    component.preprocess = lambda payload: payload    # type: ignore[method-assign]
    return component


def SettingSlider(*args: Any, **kwargs: Any) -> gr.Slider:  # noqa: N802 - reads like the component it makes
    return unchecked(gr.Slider(*args, **kwargs))


def SettingNumber(*args: Any, **kwargs: Any) -> gr.Number:  # noqa: N802
    return unchecked(gr.Number(*args, **kwargs))


def PictureFile(*args: Any, **kwargs: Any) -> gr.Image:  # noqa: N802
    """gr.Image(type="filepath") whose upload reaches the handler as the uploaded file, undecoded, so the
    pipeline's media checks judge it: gradio's own preprocessing opens it with PIL first, so a damaged, empty or
    oversized picture failed there with an anonymous error, and grey / 16-bit / transparent pictures were
    converted to RGB (transparency on black) before the studio saw them."""
    image = gr.Image(*args, type="filepath", **kwargs)
    decode = image.preprocess

    def preprocess(payload: Any) -> Any:
        path = getattr(payload, "path", None)
        return str(path) if path else decode(payload)     # base64 data (no file) still goes through gradio

    image.preprocess = preprocess    # type: ignore[method-assign]
    return image
