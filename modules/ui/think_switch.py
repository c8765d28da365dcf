"""The Think / 深度思考 switch beside the message box: off by default, and disabled with the reason shown when the
language model cannot think (modules.thinking); while the model loads, it follows until the model's state is known."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from modules.thinking import ThinkingControl
from modules.ui.texts import LANGUAGES, Relabeler, t

LOADING_POLL_S = 2.0


def _can_always_think() -> ThinkingControl:
    return ThinkingControl("tags")


def reason_key(control: ThinkingControl) -> str | None:
    """The texts.py key of why the switch is off (None when the model can think)."""
    return None if control.can_think else f"think_off_{control.why_not}"


def switch_update(control: ThinkingControl, lang: str = LANGUAGES[0]) -> dict:
    """The switch as `control` says: enabled, or disabled and unticked with its reason as the info line."""
    key = reason_key(control)
    if key is None:
        return gr.update(interactive=True, info=None)
    return gr.update(interactive=False, value=False, info=t(key, lang))


def think_switch(texts: Relabeler, state: Callable[[], ThinkingControl] | None = None,
                 language: Any = None) -> gr.Checkbox:
    """The switch; `state` (pipeline.thinking) says whether the model can think. Relabelled with the page's
    language, its reason too; while the model loads, a timer asks again every LOADING_POLL_S seconds."""
    state = state or _can_always_think
    control = state()
    key = reason_key(control)
    switch = gr.Checkbox(value=False, label=t("think"), info=t(key) if key else None, container=False, scale=0,
                         min_width=150, elem_id="chat-think", interactive=control.can_think)
    texts.add(switch, label="think", info=lambda: reason_key(state()))
    poll = gr.Timer(LOADING_POLL_S, active=control.why_not == "loading" and not control.can_think)

    def follow(lang: str = LANGUAGES[0]):
        now = state()
        return switch_update(now, lang), gr.Timer(active=now.why_not == "loading" and not now.can_think)

    poll.tick(follow, [language] if language is not None else None, [switch, poll], queue=False,
              api_visibility="private")
    return switch
