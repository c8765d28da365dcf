"""The metrics tables of docs/training.md, in Markdown, from a metrics.json written by `mini eval`."""
from __future__ import annotations

import json
from pathlib import Path

from .evaluate_outside import bar_of
from .evaluate_talk import MEASURES

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
    return ("| " + " | ".join(cells) + " |").replace("|  |", "| |")


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
            if "drawing_side" in metrics:             # absent from metrics.json files written before it was measured
                en += f", drawn at {metrics['drawing_side']:.0f} px"
        lines.append(_row([label, en, zh, _bar(base, bars)]))
    return "\n".join(lines)


def robustness_table(report: dict) -> str:
    lines = ["| variation | measure | value | drop (points) |", "| --- | --- | --- | --- |"]
    for variant, values in report["robustness"].items():
        for key, entry in values.items():
            lines.append(_row([variant, key, f"{entry['value']:.2f}", f"{entry['drop_points']:.1f}"]))
    return "\n".join(lines)


def outside_table(report: dict) -> str:
    """The training renderer and synthesiser beside the second ones (outside pictures, sounds and held-out
    picture-question wordings), with each bar and the gap in points; drawings by both judges."""
    outside = report["outside"]
    training, held = outside["columns"]["training"], outside["columns"]["outside"]
    bars, limit = outside["bars"], outside["max_gap_points"]
    lines = [f"| measure ({outside['items']} items a column) | training | outside | bar | gap (≤ {limit:g} points) |",
             "| --- | --- | --- | --- | --- |"]
    for key, value in held.items():
        bar = bar_of(key, bars)
        digits = 3 if bar is not None and value < bar <= round(value, 2) else 2     # 0.997 is not "1.00"
        lines.append(_row([key, f"{training[key]:.{digits}f}", f"{value:.{digits}f}",
                           "—" if bar is None else f"≥ {bar:.2f}", f"{100 * (training[key] - value):.0f}"]))
    for judge, figures in outside["drawings"].items():
        for key, value in figures.items():
            lines.append(_row([f"{key} (by {judge})", "", f"{value:.2f}", f"≥ {bars[key]:.2f}", ""]))
    return "\n".join(lines)


def talk_table(report: dict) -> str:
    """Questions as people type them, in trained and held-out wordings, each language; the bars hold on the
    held-out columns."""
    talk = report["talk"]
    metrics, bars = talk["metrics"], talk["bars"]
    columns = [(lang, wording) for lang in ("en", "zh") for wording in ("trained", "held_out")]
    measured = {m for m, _, _, _, _ in talk["tallies"]}
    measures = [m for m in MEASURES if m in measured] + sorted(measured - set(MEASURES))
    lines = [f"| question ({talk['limit']} a cell) | " + " | ".join(f"{lang} {w.replace('_', '-')}"
                                                                      for lang, w in columns) + " | bar |",
             "| --- " * (len(columns) + 2) + "|"]
    for m in measures:
        cells = [metrics.get(f"{m}_{lang}_{w}") for lang, w in columns]
        digits = 3 if m.startswith("language") else 2          # a bar of 0.995 needs the third digit
        lines.append(_row([m] + ["—" if c is None else f"{c:.{digits}f}" for c in cells]
                          + ["—" if m not in bars else f"≥ {_bar_value(bars[m])}"]))
    return "\n".join(lines)


SUMMARY_ROWS = [  # (label, outside measure base name): both languages, training beside outside
    ("captions exactly right", "caption_exact"),
    ("picture Q&A (outside: held-out wordings)", "picture_qa"),
    ("objects counted", "object_count"),
    ("beeps counted", "beep_count"),
    ("sound descriptions", "sound_description"),
]
TALK_SUMMARY_ROWS = [  # (label, talk measure): trained wordings beside held-out ones
    ("questions about the studio's model", "studio"),
    ("out-of-world questions refused", "outside_refused"),
    ("in-world questions never refused", "inside_not_refused"),
    ("answer in the question's language, no guard", "language_without_guard"),
]


def _bar_value(bar: float) -> str:
    """0.9 -> "0.90", 0.995 -> "0.995"."""
    return f"{bar:.2f}" if round(bar, 2) == bar else f"{bar:.3f}"


def _pair(values: dict, base: str, suffixes: tuple[str, str] = ("_en", "_zh"), digits: int = 2) -> str:
    return " / ".join(f"{values[base + s]:.{digits}f}" for s in suffixes)


def summary_table(report: dict) -> str:
    """The README's table: training beside outside (English / Chinese) for the outside measures, trained beside
    held-out wordings for the talk measures where measured, and the drawings, each with its bar."""
    outside = report["outside"]
    training, held, bars = outside["columns"]["training"], outside["columns"]["outside"], outside["bars"]
    lines = ["| measure (English / 中文) | training | outside or held-out | bar |", "| --- | --- | --- | --- |"]
    for label, base in SUMMARY_ROWS:
        bar = " / ".join(f"{bar_of(base + s, bars):.2f}" for s in ("_en", "_zh"))
        lines.append(_row([label, _pair(training, base), _pair(held, base),
                           bar if len(set(bar.split(" / "))) > 1 else bar.split(" / ")[0]]))
    lines.append(_row(["answers in the question's language", f"{training['answer_language']:.3f}",
                       f"{held['answer_language']:.3f}", f"{bars['answer_language']:.2f}"]))
    if "talk" in report:
        talk, talk_bars = report["talk"]["metrics"], report["talk"]["bars"]
        for label, m in TALK_SUMMARY_ROWS:
            digits = 3 if m.startswith("language") else 2
            lines.append(_row([label, _pair(talk, m, ("_en_trained", "_zh_trained"), digits),
                               _pair(talk, m, ("_en_held_out", "_zh_held_out"), digits), _bar_value(talk_bars[m])]))
    drawn = outside["drawings"]["encoder"]
    keys = ("drawing_color", "drawing_shape", "drawing_place", "drawing_size")
    lines.append(_row(["drawings' colour / shape / place / size (image encoder)", "",
                       " / ".join(f"{drawn[k]:.2f}" for k in keys), " / ".join(f"{bars[k]:.2f}" for k in keys)]))
    return "\n".join(lines)


def markdown(path: Path) -> str:
    """Every table the report holds: the main measures, robustness, and (where measured) outside and talk."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    tables = [metrics_table(report), robustness_table(report)]
    tables += [outside_table(report)] if "outside" in report else []
    tables += [talk_table(report)] if "talk" in report else []
    return "\n\n".join(tables)


def readme_table(path: Path) -> str:
    """The README's table (summary_table) of a metrics.json."""
    return summary_table(json.loads(Path(path).read_text(encoding="utf-8")))
