"""Turns a pipeline trace into the Inspector's views: expert heatmap (PIL), per-expert load table, stats."""
from __future__ import annotations

from typing import Any

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

ON = (77, 107, 254)          # an expert that fired (DeepSeek blue)
OFF = (236, 239, 245)        # an expert that did not
INK = (55, 60, 70)
FAINT = (140, 146, 158)
MAX_ROWS = 512               # tokens drawn at most (the rest are summarised in the title)
MAX_WIDTH = 2400             # pixels across all layer panels


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:         # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _token_label(index: int, tokens: list[str] | None) -> str:
    if not tokens or index >= len(tokens):
        return f"#{index}"
    text = str(tokens[index]).replace("\n", "\\n").replace("\t", "\\t")
    return f"{index} {text[:10]}"


def _shape(trace: dict) -> tuple[list, int, int, list]:
    """(experts[token][layer][k], number of experts, number of layers, layer names)."""
    experts = trace.get("experts") or []
    layers = len(experts[0]) if experts else len(trace.get("moe_layers") or [])
    seen = [e for tok in experts for layer in tok for e in layer]
    count = int(trace.get("num_experts") or (max(seen) + 1 if seen else 0))
    names = list(trace.get("moe_layers") or range(layers))[:layers]
    return experts, count, layers, names


