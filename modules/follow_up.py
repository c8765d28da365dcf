"""Which picture or sound attached earlier in a conversation a follow-up message without an attachment asks about.

The built-in language model reads a picture or a sound only as the prefix of the turn it comes with. A person who
attached a picture and then asks "What colour is the circle?" means that picture: the studio attaches it again.
A message is taken to ask about a picture (or a sound) when it names something only a picture (a sound) has:
its colours, shapes, places or background (its beeps, tone, pitch, timbre), or the picture (sound) itself, or asks
"what is it" / "describe it" of whatever came last. Questions about the studio ("How do I upload a picture?") and
requests to draw are not follow-ups.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .contracts import MediaKind
from .media import display_name

_PICTURE_EN = re.compile(
    r"\b(pictures?|images?|photos?|colou?rs?|shapes?|objects?|circles?|squares?|triangles?|stars?|red|green|blue|"
    r"yellow|purple|orange|background|backdrop|(on|at|to) the (left|right|top|bottom)|(left|right)[- ]hand|"
    r"in the (cent(er|re)|middle)|(left|right|top|bottom) (side|part|half|corner))\b", re.IGNORECASE)
_SOUND_EN = re.compile(
    r"\b(sounds?|audio|beeps?|tones?|sweeps?|noise|pitch|timbre|buzzy|hear|heard|listen(ing)?|recording|"
    r"clip|loud(ness)?)\b", re.IGNORECASE)
_EITHER_EN = re.compile(
    r"\b(describe (it|this|that)|what('s| is| was) (it|this|that)|how many (are|were) there|how many of them)\b",
    re.IGNORECASE)
_PICTURE_ZH = re.compile(r"图|画面|照片|颜色|形状|物体|圆|正方|方形|三角|星|红|绿|蓝|黄|紫|橙|左边|右边|上边|下边|"
                         r"上面|下面|左侧|右侧|中间|背景")
_SOUND_ZH = re.compile(r"声|音|蜂鸣|扫频|噪|听|录")
_EITHER_ZH = re.compile(r"描述(一下)?(它|这个|一下)|(它|这)是什么|有几个|一共几")
_ABOUT_THE_STUDIO = re.compile(r"\b(upload|attach|send|paste)\b|上传|附上|发送|怎么(发|传|加)", re.IGNORECASE)


@dataclass(frozen=True)
class Carried:
    """An earlier attachment that this turn asks about again: its kind, its file, why it was chosen (the route's
    reason) and what the person is told."""

    kind: MediaKind
    path: str
    reason: str
    notice: str


def kinds_asked_about(text: str) -> tuple[MediaKind, ...]:
    """The kinds of attachment a message asks about, by what it names: ("image",), ("audio",), both (it asks
    about "it"), or () (it names neither, or it asks how to use the studio)."""
    if _ABOUT_THE_STUDIO.search(text):
        return ()
    picture = bool(_PICTURE_EN.search(text) or _PICTURE_ZH.search(text))
    sound = bool(_SOUND_EN.search(text) or _SOUND_ZH.search(text))
    if picture != sound:
        return ("image",) if picture else ("audio",)
    if picture or _EITHER_EN.search(text) or _EITHER_ZH.search(text):
        return ("image", "audio")
    return ()


def carried_attachment(text: str, earlier: list[tuple[MediaKind, str]]) -> Carried | None:
    """The newest of the earlier attachments ((kind, path), oldest first) of a kind the message asks about."""
    kinds = kinds_asked_about(text)
    for kind, path in reversed(earlier):
        if kind in kinds:
            word, name = "picture" if kind == "image" else "sound", display_name(path)
            return Carried(kind, path, f"a follow-up about the {word} attached earlier ('{name}'): it is read again",
                           f"About the {word} attached earlier: {name}.")
    return None
