"""The 深度思考 / Think switch: how a language model is asked to think (its chat template's own flag, an answer opened
with <think>, or not at all), found from the profile's `language_model.thinking` or else from the chat template,
and how long the thinking and the answer after it took.

    template   the chat template has its own control: `enable_thinking` (Qwen3 family) or `thinking` (DeepSeek-V3.1
               family), passed to apply_chat_template as True or False; an openai backend is sent DeepSeek's
               `"thinking": {"type": "enabled" | "disabled"}` instead
    tags       the model writes <think>…</think> itself when its answer is opened with <think> (DeepSeek-R1's way)
    none       the model cannot think: the switch is off and says why
"""
from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from typing import Any

from .reasoning import THINK_START, Reply, open_thinking

THINKING_MODES = ("template", "tags", "none")
REMOTE_THINKING_MODES = ("template", "none")       # an openai backend: the server's own control, or none
TEMPLATE_VARIABLES = ("enable_thinking", "thinking")   # Qwen3 family, DeepSeek-V3.1 family
# /v1 model names as DeepSeek's API has them: the reasoner thinks, the chat model does not
THINKING_MODELS = {"deepseek-reasoner": True, "deepseek-chat": False}
THINKING_TYPES = {"enabled": True, "disabled": False}
THOUGHT_NAMES = frozenset({"think"})        # Latin words a Chinese answer may hold when thinking: </think>

# why a model cannot think (ThinkingControl.why_not) -> the reason in English; the UI has both languages (texts.py)
WHY_NOT = {
    "declared": "the profile says this language model has not learnt to think (language_model.thinking: none)",
    "no_control": "its chat template has no thinking control (enable_thinking or thinking) and the profile does "
                  "not say it writes <think> itself (language_model.thinking: tags)",
    "template_missing": "the profile says language_model.thinking: template, but the chat template has no "
                        "enable_thinking or thinking variable",
    "remote": "the server's model is not known to think: set language_model.thinking: template in the profile to "
              "send it DeepSeek's thinking parameter",
    "unavailable": "the language model did not load",
    "loading": "the language model is still loading",
}


@dataclass(frozen=True)
class ThinkingControl:
    """How one language model is asked to think."""

    mode: str = "none"               # one of THINKING_MODES
    variable: str | None = None      # mode template, in-process: the chat template's flag (TEMPLATE_VARIABLES)
    why_not: str = "no_control"      # mode none: a key of WHY_NOT

    @property
    def can_think(self) -> bool:
        return self.mode != "none"

    def template_kwargs(self, on: bool) -> dict[str, bool]:
        """apply_chat_template's extra arguments: the template's flag, set either way (Qwen3 thinks unless told)."""
        return {self.variable: bool(on)} if self.mode == "template" and self.variable else {}

    def prompt(self, rendered: str, on: bool) -> str:
        """The rendered prompt, its answer opened with <think> when a tags model is asked to think."""
        if self.mode == "tags" and on and not opens_thinking(rendered):
            return open_thinking(rendered)          # as the think stage trains it
        return rendered

    def reason(self) -> str:
        return WHY_NOT.get(self.why_not, self.why_not)


def opens_thinking(prompt: str) -> bool:
    """Whether the prompt ends inside an opened <think> (DeepSeek-V3.1 with thinking, R1, a tags model asked to
    think): the model's words are then thoughts until it writes </think>."""
    return prompt.rstrip().endswith(THINK_START)


@functools.lru_cache(maxsize=16)
def template_variable(template: str | None) -> str | None:
    """The thinking flag a Jinja chat template reads from its caller (enable_thinking before thinking), else None."""
    if not template:
        return None
    import jinja2
    from jinja2 import meta

    try:
        used = meta.find_undeclared_variables(jinja2.Environment().parse(template))
    except jinja2.TemplateSyntaxError:
        used = {name for name in TEMPLATE_VARIABLES if name in template}
    return next((name for name in TEMPLATE_VARIABLES if name in used), None)


def check_mode(where: str, value: Any, remote: bool = False) -> str:
    """A profile's `thinking` value, lower-cased; ValueError naming the bad value and the valid choices."""
    choices = REMOTE_THINKING_MODES if remote else THINKING_MODES
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in choices:
        backend = " for an openai backend" if remote else ""
        raise ValueError(f"{where}: {value!r} is not valid{backend}; valid choices: {', '.join(choices)}")
    return text


