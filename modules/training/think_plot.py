"""The think stage's curves as a PNG (drawn with PIL): reward, held-out accuracy and mean thinking length over the
GRPO steps, read from its log. `python -m modules.training.think_plot LOG.jsonl OUT.png`."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PANEL_W, PANEL_H, MARGIN = 560, 200, 48


@dataclass(frozen=True)
class Curve:
    title: str
    key: str          # the log's figure
    color: tuple[int, int, int]


CURVES = (Curve("reward (mean over the step's replies)", "reward", (31, 119, 180)),
          Curve("held-out accuracy (thinking on, greedy)", "heldout_accuracy", (44, 160, 44)),
          Curve("mean thinking length (tokens)", "thinking_tokens", (214, 39, 40)))


def read_log(path: Path) -> list[dict]:
    """The log's steps, in order. Raises ValueError naming the file when it holds no step."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path} holds no step: train the think stage first (mini train --stage think)")
    return rows


def points(rows: list[dict], key: str) -> list[tuple[float, float]]:
    """(step, value) of each step that logged the figure."""
    return [(float(row["step"]), float(row[key])) for row in rows if key in row]


def plot_log(log: Path, png: Path) -> Path:
    """Draw the three curves, one panel each, over the same steps; returns the PNG's path."""
    rows = read_log(log)
    last_step = max(float(row["step"]) for row in rows) or 1.0
    image = Image.new("RGB", (PANEL_W + 2 * MARGIN, len(CURVES) * (PANEL_H + MARGIN) + MARGIN), "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    for k, curve in enumerate(CURVES):
        top = MARGIN + k * (PANEL_H + MARGIN)
        draw_panel(draw, font, curve, points(rows, curve.key), top, last_step)
    draw.text((MARGIN, image.height - MARGIN // 2 - 6), f"GRPO step (0 to {last_step:g})", fill="black", font=font)
    png.parent.mkdir(parents=True, exist_ok=True)
    image.save(png)
    return png


def draw_panel(draw: ImageDraw.ImageDraw, font, curve: Curve, values: list[tuple[float, float]], top: int,
               last_step: float) -> None:
    """One curve in its box: a title, the value range on the left, a line through the points (a dot alone)."""
    left, right, bottom = MARGIN, MARGIN + PANEL_W, top + PANEL_H
    draw.rectangle((left, top, right, bottom), outline=(160, 160, 160))
    draw.text((left, top - 16), curve.title, fill="black", font=font)
    if not values:
        draw.text((left + 8, top + 8), "not logged", fill=(120, 120, 120), font=font)
        return
    low, high = min(v for _, v in values), max(v for _, v in values)
    low, high = (low - 0.5, high + 0.5) if high == low else (low, high)
    draw.text((2, top), f"{high:.3g}", fill="black", font=font)
    draw.text((2, bottom - 10), f"{low:.3g}", fill="black", font=font)

    def at(step: float, value: float) -> tuple[float, float]:
        return (left + (right - left) * step / last_step, bottom - (bottom - top) * (value - low) / (high - low))

    placed = [at(step, value) for step, value in values]
    if len(placed) > 1:
        draw.line(placed, fill=curve.color, width=2)
    for x, y in placed:
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=curve.color)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.training.think_plot",
                                     description="Plot the think stage's reward, held-out accuracy and thinking "
                                                 "length over its steps.")
    parser.add_argument("log", type=Path, help="the stage's think_log.jsonl (in the training work folder)")
    parser.add_argument("png", type=Path, help="where the picture goes")
    args = parser.parse_args(argv)
    if not args.log.exists():
        parser.error(f"no log at {args.log}: train the think stage first (mini train --stage think)")
    print(plot_log(args.log, args.png))
    return 0


if __name__ == "__main__":
    sys.exit(main())
