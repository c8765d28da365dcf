"""The shared Settings panel (temperature, top-p, max new tokens, seed) used by the Chat, Describe and Listen tabs."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from modules.contracts import GenerationSettings
from modules.ui.checks import TEMPERATURE_RANGE, TOP_P_RANGE
from modules.ui.fields import SettingNumber, SettingSlider
from modules.ui.texts import Relabeler, t


@dataclass
class SettingsPanel:
    """The four components; made unrendered so tabs can use them as inputs before the panel is placed."""

    temperature: gr.Slider
    top_p: gr.Slider
    max_new_tokens: gr.Slider
    seed: gr.Number

    @property
    def inputs(self) -> list[gr.components.Component]:
        """In the order of the handlers' parameters: temperature, top_p, max_new_tokens, seed."""
        return [self.temperature, self.top_p, self.max_new_tokens, self.seed]


def make_settings(limits, texts: Relabeler) -> SettingsPanel:
    defaults = GenerationSettings()
    panel = SettingsPanel(
        temperature=SettingSlider(*TEMPERATURE_RANGE, value=defaults.temperature, step=0.05, render=False,
                              label=t("temperature")),
        top_p=SettingSlider(*TOP_P_RANGE, value=defaults.top_p, step=0.05, render=False, label=t("top_p")),
        max_new_tokens=SettingSlider(1, limits.max_new_tokens, step=1, render=False, label=t("max_new_tokens"),
                                     value=min(defaults.max_new_tokens, limits.max_new_tokens)),
        seed=SettingNumber(value=-1, precision=0, minimum=-1, render=False, label=t("seed")),
    )
    texts.add(panel.temperature, label="temperature")
    texts.add(panel.top_p, label="top_p")
    texts.add(panel.max_new_tokens, label="max_new_tokens")
    texts.add(panel.seed, label="seed")
    return panel


def render_settings(panel: SettingsPanel, texts: Relabeler) -> gr.Accordion:
    """Place the panel: a closed accordion under the tabs, one row of four controls."""
    with gr.Accordion(t("settings"), open=False, elem_id="settings") as accordion:
        with gr.Row():
            for component in panel.inputs:
                component.render()
    texts.add(accordion, label="settings")
    return accordion