def resolve(declared: str | None, template: str | None) -> ThinkingControl:
    """An in-process model's control: the profile's word first, else what its chat template shows."""
    variable = template_variable(template)
    if declared == "none":
        return ThinkingControl("none", why_not="declared")
    if declared == "tags":
        return ThinkingControl("tags")
    if declared == "template":
        missing = ThinkingControl("none", why_not="template_missing")
        return ThinkingControl("template", variable) if variable else missing
    if variable:
        return ThinkingControl("template", variable)
    if template and THINK_START in template:        # an R1-style template: it knows <think>, with no flag
        return ThinkingControl("tags")
    return ThinkingControl("none", why_not="no_control")


def chat_template_of(lm: Any) -> str | None:
    """The model's chat template text (a processor's, else its tokenizer's; the default of several)."""
    for owner in (getattr(lm, "processor", None), getattr(lm, "tokenizer", None)):
        template = getattr(owner, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()), None)
        if isinstance(template, str) and template:
            return template
    return None


def control_for(source: Any, lm: Any) -> ThinkingControl:
    """The loaded language model's control, from its profile entry (RoleSource) and its chat template."""
    declared = (source.options or {}).get("thinking") if source is not None else None
    if getattr(source, "kind", None) == "openai":
        return ThinkingControl("template") if declared == "template" else ThinkingControl(
            "none", why_not="declared" if declared == "none" else "remote")
    return resolve(declared, chat_template_of(lm))


def switch_state(source: Any, lm: Any | None, status: str) -> ThinkingControl:
    """What the Think switch shows, loading nothing: the loaded model's control; while it loads, the profile's word
    (why_not "loading" when it says nothing); a model that failed or is not configured cannot think."""
    declared = (source.options or {}).get("thinking") if source is not None else None
    if source is None or status.startswith("unavailable"):
        return ThinkingControl("none", why_not="unavailable")
    if lm is not None:
        return getattr(lm, "thinking", None) or control_for(source, lm)
    if declared == "none":
        return ThinkingControl("none", why_not="declared")
    return ThinkingControl(declared) if declared in ("template", "tags") else ThinkingControl("none", why_not="loading")


def thinking_settings(lm: Any, settings: Any, notices: list[str]) -> tuple[Any, list[str]]:
    """(settings, notices) for one answer: thinking asked of a model that cannot think is turned off, with a
    notice saying why (the answer comes, without thoughts)."""
    control = getattr(lm, "thinking", None) or ThinkingControl()
    if not settings.thinking or control.can_think:
        return settings, notices
    return dataclasses.replace(settings, thinking=False), notices + [
        f"This model answered without thinking: {control.reason()}."]


def requested(thinking: Any, model: Any) -> bool | None:
    """A /v1 request's wish: `"thinking": {"type": "enabled" | "disabled"}` first, else the model name
    (deepseek-reasoner thinks, deepseek-chat does not); None when it says nothing. ValueError for a bad value."""
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) and set(thinking) == {"type"} else None
        if kind not in THINKING_TYPES:
            raise ValueError(f"thinking must be {{\"type\": \"enabled\"}} or {{\"type\": \"disabled\"}}; got "
                             f"{thinking!r}; valid types: {', '.join(THINKING_TYPES)}")
        return THINKING_TYPES[kind]
    return THINKING_MODELS.get(model) if isinstance(model, str) else None


class ThinkingClock:
    """Counts how many generated tokens and seconds went to thinking and how many to the answer after it: told
    the reply after each step of the stream with the tokens generated so far."""

    def __init__(self):
        self.first_at: float | None = None
        self.answer_at: float | None = None
        self.thinking_tokens = 0

    def saw(self, reply: Reply, tokens_so_far: int) -> None:
        now = time.perf_counter()
        self.first_at = self.first_at or now
        if self.answer_at is None and reply.thinking_done:
            self.answer_at = now
            self.thinking_tokens = tokens_so_far if reply.thinking else 0
        elif self.answer_at is None:
            self.thinking_tokens = tokens_so_far

    def summary(self, reply: Reply, generated: int, counted: int | None = None) -> dict[str, Any]:
        """The trace's fields: thinking_tokens, thinking_s, reply_tokens (the answer's own), reply_s. counted: the
        thinking's tokens where the model counted them itself (a server's usage), else those seen before the answer."""
        ended = time.perf_counter()
        thought = min(self.thinking_tokens if counted is None else counted, generated) if reply.thinking else 0
        start = self.first_at or ended
        split = (self.answer_at or ended) if reply.thinking else start
        return {"thinking_tokens": thought, "thinking_s": round(split - start, 4),
                "reply_tokens": generated - thought, "reply_s": round(ended - split, 4)}