def expert_heatmap(trace: dict) -> Image.Image | None:
    """One panel per MoE layer; rows = generated tokens, columns = routed experts; a filled cell = that expert fired."""
    experts, n_exp, n_layers, names = _shape(trace)
    if not experts or not n_exp or not n_layers:
        return None
    rows = experts[:MAX_ROWS]
    cw = _clamp(MAX_WIDTH // (n_layers * n_exp), 2, 22)     # cell width
    ch = _clamp(900 // len(rows), 3, 18)                     # cell height
    label_w = 110 if ch >= 10 else 16
    top, gap, pad = 44, 12, 10
    panel_w = n_exp * cw
    width = pad + label_w + n_layers * (panel_w + gap) + pad
    height = top + len(rows) * ch + pad + 18
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    small, title = _font(10), _font(12)
    shown = f" (first {MAX_ROWS} of {len(experts)})" if len(experts) > MAX_ROWS else ""
    heading = f"{len(experts)} generated tokens{shown} x {n_exp} routed experts (blue = chosen)"
    draw.text((pad, 6), heading, fill=INK, font=title)
    for li in range(n_layers):
        x0 = pad + label_w + li * (panel_w + gap)
        draw.text((x0, 24), f"layer {names[li]}", fill=INK, font=small)
        for ti, token in enumerate(rows):
            fired = set(token[li]) if li < len(token) else set()
            y0 = top + ti * ch
            for e in range(n_exp):
                box = (x0 + e * cw, y0, x0 + (e + 1) * cw - (1 if cw > 3 else 0), y0 + ch - (1 if ch > 3 else 0))
                draw.rectangle(box, fill=ON if e in fired else OFF)
        draw.text((x0, top + len(rows) * ch + 4), f"experts 0-{n_exp - 1}", fill=FAINT, font=small)
    if ch >= 10:
        tokens = trace.get("tokens")
        for ti in range(len(rows)):
            draw.text((pad, top + ti * ch), _token_label(ti, tokens), fill=FAINT, font=small)
    return image


def expert_load_table(trace: dict) -> pd.DataFrame:
    """Long table (expert, layer, tokens) for a stacked bar chart of how many tokens each expert served."""
    load = trace.get("expert_load") or []
    names = list(trace.get("moe_layers") or range(len(load)))
    width = len(str(max((len(layer) for layer in load), default=1) - 1))
    records = [{"expert": f"E{e:0{width}d}", "layer": f"layer {names[li] if li < len(names) else li}",
                "tokens": int(count)}
               for li, layer in enumerate(load) for e, count in enumerate(layer)]
    return pd.DataFrame.from_records(records, columns=["expert", "layer", "tokens"])


def _millions(n: Any) -> str:
    try:
        return f"{float(n) / 1e6:,.2f} M"
    except (TypeError, ValueError):
        return "—"


def _share(active: Any, total: Any) -> str:
    try:
        return f" ({100 * float(active) / float(total):.0f}% per token)"
    except (TypeError, ValueError, ZeroDivisionError):
        return ""


def _num(value: Any, fmt: str, unit: str) -> str:
    try:
        return f"{float(value):{fmt}} {unit}"
    except (TypeError, ValueError):
        return "—"


CHUNKS_NOTE = "streamed chunks, not tokens: the server gave no token count"


def _thinking_rows(trace: dict) -> list[tuple[str, str]]:
    """The thinking and the answer after it, tokens (or a server's streamed chunks, said so) and seconds each, when
    the model thought (or was asked to)."""
    if not trace.get("thinking_tokens") and not trace.get("thinking_asked"):
        return []
    chunks = trace.get("token_unit") == "chunks"
    unit, note = ("chunks", f" ({CHUNKS_NOTE})") if chunks else ("tokens", "")
    return [("Thinking", f"{trace.get('thinking_tokens', 0)} {unit} · {_num(trace.get('thinking_s'), '.2f', 's')}"
                         f"{note}"),
            ("Answer after thinking", f"{trace.get('reply_tokens', '—')} {unit} · "
                                      f"{_num(trace.get('reply_s'), '.2f', 's')}")]


def stats_markdown(trace: dict, empty_text: str) -> str:
    """A two-column table of the trace's headline numbers and the router's decision."""
    if not trace:
        return empty_text
    notices = "; ".join(str(n) for n in trace.get("notices") or []) or "—"
    rows = [
        ("Route", f"**{trace.get('route', '—')}** — {trace.get('reason', '')}"),
        ("Language", trace.get("language", "—")),
        ("Parameters", f"{_millions(trace.get('params_total'))} total · {_millions(trace.get('params_active'))} "
                       f"active{_share(trace.get('params_active'), trace.get('params_total'))}"),
        ("MoE layers", f"{', '.join(str(x) for x in trace.get('moe_layers') or []) or '—'} · "
                       f"{trace.get('num_experts', '—')} routed experts each"),
        ("Time to first token", _num(trace.get("ttft_s"), ".3f", "s")),
        ("Speed", _num(trace.get("ms_per_token"), ".1f", "ms per token")),
        ("Tokens", f"{trace.get('prompt_tokens', '—')} in the prompt · {trace.get('answer_tokens', '—')} answered"),
        *_thinking_rows(trace),
        ("Notices", notices),
    ]
    cells = [f"| {key} | {str(value).replace('|', '/')} |" for key, value in rows]
    lines = ["| Last answer | |", "| --- | --- |"] + cells
    return "\n".join(lines)


def _megabytes(size: Any) -> str:
    try:
        mb = float(size) / 1e6
    except (TypeError, ValueError):
        return "—"
    return "<0.1 MB" if 0 < mb < 0.05 else f"{mb:,.1f} MB"


def _parameters(n: Any) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return "—"
    return f"{n / 1e9:,.2f} B" if n >= 1e9 else _millions(n)


def memory_markdown(memory: dict, empty_text: str) -> str:
    """pipeline.memory() -> each loaded role's parameters, memory (MB = 10^6 bytes) and device, with a total."""
    if not memory:
        return empty_text
    rows = [(str(role).replace("_", " "), _parameters(m.get("parameters")), _megabytes(m.get("bytes")),
             str(m.get("device") or "—")) for role, m in memory.items()]
    total_params = sum(int(m.get("parameters") or 0) for m in memory.values())
    total_bytes = sum(int(m.get("bytes") or 0) for m in memory.values())
    rows.append(("**all loaded roles**", _parameters(total_params), _megabytes(total_bytes), ""))
    cells = [f"| {' | '.join(str(c).replace('|', '/') for c in row)} |" for row in rows]
    return "\n".join(["| Role | Parameters | Memory | Device |", "| --- | ---: | ---: | --- |"] + cells)
