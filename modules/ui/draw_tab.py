"""The Draw tab: prompt → pictures, with a per-step progress bar and PNGs that carry their prompt and seed."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from modules.contracts import DrawnPicture, DrawSettings
from modules.ui import examples
from modules.ui.checks import GUIDANCE_RANGE, check_prompt, draw_settings
from modules.ui.errors import friendly_errors
from modules.ui.fields import SettingNumber, SettingSlider
from modules.ui.pictures import caption, save_picture
from modules.ui.session import StopSwitches, stops_when_cancelled
from modules.ui.texts import Relabeler, t

Draw = Callable[..., list[DrawnPicture]]   # pipeline.draw(prompt, settings, on_step=None, stop=None)
PRIVATE: dict[str, Any] = {"api_visibility": "private"}


def _controls(limits: Any, texts: Relabeler):
    defaults = DrawSettings()
    prompt = gr.Textbox(label=t("prompt"), placeholder=t("prompt_hint"), lines=2, max_lines=4, autofocus=False)
    with gr.Row():
        steps = SettingSlider(1, limits.max_draw_steps, value=min(defaults.steps, limits.max_draw_steps), step=1,
                          label=t("steps"))
        guidance = SettingSlider(*GUIDANCE_RANGE, value=defaults.guidance, step=0.5, label=t("guidance"))
    with gr.Row():
        seed = SettingNumber(value=-1, precision=0, minimum=-1, label=t("draw_seed"))
        count = SettingSlider(1, limits.max_draw_count, value=defaults.count, step=1, label=t("count"))
    with gr.Row():
        button = gr.Button(t("draw_btn"), variant="primary", scale=3)
        stop = gr.Button(t("stop"), variant="stop", scale=1, min_width=90)
    for component, props in ((prompt, dict(label="prompt", placeholder="prompt_hint")), (steps, dict(label="steps")),
                              (guidance, dict(label="guidance")), (seed, dict(label="draw_seed")),
                              (count, dict(label="count")), (button, dict(value="draw_btn")),
                              (stop, dict(value="stop"))):
        texts.add(component, **props)
    return prompt, steps, guidance, seed, count, button, stop


def _results(texts: Relabeler):
    gallery = gr.Gallery(label=t("gallery"), columns=3, height="auto", object_fit="contain", format="png",
                         buttons=["download", "download_all", "fullscreen"], interactive=False, elem_id="draw-gallery")
    files = gr.File(label=t("downloads"), file_count="multiple", interactive=False, height=120)
    texts.add(gallery, label="gallery")
    texts.add(files, label="downloads")
    return gallery, files


def build_draw_tab(draw: Draw, limits: Any, texts: Relabeler, stops: StopSwitches) -> list:
    """Build the Draw tab; /generate_image(prompt, steps, guidance, seed, count) → a gallery of (png, caption)."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            prompt, steps, guidance, seed, count, button, stop = _controls(limits, texts)
        with gr.Column(scale=3):
            gallery, files = _results(texts)
    paths = gr.State([])

    @stops_when_cancelled
    def generate_image(prompt: str, steps: float = DrawSettings.steps, guidance: float = DrawSettings.guidance,
                       seed: float = -1, count: float = 1, request: gr.Request = None,
                       progress: gr.Progress = gr.Progress()):
        """Draw pictures for a prompt (seed -1 or blank = random); each PNG carries prompt, seed, steps and
        guidance in its text metadata."""
        with friendly_errors():
            prompt = check_prompt(prompt, limits)
            settings = draw_settings(steps, guidance, seed, count, limits)
            progress(0, desc="Starting the image decoder")

            def on_step(step: int, total: int) -> None:
                progress((step, total), desc=f"Denoising step {step} of {total}", unit="steps")

            with stops.running(request, "draw") as halt:
                pictures = draw(prompt, settings, on_step=on_step, stop=halt)
            saved = [(save_picture(p), caption(p)) for p in pictures]
        if not saved:
            gr.Warning("Drawing stopped before any picture was finished.")
        return saved, [path for path, _ in saved]

    event = gr.on([button.click, prompt.submit], generate_image, [prompt, steps, guidance, seed, count],
                  [gallery, paths], api_name="generate_image", api_description=generate_image.__doc__)
    event.then(lambda saved: saved or None, [paths], [files], queue=False, **PRIVATE)

    def halt(request: gr.Request = None) -> None:
        stops.stop(request, "draw")

    stop.click(halt, None, None, queue=False, cancels=[event], **PRIVATE)
    table = gr.Examples(examples.draw_examples(), [prompt], label=t("examples"), api_visibility="private",
                        cache_examples=False)
    texts.add(table.dataset, label="examples")
    return [event]
