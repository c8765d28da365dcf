"""The metrics tables of docs/training.md, in Markdown, from a metrics.json written by `mini eval`."""
from __future__ import annotations

import json
from pathlib import Path

ROWS = [  # (label, metric base name, has a Chinese figure)
    ("picture → text retrieval R@1", "picture_retrieval_r1", True),
    ("sound → text retrieval R@1", "sound_retrieval_r1", True),
    ("captions exactly right (every object's colour, shape, size, position)", "caption_exact", True),
    ("answers to questions about pictures", "picture_qa", True),
    ("sound descriptions exactly right", "sound_description_exact", True),
    ("sound descriptions, every content 4 times", "sound_description_every_content", True),
    ("drawings with the requested colour and shape (encoder and pixel check)", "drawing_color_shape", False),
    ("answers in the language of the question", "answer_language", False),
    ("busiest routed expert / mean load (held-out conversations, text)", "moe_busiest_over_mean", False),
    ("… the same answers as bare text (no chat template)", "moe_busiest_bare_answers", False),
    ("… picture prefixes (describe prompts)", "moe_busiest_picture_prefixes", False),
    ("… sound prefixes (describe prompts)", "moe_busiest_sound_prefixes", False),
]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells).replace("|  |", "| |") + " |"


def _bar(base: str, bars: dict) -> str:
    if base not in bars:
        return "—"
    return f"≤ {bars[base]:g}" if base == "moe_busiest_over_mean" else f"≥ {bars[base]:.2f}"


def metrics_table(report: dict) -> str:
    metrics, bars = report["metrics"], report["bars"]
    lines = [f"| measure (held-out test split, {report['test_items']} items) | English | 中文 | bar |",
             "| --- | --- | --- | --- |"]
    for label, base, bilingual in ROWS:
        if base + ("_en" if bilingual else "") not in metrics:
            lines.append(_row([label, "not measured", "", _bar(base, bars)]))
            continue
        if bilingual:
            en, zh = f"{metrics[base + '_en']:.2f}", f"{metrics[base + '_zh']:.2f}"
        else:
            en, zh = f"{metrics[base]:.2f}", ""
        if base == "drawing_color_shape":
            en += f" (encoder {metrics['drawing_by_encoder']:.2f}, pixels {metrics['drawing_by_pixels']:.2f})"
        lines.append(_row([label, en, zh, _bar(base, bars)]))
    return "\n".join(lines)


def robustness_table(report: dict) -> str:
    lines = ["| variation | measure | value | drop (points) |", "| --- | --- | --- | --- |"]
    for variant, values in report["robustness"].items():
        for key, entry in values.items():
            lines.append(_row([variant, key, f"{entry['value']:.2f}", f"{entry['drop_points']:.1f}"]))
    return "\n".join(lines)


def markdown(path: Path) -> str:
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    return metrics_table(report) + "\n\n" + robustness_table(report)
