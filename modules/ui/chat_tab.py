"""The Chat tab: a streaming multimodal conversation with Stop, retry, undo, clear, notices and the route taken."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from modules.contracts import ChatEvent, InputError
from modules.reasoning import join_reply
from modules.search.citations import with_sources
from modules.search.documents import DOCUMENT_SUFFIXES
from modules.ui import examples
from modules.ui.checks import check_message, generation_settings
from modules.ui.errors import as_gr_error, friendly_errors
from modules.ui.history import api_history, pipeline_history, split_last_turn, turn_as_input, user_messages
from modules.ui.pictures import caption, save_picture
from modules.ui.session import StopSwitches, stops_when_cancelled
from modules.ui.settings import SettingsPanel
from modules.ui.speech import piece_for_player, save_speech, speech_controls, speech_message, speech_player
from modules.ui.think_switch import think_switch
from modules.ui.texts import LANGUAGES, Relabeler, t

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
FILE_TYPES = ["image", "audio", *DOCUMENT_SUFFIXES]      # documents are searched (docs/search.md)
STOPPED = "Stopped: the answer above is as far as it got."


def route_line(route: str, reason: str = "") -> str:
    return f"route: **{route}**" + (f" — {reason}" if reason else "")


def notice_line(notices: list[str]) -> str:
    return "\n".join(f"ℹ️ {n}" for n in notices)


def _locked() -> dict:
    """The input while an answer streams: no sending, the built-in stop button shown."""
    return gr.update(value=None, interactive=False, submit_btn=False, stop_btn=True)


def answer_text(event: ChatEvent) -> str:
    """The answer as shown and as /chat returns it: with search, its citations linked and the sources under it."""
    from modules.world.language import language_of
    return with_sources(event.text, event.sources, language_of(event.text))


def search_switch(on: Any) -> dict:
    """The chat call's search argument: given only when the switch is on, so any chat callable takes the call."""
    return {"search": True} if on else {}


def conversation_files(messages: list[dict]) -> list[str]:
    """Every file the person attached earlier in the conversation, oldest first."""
    return turn_as_input([m for m in messages or [] if m.get("role") == "user"])["files"]


def conversation_documents(messages: list[dict]) -> list[str]:
    """The documents attached earlier in the conversation: each answer can search them again."""
    return [f for f in conversation_files(messages) if f.lower().endswith(DOCUMENT_SUFFIXES)]


def _unlocked() -> dict:
    return gr.update(interactive=True, submit_btn=True, stop_btn=False)


def thought_message(event: ChatEvent) -> dict:
    """The model's thinking as a Chatbot thought: open with a spinner while it thinks, folded once it answers.
    Titled in the language the model thought in; pipeline_history leaves thoughts out of the next prompt."""
    from modules.world.language import language_of
    lang = LANGUAGES[1] if language_of(event.thinking) == "zh" else LANGUAGES[0]
    done = bool(event.text) or event.done
    return {"role": "assistant", "content": event.thinking,
            "metadata": {"title": t("thought" if done else "thinking", lang), "status": "done" if done else "pending"}}


