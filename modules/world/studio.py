"""Questions about the studio's own language model (its experts, layers and parameters), answered from the model's
real configuration, in English and Chinese, every question worded from the grammar (phrasing)."""
from __future__ import annotations

import random
from dataclasses import dataclass

from .exchange import Exchange
from .phrasing import Part, worded
from .wordings import KEY_WORDS


@dataclass(frozen=True)
class StudioFacts:
    """What the language model is, as its configuration says."""

    routed_experts: int          # per MoE layer
    shared_experts: int          # per MoE layer, used by every token
    experts_per_token: int       # routed experts chosen for each token
    layers: int
    dense_layers: int            # the first layers keep a dense feed-forward block
    total_parameters: int
    active_parameters: int       # per token: routed experts count only top-k of n

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers


def millions_en(count: int) -> str:
    """7123456 -> "7.12 million"."""
    return f"{count / 1e6:.2f} million"


def wan_zh(count: int) -> str:
    """7123456 -> "712万" (万 = ten thousand)."""
    return f"{round(count / 1e4)}万"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def answers(facts: StudioFacts) -> dict[str, dict[str, str]]:
    """Each topic's answer in each language, with the facts' numbers."""
    f = facts
    shared_en = plural(f.shared_experts, "shared expert")
    total_en, active_en = millions_en(f.total_parameters), millions_en(f.active_parameters)
    total_zh, active_zh = wan_zh(f.total_parameters), wan_zh(f.active_parameters)
    return {
        "experts": {
            "en": f"Each of my MoE layers has {f.routed_experts} routed experts and {shared_en}; "
                  f"{f.experts_per_token} routed experts are active per token.",
            "zh": f"我的每个 MoE 层有{f.routed_experts}个路由专家和{f.shared_experts}个共享专家，"
                  f"每个词元激活其中{f.experts_per_token}个路由专家。"},
        "active experts": {
            "en": f"{f.experts_per_token} of my {f.routed_experts} routed experts are active per token, plus "
                  f"{shared_en}.",
            "zh": f"每个词元激活{f.routed_experts}个路由专家中的{f.experts_per_token}个，另外还有{f.shared_experts}个共享专家。"},
        "layers": {
            "en": f"I have {f.layers} layers: {f.dense_layers} dense and {f.moe_layers} MoE layers.",
            "zh": f"我有{f.layers}层：{f.dense_layers}层稠密层和{f.moe_layers}层 MoE 层。"},
        "parameters": {
            "en": f"I have {total_en} parameters in total; {active_en} of them are active per token.",
            "zh": f"我总共有约{total_zh}个参数，每个词元激活其中约{active_zh}个。"},
        "architecture": {
            "en": f"I am a small DeepSeek-V3 mixture-of-experts model: {f.layers} layers, {f.routed_experts} routed "
                  f"experts, {shared_en}, {f.experts_per_token} active per token, {total_en} parameters.",
            "zh": f"我是一个小型 DeepSeek-V3 混合专家模型：{f.layers}层，{f.routed_experts}个路由专家，"
                  f"{f.shared_experts}个共享专家，每个词元激活{f.experts_per_token}个，总共约{total_zh}个参数。"},
    }


def _part(name: str, *options: str) -> Part:
    return Part(name, options, 0.3)


STUDIO_QUESTIONS: dict[str, dict[str, Part]] = {
    "experts": {
        "en": _part("en/studio experts", "How many experts do you have?", "How many experts are there?",
                    "How many experts does the model have?", "How many routed experts do you have?",
                    "How many experts are in your MoE layers?", "How many experts does this studio's model use?",
                    "How many shared experts do you have?", "Tell me how many experts you have.",
                    "How many experts do you use?", "What is your number of experts?", "Do you have shared experts?"),
        "zh": _part("zh/studio experts", "你有多少个专家？", "你有几个专家？", "模型有多少个专家？", "你的专家有多少个？",
                    "你有多少个路由专家？", "你有几个共享专家？", "混合专家层里有多少个专家？", "告诉我你有多少个专家。",
                    "专家数量是多少？", "你一共有几个专家？"),
    },
    "active experts": {
        "en": _part("en/studio active experts", "How many experts are active per token?",
                    "How many experts does each token use?", "How many experts are active at once?",
                    "How many experts run for each token?", "How many experts are chosen per token?",
                    "How many routed experts are picked for a token?", "How many experts does the router pick?",
                    "How many experts work on each token?"),
        "zh": _part("zh/studio active experts", "每个词元激活几个专家？", "每个词元用几个专家？", "一次激活多少个专家？",
                    "路由器为每个词元选几个专家？", "每个词元有几个专家在工作？", "每次有几个专家被激活？",
                    "每个词元会选中几个路由专家？"),
    },
    "layers": {
        "en": _part("en/studio layers", "How many layers do you have?", "How many layers does the model have?",
                    "How deep are you?", "How many MoE layers do you have?", "How many dense layers are there?",
                    "What is your number of layers?", "How many transformer layers do you have?",
                    "Tell me how many layers you have."),
        "zh": _part("zh/studio layers", "你有几层？", "模型有多少层？", "你有多少层？", "你有几个MoE层？", "你有几个稠密层？",
                    "你的层数是多少？", "告诉我你有几层。", "网络有几层？"),
    },
    "parameters": {
        "en": _part("en/studio parameters", "How many parameters do you have?", "How big are you?",
                    "How large is the model?", "How many parameters are active per token?",
                    "What is your parameter count?", "How many active parameters do you have?",
                    "What size is the language model?", "How many weights do you have?",
                    "How many total parameters do you have?"),
        "zh": _part("zh/studio parameters", "你有多少参数？", "你有多少个参数？", "模型有多大？", "你的参数量是多少？",
                    "每个词元激活多少参数？", "你有多少激活参数？", "你的总参数量是多少？", "模型的规模有多大？"),
    },
    "architecture": {
        "en": _part("en/studio architecture", "What model are you?", "What architecture do you use?",
                    "What kind of model are you?", "What is your architecture?",
                    "Which model is behind this studio?", "Tell me about your architecture.",
                    "What are you built on?"),
        "zh": _part("zh/studio architecture", "你是什么模型？", "你用的是什么架构？", "你是哪种模型？", "你的架构是什么？",
                    "这个工作室背后是什么模型？", "介绍一下你的架构。", "你是基于什么构建的？"),
    },
}
STUDIO_TOPICS = tuple(STUDIO_QUESTIONS)


def studio_exchange(facts: StudioFacts, rng: random.Random, lang: str, held_out: bool = False,
                    topic: str | None = None) -> Exchange:
    """A question about the studio's own model (topic: one of STUDIO_TOPICS, else any), answered with the facts;
    held_out as picture_question's."""
    topic = topic or rng.choice(STUDIO_TOPICS)
    if topic not in STUDIO_QUESTIONS:
        raise ValueError(f"unknown studio topic {topic!r}; valid: {list(STUDIO_TOPICS)}")
    wording = worded(STUDIO_QUESTIONS[topic][lang], {}, lang, rng, held_out, KEY_WORDS)
    return Exchange(wording.text, answers(facts)[topic][lang], lang, kind=topic, wording=wording.parts)
