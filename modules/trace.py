"""The Inspector's record of one answer: route, timings, token counts and which experts fired."""
from __future__ import annotations

from typing import Any

from .reasoning import Reply


def expert_load(experts: list[list[list[int]]], layers: int, num_experts: int) -> list[list[int]]:
    """[token][layer] -> expert ids  ==>  [layer][expert] -> how many generated tokens used it."""
    load = [[0] * num_experts for _ in range(layers)]
    for per_token in experts:
        for layer, ids in enumerate(per_token):
            for expert in ids:
                load[layer][expert] += 1
    return load


def _speech_summary(speech) -> dict[str, Any] | None:
    """The spoken answer as the Inspector lists it (its samples travel on the ChatEvent)."""
    if speech is None:
        return None
    return {"voice": speech.voice, "sample_rate": speech.sample_rate,
            "seconds": round(len(speech.samples) / speech.sample_rate, 3)}


def build_trace(lm, stats, route, question: str, reply: Reply, notices: list[str]) -> dict[str, Any]:
    """reply: the finished Reply (thinking and answer)."""
    from .world.language import language_of
    total, active = lm.parameter_counts()
    answer = reply.answer
    return {
        "route": route.name,
        "reason": route.reason,
        "language": language_of(question or answer),
        "question": question,
        "answer": answer,
        "thinking": reply.thinking,
        "prompt_tokens": stats.prompt_tokens,
        "answer_tokens": stats.answer_tokens,
        "ttft_s": round(stats.ttft_s, 4),
        "ms_per_token": round(stats.ms_per_token, 2),
        "params_total": total,
        "params_active": active,
        "moe_layers": lm.moe_layers,
        "num_experts": lm.num_experts,
        "tokens": stats.tokens,
        "experts": stats.experts,
        "expert_load": expert_load(stats.experts, len(lm.moe_layers), lm.num_experts),
        "stopped": stats.stopped,
        "media_tokens": dict(getattr(stats, "media_tokens", {}) or {}),   # a native model's picture / sound tokens
        "speech": _speech_summary(getattr(stats, "speech", None)),
        "notices": notices,
    }
