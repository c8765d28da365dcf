"""docs/training.md shows the shipped models' measured figures: the tables that `python -m modules.training.mini
table` prints from assets/mini/metrics.json, exactly; the README shows their summary
(training beside outside and held-out)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from modules.training.report import markdown, summary_table

REPO = Path(__file__).resolve().parent.parent
METRICS = REPO / "assets" / "mini" / "metrics.json"
TRAINING = REPO / "docs" / "training.md"
README = REPO / "README.md"


@pytest.mark.skipif(not METRICS.exists(), reason="no evaluated built-in models in assets/mini")
def test_the_training_page_shows_the_shipped_models_measured_figures():
    page = TRAINING.read_text(encoding="utf-8")
    tables = [table for table in markdown(METRICS).split("\n\n") if table.strip()]
    assert tables and all(table.startswith("|") for table in tables), tables      # something to compare
    for table in tables:
        assert table in page, ("docs/training.md's metrics tables differ from `python -m modules.training.mini "
                               "table`:\n" + table)


@pytest.mark.skipif(not METRICS.exists(), reason="no evaluated built-in models in assets/mini")
def test_the_readme_shows_how_the_shipped_models_do_on_the_world_people_bring():
    page = README.read_text(encoding="utf-8")
    report = json.loads(METRICS.read_text(encoding="utf-8"))
    assert "outside" in report, "mini eval writes the outside columns into metrics.json"
    table = summary_table(report)
    assert table in page, "the README's table differs from `python -m modules.training.mini table`:\n" + table
