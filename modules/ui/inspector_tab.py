"""The Inspector tab: which routed experts fired per token and layer, expert load, timings, the router's decision,
and the memory each loaded role takes."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from modules.ui.charts import expert_heatmap, expert_load_table, memory_markdown, stats_markdown
from modules.ui.errors import friendly_errors
from modules.ui.texts import Relabeler, t

PRIVATE: dict[str, Any] = {"api_visibility": "private"}


def render_views(trace: dict | None):
    """trace → (heatmap picture or None, load table, stats Markdown)."""
    trace = trace or {}
    return expert_heatmap(trace), expert_load_table(trace), stats_markdown(trace, t("no_trace"))


def render_memory(memory: dict | None) -> str:
    """pipeline.memory() → Markdown table role | parameters | MB | device."""
    return memory_markdown(memory or {}, t("no_memory"))


def _views(texts: Relabeler):
    refresh = gr.Button(t("refresh"), size="sm", scale=0, min_width=120, elem_id="inspector-refresh")
    stats = gr.Markdown(t("no_trace"), elem_id="inspector-stats")
    with gr.Accordion(t("memory"), open=True) as memory_box:
        memory = gr.Markdown(t("no_memory"), elem_id="inspector-memory")
    heatmap = gr.Image(label=t("heatmap"), type="pil", format="png", interactive=False, height=460,
                       buttons=["download", "fullscreen"], elem_id="inspector-heatmap")
    load = gr.BarPlot(x="expert", y="tokens", color="layer", label=t("load"), height=280, x_title="routed expert",
                      y_title="tokens served", elem_id="inspector-load")
    with gr.Accordion(t("raw_trace"), open=False) as raw_box:
        raw = gr.JSON(label=t("raw_trace"), show_label=False, elem_id="inspector-raw")
    texts.add(refresh, value="refresh")
    texts.add(heatmap, label="heatmap")
    texts.add(load, label="load")
    texts.add(raw_box, label="raw_trace")
    texts.add(memory_box, label="memory")
    return refresh, stats, heatmap, load, raw, memory


@dataclass(frozen=True)
class InspectorUpdates:
    """How the studio keeps the Inspector current: `after_answers(events)` refreshes the trace and the memory table
    after each of those events; `memory_after(events)` refreshes the memory table alone (roles loading)."""

    after_answers: Callable[[list], None]
    memory_after: Callable[[list], None]


def build_inspector_tab(last_trace: Callable[[], dict], texts: Relabeler,
                        memory: Callable[[], dict] | None = None) -> InspectorUpdates:
    """Build the tab; /inspect() → the last answer's trace dict; `memory` → pipeline.memory() for the memory table."""
    refresh, stats, heatmap, load, raw, memory_view = _views(texts)

    def inspect() -> dict:
        """The trace of the last answer: route, reason, language, the answer and the thinking before it, experts
        per token and layer, expert load, parameters total/active, time to first token, ms per token, token counts
        (thinking_tokens and thinking_s, reply_tokens and reply_s: the thinking and the answer after it), notices
        ({} before any answer)."""
        with friendly_errors():
            return last_trace() or {}

    def show_memory() -> str:
        with friendly_errors():
            return render_memory(memory() if memory is not None else {})

    refresh.click(inspect, None, [raw], api_name="inspect", api_description=inspect.__doc__).then(
        render_views, [raw], [heatmap, load, stats], **PRIVATE)
    refresh.click(show_memory, None, [memory_view], **PRIVATE)

    def memory_after(events: list) -> None:
        for event in events:
            event.then(show_memory, None, [memory_view], **PRIVATE)

    def after_answers(events: list) -> None:
        for event in events:
            event.then(inspect, None, [raw], **PRIVATE).then(render_views, [raw], [heatmap, load, stats], **PRIVATE)
        memory_after(events)

    return InspectorUpdates(after_answers, memory_after)
