"""bench/load.py on the built-in studio, very briefly: it starts the studio, drives 1 and 2 sessions per endpoint with
batching on, and its table holds answered requests with sane latencies (the figures themselves come from an idle
machine, not from here)."""
import json
import subprocess
import sys

from tests.e2e_server import ROOT, skip_unless_models


def test_the_load_bench_prints_completed_requests_and_ordered_percentiles(tmp_path):
    skip_unless_models()
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, "bench/load.py", "--seconds", "3", "--clients", "1,2", "--json", str(out),
                          "--start-timeout", "900", "--", "--batch-decode"], cwd=ROOT, capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "load average" in run.stdout and "p95 s" in run.stdout and "--batch-decode" in run.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["endpoint"], r["clients"]) for r in rows] == [("chat", 1), ("chat", 2), ("describe", 1),
                                                            ("describe", 2)]
    for row in rows:
        assert row["completed"] > 0 and row["failed"] == 0 and row["refused"] == 0, row
        assert row["p95_s"] >= row["p50_s"] > 0 and row["per_second"] > 0, row
        assert f"{row['completed']:>11}" in run.stdout      # the printed table says what the JSON says
