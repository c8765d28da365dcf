"""Spoken answers in the chat: the pieces played as the talker makes them (a streaming player beside the chat), the
finished answer written as a WAV file the Chatbot plays, and the switch and the voice choice beside the message box."""
from __future__ import annotations

import uuid
from collections.abc import Callable

import gradio as gr

from modules.speech_formats import encode_speech
from modules.ui.pictures import picture_folder
from modules.ui.texts import Relabeler, t


def save_speech(speech) -> str:
    """Write a spoken answer (modules.native_lm.Speech) as a 16-bit WAV in the studio's temp folder (which the
    server hands out: the Chatbot plays it, /chat returns it); its path."""
    path = picture_folder() / f"answer-{speech.voice.lower()}-{uuid.uuid4().hex[:8]}.wav"
    path.write_bytes(encode_speech(speech, "wav"))
    return str(path)


def speech_message(speech) -> dict:
    """The spoken answer as a Chatbot message that plays it."""
    return {"role": "assistant", "content": {"path": save_speech(speech), "alt_text": f"spoken by {speech.voice}"}}


def can_stream_speech() -> bool:
    """gradio encodes a streamed audio output with ffmpeg: without it the chat only gets the finished WAV."""
    from gradio.processing_utils import ffmpeg_installed

    return ffmpeg_installed()


def speech_player(texts: Relabeler) -> gr.Audio | None:
    """The player that plays the spoken answer as it is made (autoplay); None where it cannot stream."""
    if not can_stream_speech():
        return None
    player = gr.Audio(label=t("spoken"), streaming=True, autoplay=True, interactive=False, elem_id="chat-speech",
                      buttons=[])
    return texts.add(player, label="spoken")


def piece_for_player(piece) -> bytes:
    """A SpeechPiece as the streaming player takes it: a 16-bit WAV of its samples (bytes are not rescaled as
    numpy arrays are, so every piece keeps its loudness)."""
    return encode_speech(piece, "wav")


def speech_controls(texts: Relabeler, voices: Callable[[], list[str]]) -> tuple[gr.Checkbox, gr.Dropdown]:
    """The "speak the answer" switch (off) and the voice choice, filled from the model's talker when opened (the
    model is not loaded while the page is built)."""
    speak = gr.Checkbox(value=False, label=t("speak"), container=False, scale=0, min_width=170, elem_id="chat-speak")
    voice = gr.Dropdown(choices=[], value=None, label=t("voice"), show_label=False, allow_custom_value=True,
                        container=False, scale=0, min_width=140, elem_id="chat-voice", interactive=True)

    def fill_voices(current: str | None):
        choices = voices()
        return gr.update(choices=choices, value=current if current in choices else (choices[0] if choices else None))

    voice.focus(fill_voices, [voice], [voice], queue=False, api_visibility="private")
    speak.change(fill_voices, [voice], [voice], queue=False, api_visibility="private")
    texts.add(speak, label="speak")
    texts.add(voice, label="voice")
    return speak, voice