class ChatHandlers:
    """The Chat tab's handlers, given only pipeline.chat."""

    def __init__(self, chat: Callable[..., Iterator[ChatEvent]], limits: Any,
                 stops: StopSwitches, plays_speech: bool = False) -> None:
        self.chat, self.limits, self.stops = chat, limits, stops
        self.plays_speech = plays_speech        # respond has a 5th output: the streaming player (speech_player)

    def _outputs(self, *values) -> tuple:
        """respond's outputs: (chatbot, route, notices, failure) and, with a player, what it plays next."""
        return values if self.plays_speech else values[:4]

    def check(self, message: dict | None, temperature: float, top_p: float, max_new_tokens: int, seed: float) -> None:
        """Refuse an empty or too long message or bad settings before anything changes (no outputs: the
        conversation is not touched, the error shows as a toast)."""
        with friendly_errors():
            check_message(message, self.limits)
            generation_settings(temperature, top_p, max_new_tokens, seed, self.limits)

    def accept(self, message: dict, chatbot: list[dict]):
        """Show the user's turn at once and lock the input while the answer streams."""
        text, files = check_message(message, self.limits)
        return _locked(), list(chatbot or []) + user_messages(text, files), {"text": text, "files": files}

    def respond(self, message: dict, chatbot: list[dict], temperature: float, top_p: float, max_new_tokens: int,
                seed: float, request: gr.Request = None, search: bool = False, speak: bool = False,
                voice: str | None = None, thinking: bool = False):
        """Stream the answer below the last user turn. A failure is handed to `report` (4th output) instead of
        being raised here, so the chatbot never shows an error overlay and keeps the whole conversation. speak:
        the answer is also spoken (in `voice`) and played in the chat; thinking: the model thinks first (its
        thoughts show folded above the answer)."""
        try:
            yield from self._stream(message, chatbot, (temperature, top_p, max_new_tokens, seed), request,
                                    search, (bool(speak), voice or None), bool(thinking))
        except Exception as exc:  # noqa: BLE001 - reported by `report`, the app keeps serving
            yield self._outputs(gr.skip(), gr.skip(), gr.skip(), as_gr_error(exc).message, gr.skip())

    def _stream(self, message: dict, chatbot: list[dict], values: tuple, request: gr.Request | None,
                search: bool = False, spoken: tuple[bool, str | None] = (False, None), thinking: bool = False):
        settings = dataclasses.replace(generation_settings(*values, self.limits), speak=spoken[0], voice=spoken[1],
                                       thinking=thinking)
        text, files = check_message(message, self.limits)
        earlier, turn = split_last_turn(chatbot)
        shown, pictures, notices, event = earlier + turn, [], [], None
        with self.stops.running(request, "chat") as stop:
            for event in self.chat(text, files + conversation_documents(earlier), pipeline_history(earlier),
                                   settings, stop=stop, earlier_files=conversation_files(earlier),
                                   **search_switch(search)):
                pictures = pictures or [(save_picture(p), caption(p)) for p in event.pictures]
                self._announce(event.notices, notices)
                played = piece_for_player(event.speech_piece) if event.speech_piece is not None else gr.skip()
                yield self._outputs(shown + self._answer(event, pictures), route_line(event.route),
                                    notice_line(notices), None, played)
            stopped = stop.is_set() and not (event and event.done)
        if stopped:
            notices.append(STOPPED)
        reason = event.trace.get("reason", "") if event and not stopped else ""     # this answer's, not the last one
        route = event.route if event else "chat"
        yield self._outputs(shown + self._answer(event, pictures), route_line(route, reason), notice_line(notices),
                            None, gr.skip())

    @staticmethod
    def report(failure: str | None) -> None:
        """Raise the failure `respond` caught, as a gr.Error toast on an event with no outputs."""
        if failure:
            raise gr.Error(failure, print_exception=False)

    @staticmethod
    def _announce(new: list[str], shown: list[str]) -> None:
        for notice in new:
            if notice not in shown:
                shown.append(notice)
                gr.Info(notice)

    @staticmethod
    def _answer(event: ChatEvent | None, pictures: list[tuple[str, str]]) -> list[dict]:
        messages = [thought_message(event)] if event and event.thinking else []
        messages += [{"role": "assistant", "content": answer_text(event)}] if event and event.text else []
        messages += [speech_message(event.speech)] if event and event.speech is not None else []
        return messages + [{"role": "assistant", "content": {"path": path, "alt_text": alt}} for path, alt in pictures]

    def api_chat(self, message: dict, history: list, temperature: float, top_p: float, max_new_tokens: int,
                 seed: float, request: gr.Request = None, search: bool = False, thinking: bool = False,
                 speak: bool = False, voice: str | None = None) -> Iterator[dict]:
        """Answer a message {"text": str, "files": [paths]} (pictures, sounds; documents txt, md, html, pdf to
        search) after an optional history of {"role", "content"} turns. Returns a message of the same shape,
        streamed: {"text": the answer so far, "files": the pictures drawn for it, as PNG files (prompt and seed in
        their metadata), else []}. search=True looks the question up first (SearXNG or the local documents): the
        answer cites its sources as [n] and lists them under a "Sources" line. thinking=True asks the model to
        think first (深度思考): the text starts with <think>, the thoughts and </think>, then the answer; a model that
        cannot think answers without them and says so in a notice (a history's thoughts are left out).
        speak=True also speaks the answer, in `voice` (a name the checkpoint's talker knows, e.g. Ethan; empty: its
        first): the last reply's files end with the spoken answer as a 24 kHz 16-bit mono WAV file; a model without
        a talker answers in text only and says so in a notice (an Info log message); an unknown voice is refused
        with the valid ones named."""
        with friendly_errors():
            text, files = check_message(message, self.limits)
            for name, value in (("thinking", thinking), ("speak", speak)):
                if not isinstance(value, bool):
                    raise InputError(f"{name} must be true or false; got {value!r}.")
            if voice is not None and not isinstance(voice, str):
                raise InputError(f"voice must be a voice's name (text) or empty; got {voice!r}.")
            settings = dataclasses.replace(generation_settings(temperature, top_p, max_new_tokens, seed, self.limits),
                                           thinking=thinking, speak=speak, voice=(voice or "").strip() or None)
            reply: dict = {"text": "", "files": []}
            told: list[str] = []
            drawn: list[str] = []
            with self.stops.running(request, "api-chat") as stop:
                for event in self.chat(text, files, api_history(history), settings, stop=stop,
                                       **search_switch(search)):
                    if event.speech_piece is not None:      # /chat returns the whole WAV at the end
                        continue
                    self._announce(event.notices, told)
                    drawn = drawn or [save_picture(p) for p in event.pictures]
                    spoken = [save_speech(event.speech)] if event.speech is not None else []
                    shown = answer_text(event)
                    reply = {"text": join_reply(event.thinking, shown) if thinking else shown,
                             "files": drawn + spoken}
                    yield reply
            if not reply["text"] and not reply["files"]:
                yield reply

    @staticmethod
    def retry(chatbot: list[dict]):
        """Drop the last answer and send the last user turn again."""
        earlier, turn = split_last_turn(chatbot)
        if not turn:
            raise gr.Error("There is no message to retry yet.")
        return _locked(), earlier + turn, turn_as_input(turn)

    @staticmethod
    def undo(chatbot: list[dict]):
        """Remove the last turn and its answer, putting the user's message back in the input."""
        earlier, turn = split_last_turn(chatbot)
        return earlier, turn_as_input(turn) if turn else None, "", ""

    def stop(self, request: gr.Request = None):
        """Set this session's stop flag (the model halts at its next token); the event itself is cancelled too."""
        stopped = self.stops.stop(request, "chat")
        return _unlocked(), notice_line([STOPPED]) if stopped else gr.skip()

    def clear(self, request: gr.Request = None):
        """New chat: stop whatever runs, empty the conversation and the lines under it."""
        self.stops.stop(request, "chat")
        return _unlocked(), [], "", ""


