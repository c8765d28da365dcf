"""Which path a chat request takes (describe a picture, describe a sound, draw, or chat), and why."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .contracts import RouteName

_DRAW_EN = re.compile(
    r"^\s*((hi|hello|hey|hiya|good (morning|evening))( there)?[,!.]*\s+)?"
    r"(please\s+|can you\s+|could you\s+|i would like you to\s+)?(draw|paint|sketch|illustrate)\b"
    r"|\b(make|generate|create|render)\s+(me\s+)?(a|an)\s+(picture|image|drawing|painting)\b"
    r"|\b(i would like|i want|give me)\s+(a|an)\s+(picture|image|drawing)\s+of\b",
    re.IGNORECASE)
_DRAW_ZH = re.compile(r"画|生成.*(图片|图像|一张图)|绘制")
# 画 that asks about a picture rather than for one: 画面 (the picture), 图画, "图上画了什么？", "中间画的是什么？"
# (not 画上 / 画中: "画上边一个…" and "画中间一个…" ask for a drawing)
_PICTURED_ZH = re.compile(r"画面|图画|画(的|了|着)(是|什么|啥|哪|几|谁)")
# "Can you draw?" asks about the studio, not for a drawing: nothing named to draw
_ASKS_WHETHER_IT_DRAWS = re.compile(
    r"^\W*((hi|hello|hey)\W+)?(can|could|do|will) you (draw|paint|sketch|make pictures|make images)"
    r"( (pictures|images|drawings|paintings|things|anything|at all))?\W*$"
    r"|^\W*((hi|hello|hey)\W+)?are you able to (draw|paint|sketch|make pictures)( (pictures|images|anything))?\W*$"
    r"|^\W*what (can|could|do) you (draw|paint|sketch)\W*$"
    r"|^\W*(你好\W*)?你?(会|能|可以|会不会|能不能)(画画|画图|绘画|画)(吗|么|呢)?\W*$"
    r"|^\W*(你好\W*)?你?(会|能|可以)画(些)?(什么|哪些)",
    re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    name: RouteName
    reason: str


def route(text: str, picture_count: int, sound_count: int) -> Route:
    """Attachments decide first; otherwise a request to draw goes to the image decoder; everything else is chat."""
    if picture_count:
        return Route("describe_image", f"{picture_count} picture(s) attached: the image encoder reads it")
    if sound_count:
        return Route("describe_audio", f"{sound_count} sound(s) attached: the audio encoder listens to it")
    if _ASKS_WHETHER_IT_DRAWS.search(text):
        return Route("chat", "the message asks whether the studio draws, names nothing to draw: the language model "
                             "answers")
    if _DRAW_EN.search(text) or _DRAW_ZH.search(_PICTURED_ZH.sub("", text)):
        return Route("draw", "the message asks for a drawing: the image decoder draws it")
    return Route("chat", "text only: the language model answers")

