"""The studio's web UI: build_studio(pipeline, config) composes the header, one builder per tab, and the settings."""
from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr

from modules.ui.chat_tab import build_chat_tab
from modules.ui.describe_tab import build_describe_tab, build_listen_tab
from modules.ui.draw_tab import build_draw_tab
from modules.ui.inspector_tab import build_inspector_tab
from modules.ui.session import StopSwitches
from modules.ui.settings import make_settings, render_settings
from modules.ui.texts import LANGUAGES, Relabeler, t
from modules.ui.theme import CSS, studio_theme
from modules.workers import DRAWINGS_AT_ONCE, DRAWINGS_WAITING

__all__ = ["build_studio", "CSS", "studio_theme", "API_ENDPOINTS"]

API_ENDPOINTS = ("/chat", "/describe_image", "/generate_image", "/describe_audio", "/inspect")
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
log = logging.getLogger("omnimoe.ui")


def _dot(state: str) -> str:
    kind = "ready" if state == "ready" else "unavailable" if state.startswith("unavailable") else "waiting"
    mark = {"ready": "●", "unavailable": "✕", "waiting": "○"}[kind]
    return f"<span class='{kind}'>{mark} {html.escape(state)}</span>"


def status_line(pipeline: Any) -> str:
    """Device, language model and each role's state, for the line under the header."""
    try:
        info, status = pipeline.info() or {}, pipeline.status() or {}
    except Exception:  # noqa: BLE001 - the header must never break the page
        log.exception("pipeline.info()/status() failed")
        return "status unavailable"
    head = [f"{html.escape(str(k).replace('_', ' '))}: <b>{html.escape(str(info[k]))}</b>"
            for k in ("device", "language_model") if info.get(k)]
    roles = [f"{html.escape(role.replace('_', ' '))} {_dot(str(state))}" for role, state in status.items()]
    fast = _fast_decode_state(pipeline)
    return " · ".join(head + roles + ([f"fast decode {_dot(fast)}"] if fast != "off" else []))


def _fast_decode_state(pipeline: Any) -> str:
    """The compiled decode path's state ("off" where the pipeline has none)."""
    try:
        return str(getattr(pipeline, "fast_decode_state", lambda: "off")())
    except Exception:  # noqa: BLE001 - the header must never break the page
        log.exception("pipeline.fast_decode_state() failed")
        return "off"


def still_loading(pipeline: Any) -> bool:
    """Whether some role has neither loaded nor failed yet (the studio loads them all at start-up), or the fast
    decode path is still compiling."""
    try:
        loading = any(state == "not loaded yet" for state in (pipeline.status() or {}).values())
        return loading or _fast_decode_state(pipeline) == "warming up"
    except Exception:  # noqa: BLE001 - the header must never break the page
        return False


def _header(profile: str, texts: Relabeler):
    with gr.Row(equal_height=True):
        with gr.Column(scale=4):
            gr.HTML(f"<div id='studio-header'><span class='logo'>◆</span><h1>OmniMoE Studio</h1>"
                    f"<span class='pill'>profile: {html.escape(str(profile))}</span></div>")
            tagline = gr.Markdown(t("tagline"), elem_id="studio-tagline")
        language = gr.Radio(list(LANGUAGES), value=LANGUAGES[0], label=t("language"), elem_id="studio-language",
                            scale=1, min_width=180)
    status = gr.HTML("", elem_id="studio-status")
    texts.add(tagline, value="tagline")
    texts.add(language, label="language")
    return language, status


def chat_slots(config: Any) -> int:
    """Chat answers served at once per chat event: --concurrency, plus room for the chats whose drawing is
    computing or waiting in the pipeline's drawing worker (they wait for their picture there, not for the language
    model), so that chats that draw do not hold up the next chat; one more drawing is refused with a message."""
    return config.server.concurrency + DRAWINGS_AT_ONCE + DRAWINGS_WAITING


def build_studio(pipeline: Any, config: Any) -> gr.Blocks:
    """The whole studio around `pipeline` (only its public calls are used); limits come from config.limits."""
    limits, texts, stops = config.limits, Relabeler(), StopSwitches()
    with gr.Blocks(title="OmniMoE Studio") as demo:
        language, status = _header(config.profile, texts)
        settings = make_settings(limits, texts)
        answers: list = []
        with gr.Tabs(elem_id="studio-tabs"):
            tabs = [("chat", lambda: build_chat_tab(pipeline.chat, limits, settings, texts, stops,
                                                    getattr(pipeline, "voices", list),
                                                    getattr(pipeline, "thinking", None), language,
                                                    chat_slots(config))),
                    ("describe", lambda: build_describe_tab(pipeline.describe_image, limits, settings, texts,
                                                                stops, language)),
                    ("draw", lambda: build_draw_tab(pipeline.draw, limits, texts, stops)),
                    ("listen", lambda: build_listen_tab(pipeline.describe_audio, limits, settings, texts, stops,
                                                            language))]
            for name, build in tabs:
                with gr.Tab(t(f"tab_{name}"), id=name, elem_id=f"tab-{name}") as tab:
                    answers += build()
                texts.add(tab, label=f"tab_{name}")
            with gr.Tab(t("tab_inspector"), id="inspector", elem_id="tab-inspector") as tab:
                inspector = build_inspector_tab(pipeline.last_trace, texts, pipeline.memory)
            texts.add(tab, label="tab_inspector")
        render_settings(settings, texts)
        inspector.after_answers(answers)
        for event in answers:
            event.then(lambda: status_line(pipeline), None, [status], queue=False, **PRIVATE)
        language.change(texts.updates, [language], texts.components, queue=False, **PRIVATE)
        loading = gr.Timer(2.0)          # while roles load at start-up, the header and the memory table follow them

        def header_while_loading():
            return status_line(pipeline), gr.Timer(active=still_loading(pipeline))

        inspector.memory_after([demo.load(header_while_loading, None, [status, loading], queue=False, **PRIVATE),
                                loading.tick(header_while_loading, None, [status, loading], queue=False, **PRIVATE)])
    # Gradio 6 takes theme/css in launch(); these become launch()'s defaults, so app.py need not repeat them.
    demo._deprecated_theme, demo._deprecated_css = studio_theme(), CSS
    return demo
