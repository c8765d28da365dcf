"""Every word the studio shows, in English and 中文, and the Relabeler that switches a built page between them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

LANGUAGES = ("English", "中文")          # the choices of the language switch; index 0 is the default

# key -> (English, 中文)
TEXTS: dict[str, tuple[str, str]] = {
    "tagline": ("A multimodal mixture-of-experts studio", "多模态混合专家工作室"),
    "language": ("Interface language", "界面语言"),
    # tabs
    "tab_chat": ("💬 Chat", "💬 对话"),
    "tab_describe": ("🖼️ Describe", "🖼️ 看图"),
    "tab_draw": ("🎨 Draw", "🎨 画图"),
    "tab_listen": ("🎧 Listen", "🎧 听音"),
    "tab_inspector": ("🔬 Inspector", "🔬 检视"),
    # chat
    "chatbot": ("Conversation", "对话"),
    "chat_welcome": ("### How can I help you today?\nType a message, attach a picture or a sound, "
                     "or ask me to draw something.",
                     "### 今天我能帮你做什么？\n输入消息，附上一张图片或一段声音，"
                     "或者让我画点什么。"),
    "chat_input": ("Message OmniMoE — attach a picture or a sound, or record one",
                   "给 OmniMoE 发送消息 —— 可附上图片或声音，也可以录音"),
    "stop": ("⏹ Stop", "⏹ 停止"),
    "thinking": ("💭 Thinking…", "💭 思考中…"),
    "thought": ("💭 Thought", "💭 已思考"),
    "new_chat": ("🗑 New chat", "🗑 新对话"),
    "search": ("🌐 Search", "🌐 联网搜索"),
    "think": ("🧠 Think", "🧠 深度思考"),
    "think_off_declared": ("This model has not learnt to think yet (its profile says thinking: none).",
                           "这个模型还没有学会思考（其配置为 thinking: none）。"),
    "think_off_no_control": ("This model cannot be asked to think: its chat template has no thinking switch.",
                             "无法让这个模型思考：它的对话模板没有思考开关。"),
    "think_off_template_missing": ("The profile says thinking: template, but the chat template has no "
                                   "thinking switch.",
                                   "配置写了 thinking: template，但对话模板没有思考开关。"),
    "think_off_remote": ("The server's model is not known to think (the profile does not say thinking: template).",
                         "不知道服务器上的模型能否思考（配置里没有 thinking: template）。"),
    "think_off_unavailable": ("The language model did not load.", "语言模型没有加载成功。"),
    "think_off_loading": ("The language model is still loading…", "语言模型还在加载…"),
    "speak": ("🔊 Speak the answer", "🔊 朗读回答"),
    "voice": ("Voice", "声音"),
    "spoken": ("Spoken answer", "语音回答"),
    "examples": ("Examples", "示例"),
    # settings
    "settings": ("⚙️ Settings", "⚙️ 设置"),
    "temperature": ("Temperature (0 = always the same answer)", "温度（0 = 每次相同的回答）"),
    "top_p": ("Top-p (share of probability kept)", "Top-p（保留的概率比例）"),
    "max_new_tokens": ("Max new tokens", "最多生成的词元数"),
    "seed": ("Seed (-1 = random)", "随机种子（-1 = 随机）"),
    # describe / listen
    "picture": ("Picture", "图片"),
    "sound": ("Sound", "声音"),
    "question": ("Question (optional)", "问题（可选）"),
    "question_picture": ("e.g. what color is the circle? — leave empty for a description",
                         "例如：圆形是什么颜色？—— 留空则描述整张图片"),
    "question_sound": ("e.g. how many beeps? — leave empty for a description",
                       "例如：有几声蜂鸣？—— 留空则描述这段声音"),
    "describe_btn": ("Describe", "描述"),
    "listen_btn": ("Listen", "聆听"),
    "answer": ("Answer", "回答"),
    # draw
    "prompt": ("Prompt", "提示词"),
    "prompt_hint": ("e.g. a small blue star on the left", "例如：画一个红色的圆形"),
    "steps": ("Steps", "步数"),
    "guidance": ("Guidance", "引导强度"),
    "draw_seed": ("Seed (blank or -1 = random)", "随机种子（留空或 -1 = 随机）"),
    "count": ("Pictures", "图片数量"),
    "draw_btn": ("Draw", "画图"),
    "gallery": ("Pictures", "图片"),
    "downloads": ("PNG files (prompt and seed inside)", "PNG 文件（内含提示词与种子）"),
    # inspector
    "refresh": ("↻ Refresh", "↻ 刷新"),
    "heatmap": ("Routed experts per generated token", "每个生成词元选中的路由专家"),
    "load": ("Tokens per expert", "每个专家处理的词元数"),
    "raw_trace": ("Raw trace", "原始追踪数据"),
    "memory": ("Memory per role", "各角色占用的内存"),
    "no_memory": ("No model is loaded yet: roles load at start-up or on first use; then press ↻ Refresh.",
                  "还没有加载模型：各角色在启动时或首次使用时加载，之后请点 ↻ 刷新。"),
    "no_trace": ("No answer yet: ask something in any tab, then come back.",
                 "还没有回答：先在任意标签页提问，再回来查看。"),
}


def t(key: str, lang: str = LANGUAGES[0]) -> str:
    """The text for `key` in `lang` (one of LANGUAGES); unknown languages fall back to English."""
    english, chinese = TEXTS[key]
    return chinese if lang == LANGUAGES[1] else english


@dataclass
class Relabeler:
    """Remembers which property of which component shows which text, so one event can relabel the whole page."""

    entries: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def add(self, component: Any, **props: str | Callable[[], str | None]) -> Any:
        """Register e.g. add(button, value="draw_btn"); returns the component for chaining."""
        self.entries.append((component, props))
        return component

    @property
    def components(self) -> list[Any]:
        return [component for component, _ in self.entries]

    def updates(self, lang: str) -> list[dict]:
        """One gr.update per registered component, in registration order, with its texts in `lang`. A key may be
        a callable giving the key now (or None: no text), for a text that follows a state."""
        return [gr.update(**{prop: _text(key, lang) for prop, key in props.items()}) for _, props in self.entries]


def _text(key: str | Callable[[], str | None], lang: str) -> str | None:
    key = key() if callable(key) else key
    return None if key is None else t(key, lang)