def pick_example(example: gr.SelectData) -> dict:
    """An example card clicked in the empty chat → the input, ready to send (or edit first)."""
    value = example.value or {}
    files = [f["path"] if isinstance(f, dict) else str(f) for f in value.get("files") or []]
    return {"text": value.get("text", ""), "files": files}


def _chat_area(texts: Relabeler, voices: Callable[[], list[str]], thinking: Callable | None, language: Any):
    chatbot = gr.Chatbot(label=t("chatbot"), show_label=False, height="56vh", min_height=340, elem_id="chatbot",
                         placeholder=t("chat_welcome"), buttons=["copy", "copy_all"], feedback_options=None,
                         examples=examples.chat_examples())
    route = gr.Markdown("", elem_classes=["route-line"], elem_id="chat-route")
    notices = gr.Markdown("", elem_classes=["notice-line"], elem_id="chat-notices")
    textbox = gr.MultimodalTextbox(placeholder=t("chat_input"), show_label=False, file_types=FILE_TYPES,
                                   file_count="multiple", sources=["upload", "microphone"], submit_btn=True,
                                   stop_btn=False, elem_id="chat-input", autofocus=True)
    with gr.Row(elem_classes=["chat-tools"]):
        stop = gr.Button(t("stop"), variant="stop", size="sm", elem_id="chat-stop", scale=0, min_width=110)
        clear = gr.Button(t("new_chat"), variant="secondary", size="sm", elem_id="chat-clear", scale=0,
                          min_width=130)
        think = think_switch(texts, thinking, language)
        search = _search_switch(texts)
        speak, voice = speech_controls(texts, voices)
    player = speech_player(texts)               # plays the spoken answer as it is made
    texts.add(chatbot, placeholder="chat_welcome")
    texts.add(textbox, placeholder="chat_input")
    texts.add(stop, value="stop")
    texts.add(clear, value="new_chat")
    return chatbot, route, notices, textbox, stop, clear, search, speak, voice, think, player


