"""Conversions between the Chatbot's messages (Gradio 6 "messages" format) and the pipeline's text-only history."""
from __future__ import annotations

import mimetypes
from typing import Any

from modules.contracts import InputError

PLACEHOLDERS = {"image": "[picture]", "audio": "[sound]"}


def user_messages(text: str, files: list[str]) -> list[dict]:
    """One user turn as Chatbot messages: each attached file shown first, then the text."""
    shown = [{"role": "user", "content": {"path": path}} for path in files]
    if text.strip():
        shown.append({"role": "user", "content": text})
    return shown


def _parts(message: dict) -> list[Any]:
    content = message.get("content")
    return content if isinstance(content, list) else [content]


def _file_of(part: Any) -> dict | None:
    """{"path", "mime_type"} of a file part in any of the shapes Chatbot uses, else None."""
    if isinstance(part, dict) and part.get("type") == "file" and isinstance(part.get("file"), dict):
        return part["file"]
    if isinstance(part, dict) and "path" in part:
        return part
    if isinstance(part, dict) and part.get("type") == "component":
        value = part.get("value")
        return value if isinstance(value, dict) and "path" in value else {"path": "", "mime_type": "image/png"}
    return None


def _text_of(part: Any) -> str | None:
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part.get("type") == "text":
        return str(part.get("text", ""))
    return None


def file_kind(file: dict) -> str:
    """"image", "audio" or "file" from the mime type (or the file name)."""
    mime = file.get("mime_type") or mimetypes.guess_type(str(file.get("path", "")))[0] or ""
    return mime.split("/")[0] if mime.split("/")[0] in PLACEHOLDERS else "file"


def message_text(message: dict) -> str:
    """The text a message stands for in the pipeline's history; a file becomes "[picture]" / "[sound]"."""
    pieces = []
    for part in _parts(message):
        text, file = _text_of(part), _file_of(part)
        if text is not None:
            pieces.append(text)
        elif file is not None:
            pieces.append(PLACEHOLDERS.get(file_kind(file), "[file]"))
    return "\n".join(p for p in pieces if p.strip())


def pipeline_history(messages: list[dict]) -> list[dict]:
    """Chatbot messages → [{"role": "user"|"assistant", "content": str}], consecutive same-role messages merged.
    The model's thoughts (messages with a metadata title) stay out, as DeepSeek's reasoning does."""
    history: list[dict] = []
    for message in messages or []:
        if (message.get("metadata") or {}).get("title"):
            continue
        role, text = message.get("role"), message_text(message)
        if role not in ("user", "assistant") or not text:
            continue
        if history and history[-1]["role"] == role:
            history[-1]["content"] += "\n" + text
        else:
            history.append({"role": role, "content": text})
    return history


def split_last_turn(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(messages before the last user turn, the last user turn's messages); its answer is dropped."""
    messages = list(messages or [])
    end = len(messages)
    while end and messages[end - 1].get("role") != "user":
        end -= 1                                  # drop the answer (assistant messages) after the last user turn
    start = end
    while start and messages[start - 1].get("role") == "user":
        start -= 1
    return messages[:start], messages[start:end]


def turn_as_input(turn: list[dict]) -> dict:
    """A user turn's messages → the MultimodalTextbox value {"text", "files"} that would send it again."""
    texts, files = [], []
    for message in turn:
        for part in _parts(message):
            text, file = _text_of(part), _file_of(part)
            if text is not None:
                texts.append(text)
            elif file is not None and file.get("path"):
                files.append(str(file["path"]))
    return {"text": "\n".join(texts), "files": files}


def api_history(history: Any) -> list[dict]:
    """History sent through the API: a list of {"role", "content"}; content that is not text is summarised."""
    if not history:
        return []
    if not isinstance(history, list) or not all(isinstance(m, dict) and "role" in m for m in history):
        raise InputError('history must be a list of {"role": "user" | "assistant", "content": str}.')
    return pipeline_history(history)
