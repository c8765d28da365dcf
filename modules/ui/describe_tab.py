"""The Describe tab (picture + optional question → text) and the Listen tab (sound + optional question → text)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from modules.ui import examples
from modules.ui.checks import check_file, check_text, generation_settings
from modules.ui.errors import friendly_errors
from modules.ui.fields import PictureFile
from modules.ui.session import StopSwitches, stops_when_cancelled
from modules.ui.settings import SettingsPanel
from modules.ui.texts import LANGUAGES, Relabeler, t

Ask = Callable[..., Iterator[str]]   # pipeline.describe_image / describe_audio: (path, question, settings, stop)
# What an empty question asks on a 中文 page (on an English one it stays empty: the pipeline's own default).
EMPTY_QUESTION_ZH = {"picture": "描述这张图片。", "sound": "描述这段声音。"}


def stream_answer(ask: Ask, path: Any, question: Any, values: tuple, limits: Any, kind: str,
                  stops: StopSwitches, request: gr.Request | None, channel: str, language: Any = LANGUAGES[0]
                  ) -> Iterator[str]:
    """Check the file, question, settings and page language, then stream the pipeline's whole-text-so-far
    answers; an empty question asks for a description in the page's language."""
    with friendly_errors():
        path = check_file(path, kind)
        question = check_text(question, limits, what="question")
        if page_language(language) == LANGUAGES[1] and not question.strip():
            question = EMPTY_QUESTION_ZH[kind]
        settings = generation_settings(*values, limits)
        answer = ""
        with stops.running(request, channel) as stop:
            for answer in ask(path, question, settings, stop=stop):
                yield answer
        if not answer:
            yield answer


def page_language(value: Any) -> str:
    """The page language a request names (one of LANGUAGES); anything else is refused with the valid choices."""
    if value not in LANGUAGES:
        raise gr.Error(f"language must be one of {', '.join(LANGUAGES)}; got {value!r}")
    return value


def _layout(media: gr.components.Component, texts: Relabeler, hint_key: str, button_key: str):
    """Left: the file, the question, the button. Right: the answer."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            media.render()
            question = gr.Textbox("", label=t("question"), placeholder=t(hint_key), lines=2, max_lines=4)
            button = gr.Button(t(button_key), variant="primary")
        with gr.Column(scale=1):
            answer = gr.Textbox(label=t("answer"), lines=10, max_lines=24, buttons=["copy"], interactive=False)
    texts.add(question, label="question", placeholder=hint_key)
    texts.add(button, value=button_key)
    texts.add(answer, label="answer")
    return question, button, answer


def _examples(rows: list[list[str]], media, question, fallback: list[str], texts: Relabeler) -> None:
    """Picture/sound + question examples when the files exist; question-only examples before they do."""
    inputs = [media, question] if rows else [question]
    table = gr.Examples(rows or [[q] for q in fallback], inputs, label=t("examples"), api_visibility="private",
                        cache_examples=False)
    texts.add(table.dataset, label="examples")


def build_describe_tab(describe_image: Ask, limits: Any, settings: SettingsPanel, texts: Relabeler,
                       stops: StopSwitches, language: gr.Radio) -> list:
    """Build the Describe tab; /describe_image(image, question="", ..., language) → text, streamed. language: the
    page's language switch (an empty question asks for a description in it)."""
    image = PictureFile(label=t("picture"), sources=["upload", "clipboard", "webcam"], height=340,
                        buttons=["fullscreen"], render=False)
    texts.add(image, label="picture")
    question, button, answer = _layout(image, texts, "question_picture", "describe_btn")

    @stops_when_cancelled
    def describe(image: str, question: str = "", temperature: float = 0.0, top_p: float = 0.9,
                 max_new_tokens: int = 96, seed: float = -1, language: str = LANGUAGES[0],
                 request: gr.Request = None) -> Iterator[str]:
        """Describe a picture, or answer a question about it; streams the whole answer so far."""
        yield from stream_answer(describe_image, image, question, (temperature, top_p, max_new_tokens, seed),
                                 limits, "picture", stops, request, "describe", language)

    event = gr.on([button.click, question.submit], describe, [image, question, *settings.inputs, language],
                  [answer], api_name="describe_image", api_description=describe.__doc__)
    _examples(examples.describe_examples(), image, question, examples.PICTURE_QUESTIONS, texts)
    return [event]


def build_listen_tab(describe_audio: Ask, limits: Any, settings: SettingsPanel, texts: Relabeler,
                     stops: StopSwitches, language: gr.Radio) -> list:
    """Build the Listen tab; /describe_audio(audio, question="", ..., language) → text, streamed. language: the
    page's language switch (an empty question asks for a description in it)."""
    audio = gr.Audio(type="filepath", label=t("sound"), sources=["upload", "microphone"], buttons=["download"],
                     render=False)
    texts.add(audio, label="sound")
    question, button, answer = _layout(audio, texts, "question_sound", "listen_btn")

    @stops_when_cancelled
    def listen(audio: str, question: str = "", temperature: float = 0.0, top_p: float = 0.9,
               max_new_tokens: int = 96, seed: float = -1, language: str = LANGUAGES[0],
               request: gr.Request = None) -> Iterator[str]:
        """Describe a sound, or answer a question about it; streams the whole answer so far."""
        yield from stream_answer(describe_audio, audio, question, (temperature, top_p, max_new_tokens, seed),
                                 limits, "sound", stops, request, "listen", language)

    event = gr.on([button.click, question.submit], listen, [audio, question, *settings.inputs, language], [answer],
                  api_name="describe_audio", api_description=listen.__doc__)
    _examples(examples.listen_examples(), audio, question, examples.SOUND_QUESTIONS, texts)
    return [event]
