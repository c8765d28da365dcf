"""The eval's verdicts on questions as people type them, and the tables docs/training.md shows of them."""
from __future__ import annotations

from modules.training.evaluate_talk import BARS, MAX_GAP_POINTS, talk_bars_met
from modules.training.report import metrics_table, outside_table, talk_table


def talk_report(shares: dict[tuple[str, str, str], float], asked: int = 50) -> dict:
    """A report as measure_talk writes it, from (measure, lang, wording) -> share."""
    tallies = [[m, lang, w, round(share * asked), asked] for (m, lang, w), share in shares.items()]
    return {"limit": asked, "bars": BARS, "max_gap_points": MAX_GAP_POINTS,
            "metrics": {f"{m}_{lang}_{w}": k / n for m, lang, w, k, n in tallies}, "tallies": tallies}


def everything_at(share: float) -> dict[tuple[str, str, str], float]:
    return {(m, lang, w): share for m in BARS for lang in ("en", "zh") for w in ("trained", "held_out")}


def test_the_talk_bars_hold_only_when_every_held_out_cell_meets_its_bar_close_to_the_trained_one():
    assert talk_bars_met(talk_report(everything_at(1.0)))
    low_refusals = everything_at(1.0) | {("outside_refused", "zh", "held_out"): 0.78}
    assert not talk_bars_met(talk_report(low_refusals))
    # held-out studio answers at 0.92 meet the bar of 0.90, but 8 points below trained 1.00 is too far
    gap = everything_at(1.0) | {("studio", "en", "held_out"): 0.92}
    assert not talk_bars_met(talk_report(gap))
    close = gap | {("studio", "en", "trained"): 0.96}
    assert talk_bars_met(talk_report(close))
    missing = {key: share for key, share in everything_at(1.0).items() if key != ("studio", "zh", "held_out")}
    assert not talk_bars_met(talk_report(missing))          # an unmeasured cell is not a met bar


def test_the_talk_table_shows_each_measure_in_each_language_and_wording_with_its_bar():
    shares = everything_at(1.0) | {("outside_refused", "en", "held_out"): 0.84, ("sound_qa", "zh", "held_out"): 0.74}
    table = talk_table({"talk": talk_report(shares)})
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table.splitlines()[2:]}
    assert rows["outside_refused"] == "| outside_refused | 1.00 | 0.84 | 1.00 | 1.00 | ≥ 0.95 |"
    assert rows["sound_qa"] == "| sound_qa | — | — | — | 0.74 | — |"
    assert rows["language_without_guard"] == "| language_without_guard | 1.000 | 1.000 | 1.000 | 1.000 | ≥ 0.995 |"
    assert table.splitlines()[0] == "| question (50 a cell) | en trained | en held-out | zh trained | zh held-out | bar |"


def test_the_outside_table_keeps_three_digits_where_two_would_round_up_to_the_bar():
    columns = {"training": {"answer_language": 0.999, "caption_exact_en": 0.98},
               "outside": {"answer_language": 0.997, "caption_exact_en": 0.37}}
    report = {"outside": {"items": 100, "columns": columns, "max_gap_points": 5.0,
                          "bars": {"answer_language": 1.0, "caption_exact_en": 0.95, "drawing_color": 0.95},
                          "drawings": {"pixels": {"drawing_color": 1.0}}}}
    lines = outside_table(report).splitlines()
    assert "| answer_language | 0.999 | 0.997 | ≥ 1.00 | 0 |" in lines
    assert "| caption_exact_en | 0.98 | 0.37 | ≥ 0.95 | 61 |" in lines
    assert "| drawing_color (by pixels) | | 1.00 | ≥ 0.95 | |" in lines


def test_the_drawings_row_says_the_size_the_decoder_draws_at_where_it_was_measured():
    metrics = {"drawing_color_shape": 0.98, "drawing_by_encoder": 0.98, "drawing_by_pixels": 1.0}
    report = {"test_items": 100, "bars": {"drawing_color_shape": 0.8}, "metrics": metrics}
    row = next(line for line in metrics_table(report).splitlines() if line.startswith("| drawings"))
    assert row.endswith("| 0.98 (encoder 0.98, pixels 1.00) | | ≥ 0.80 |")
    report["metrics"] = {**metrics, "drawing_side": 128}
    row = next(line for line in metrics_table(report).splitlines() if line.startswith("| drawings"))
    assert row.endswith("| 0.98 (encoder 0.98, pixels 1.00), drawn at 128 px | | ≥ 0.80 |")
