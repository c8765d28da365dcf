"""The README's tables of the built-in models are the ones the shipped metrics.json gives."""
from __future__ import annotations

from pathlib import Path

import pytest

from modules.training.report import markdown

REPO = Path(__file__).resolve().parent.parent
METRICS = REPO / "assets" / "mini" / "metrics.json"


@pytest.mark.skipif(not METRICS.exists(), reason="no evaluated built-in models in assets/mini")
def test_the_readme_shows_the_shipped_models_measured_figures():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for table in markdown(METRICS).split("\n\n"):
        assert table in readme, "README.md's metrics tables differ from `python -m modules.training.mini table`"