def _search_switch(texts: Relabeler) -> gr.Checkbox:
    """The Search / 联网搜索 switch beside the message box: answers look the question up and cite their sources."""
    switch = gr.Checkbox(value=False, label=t("search"), info=None, container=False, scale=0, min_width=150,
                         elem_id="chat-search")
    return texts.add(switch, label="search")


def _api_endpoint(handlers: ChatHandlers, settings: SettingsPanel, slots: int | str = "default") -> None:
    """/chat for gradio_client: hidden components, so the endpoint's first parameter is the message dict."""
    with gr.Group(visible=False):
        # No file_types here: gradio's own refusal reads "Invalid file type: None"; ours names the file and the
        # kinds we take.
        message = gr.MultimodalTextbox(label="Message", file_types=None, file_count="multiple", visible=False)
        history = gr.JSON(value=[], label="History", visible=False)
        # the reply has the message's shape: {"text", "files"}; the pictures drawn for it and its spoken answer come
        # back as files
        answer = gr.MultimodalTextbox(label="Answer", file_count="multiple", visible=False)
        search = gr.Checkbox(value=False, label="Search", visible=False)
        thinking = gr.Checkbox(value=False, label="Thinking", visible=False)
        # spoken answers (a checkpoint with a talker): the WAV comes back among the answer's files
        speak = gr.Checkbox(value=False, label="Speak", visible=False)
        voice = gr.Textbox(value="", label="Voice", visible=False)
        trigger = gr.Button(visible=False)
    # new parameters go last: clients that pass the earlier ones by position keep working
    trigger.click(stops_when_cancelled(handlers.api_chat),
                  [message, history, *settings.inputs, search, thinking, speak, voice], [answer],
                  api_name="chat", api_description=handlers.api_chat.__doc__, concurrency_limit=slots)


def build_chat_tab(chat: Callable[..., Iterator[ChatEvent]], limits: Any,
                   settings: SettingsPanel, texts: Relabeler, stops: StopSwitches,
                   voices: Callable[[], list[str]] = list, thinking: Callable | None = None,
                   language: Any = None, slots: int | str = "default") -> list:
    """Build the tab's contents (inside an open gr.Tab); returns the events after which an answer is complete.
    voices: the language model's voices for spoken answers ([] when it cannot speak); thinking: pipeline.thinking,
    whether the model can think (the Think switch; None: it can); language: the page's language switch; slots:
    answers served at once by each answering event (gradio's concurrency_limit; "default": the queue's)."""
    chatbot, route, notices, textbox, stop, clear, search, speak, voice, think, player = _chat_area(
        texts, voices, thinking, language)
    handlers = ChatHandlers(chat, limits, stops, plays_speech=player is not None)
    saved, failure = gr.State(None), gr.State(None)
    answer_io = dict(inputs=[saved, chatbot, *settings.inputs, search, speak, voice, think],
                     outputs=[chatbot, route, notices, failure] + ([player] if player is not None else []),
                     concurrency_limit=slots, **PRIVATE)
    quick: dict[str, Any] = dict(queue=False, **PRIVATE)

    # check and report raise gr.Error: queued, because only queued events show their error as a toast
    checked = textbox.submit(handlers.check, [textbox, *settings.inputs], None, **PRIVATE)
    sent = checked.success(handlers.accept, [textbox, chatbot], [textbox, chatbot, saved], **quick)
    respond = stops_when_cancelled(handlers.respond)       # a cancel stops the model at its next step
    answered = sent.success(respond, **answer_io)
    retried = chatbot.retry(handlers.retry, [chatbot], [textbox, chatbot, saved], **quick)
    reanswered = retried.success(respond, **answer_io)
    for done in (answered, reanswered):
        done.then(_unlocked, None, [textbox], **quick)
        done.then(handlers.report, [failure], None, **PRIVATE)

    running = [answered, reanswered]
    stop.click(handlers.stop, None, [textbox, notices], cancels=running, **quick)
    textbox.stop(handlers.stop, None, [textbox, notices], cancels=running, **quick)
    clear.click(handlers.clear, None, [textbox, chatbot, route, notices], cancels=running, **quick)
    chatbot.undo(handlers.undo, [chatbot], [chatbot, textbox, route, notices], **quick)
    chatbot.clear(lambda: ("", ""), None, [route, notices], **quick)

    chatbot.example_select(pick_example, None, [textbox], **quick)
    _api_endpoint(handlers, settings, slots)
    return running
