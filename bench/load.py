"""Load on a running studio: 1, 4, 16, 32 concurrent gradio_client sessions per endpoint, latency and throughput.

Usage: python bench/load.py [--seconds 60] [--clients 1,4,16,32] [--endpoints chat,describe] [--json FILE]
                            [-- extra app.py flags, e.g. --batch-decode]
Starts `python app.py` on a free port, then for each endpoint and each number of clients runs that many sessions,
each sending one request after another for --seconds, and prints per row: requests completed, completed requests
per second, p50 and p95 latency of the completed ones, requests refused ("Queue is full") and other failures; the
header says how it was run (threads, CPU count, load average before and after, the studio's flags). Figures for the
README come from an idle machine; on a busy one they say only that the bench runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import free_port  # noqa: E402

ENDPOINTS = ("chat", "describe")
QUESTIONS = ("Hello", "What is in a picture of a red star?", "What does a shared expert do?",
             "Describe a blue square on a green field.")
PICTURE = ROOT / "assets" / "examples" / "three-shapes-on-black.png"
START_TIMEOUT_S = 300.0


@dataclass
class Row:
    """What `clients` sessions on one endpoint got in one window."""

    endpoint: str
    clients: int
    seconds: float = 0.0                                    # from the first request to the last answer
    latencies: list[float] = field(default_factory=list)    # seconds, completed requests only
    refused: int = 0                                        # "Queue is full"
    failed: int = 0                                         # any other error
    errors: list[str] = field(default_factory=list)         # the first few failures' messages

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """The latency that `share` of the completed requests stay within (nearest rank); 0 with none."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]

    def summary(self) -> dict:
        return {"endpoint": self.endpoint, "clients": self.clients, "completed": self.completed,
                "per_second": round(self.per_second, 3), "p50_s": round(self.percentile(0.5), 3),
                "p95_s": round(self.percentile(0.95), 3), "refused": self.refused, "failed": self.failed,
                "seconds": round(self.seconds, 2), "errors": self.errors}


def start_studio(extra: list[str]) -> tuple[subprocess.Popen, str, Path]:
    """`python app.py --port N extra...`, its log in a temporary file; returns (process, url, log path)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="studio-load-", suffix=".log")[1])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *extra], cwd=ROOT, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}/", log


def wait_until_answering(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until a chat request is answered (the page is up and the models have loaded)."""
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            Client(url, verbose=False).predict({"text": "hello", "files": []}, api_name="/chat")
            return
        except Exception:                    # not up yet, or still loading its models
            time.sleep(1.0)
    raise RuntimeError(f"the studio did not answer within {timeout:g} s:\n{log.read_text()[-3000:]}")


def one_request(client, endpoint: str, k: int):
    from gradio_client import handle_file

    if endpoint == "chat":
        return client.predict({"text": QUESTIONS[k % len(QUESTIONS)], "files": []}, api_name="/chat")
    return client.predict(handle_file(str(PICTURE)), "", api_name="/describe_image")


def session(url: str, endpoint: str, row: Row, lock: threading.Lock, ready: threading.Barrier, ends_at: list[float],
            number: int) -> None:
    """One client: connect, wait for the others, then one request after another until the window closes."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    ready.wait()
    k = number
    while time.monotonic() < ends_at[0]:
        started = time.monotonic()
        try:
            one_request(client, endpoint, k)
            with lock:
                row.latencies.append(time.monotonic() - started)
        except Exception as error:           # a refusal or a failure: counted, the session goes on
            message = str(error)
            with lock:
                if "queue is full" in message.lower():
                    row.refused += 1
                else:
                    row.failed += 1
                    if len(row.errors) < 3:
                        row.errors.append(f"{type(error).__name__}: {message[:200]}")
        k += 1


def measure(url: str, endpoint: str, clients: int, seconds: float) -> Row:
    row, lock = Row(endpoint, clients), threading.Lock()
    ready, ends_at = threading.Barrier(clients + 1), [float("inf")]
    threads = [threading.Thread(target=session, args=(url, endpoint, row, lock, ready, ends_at, n), daemon=True)
               for n in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.monotonic()
    ends_at[0] = started + seconds
    for thread in threads:
        thread.join()
    row.seconds = time.monotonic() - started
    return row


def how_run(extra: list[str], load_before: tuple[float, ...]) -> list[str]:
    return [f"studio flags: {' '.join(extra) or '(defaults)'}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}"
            f"; CPUs: {os.cpu_count()}; clients are threads of this process",
            "load average (1, 5, 15 min) before: " + ", ".join(f"{x:.2f}" for x in load_before)
            + "; after: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())]


def table(rows: list[Row]) -> list[str]:
    lines = [f"{'endpoint':<10}{'clients':>8}{'completed':>11}{'req/s':>9}{'p50 s':>9}{'p95 s':>9}{'refused':>9}"
             f"{'failed':>8}"]
    for row in rows:
        lines.append(f"{row.endpoint:<10}{row.clients:>8}{row.completed:>11}{row.per_second:>9.2f}"
                     f"{row.percentile(0.5):>9.2f}{row.percentile(0.95):>9.2f}{row.refused:>9}{row.failed:>8}")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="window per row (default 60)")
    parser.add_argument("--clients", default="1,4,16,32", help="concurrent sessions per row, comma-separated")
    parser.add_argument("--endpoints", default="chat,describe", help=f"comma-separated, of: {', '.join(ENDPOINTS)}")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S,
                        help=f"seconds the studio may take to answer its first chat (default {START_TIMEOUT_S:g})")
    parser.add_argument("extra", nargs="*", help="flags passed to app.py (after --)")
    args = parser.parse_args(argv)
    args.endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    bad = [e for e in args.endpoints if e not in ENDPOINTS]
    if bad:
        parser.error(f"unknown endpoint(s) {', '.join(bad)}; valid: {', '.join(ENDPOINTS)}")
    try:
        args.clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        parser.error(f"--clients must be whole numbers separated by commas, e.g. 1,4,16,32; got {args.clients!r}")
    if not args.clients or min(args.clients) < 1 or args.seconds <= 0:
        parser.error("--clients must all be at least 1 and --seconds above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    process, url, log = start_studio(args.extra)
    try:
        wait_until_answering(url, process, log, args.start_timeout)
        rows = [measure(url, endpoint, clients, args.seconds) for endpoint in args.endpoints
                for clients in args.clients]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    how = how_run(args.extra, load_before)
    print("\n".join(how + table(rows)))
    for row in rows:
        for error in row.errors:
            print(f"  {row.endpoint} x{row.clients} failed: {error}")
    if args.json:
        Path(args.json).write_text(json.dumps({"how": how, "rows": [row.summary() for row in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
