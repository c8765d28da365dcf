"""How long a chat "hello" takes while another client's drawing is in flight, against the same chat alone.

Usage: python bench/chat_beside_drawing.py [--rounds 5] [--steps 50] [-- extra app.py flags, e.g. --batch-decode]
Starts `python app.py` on a free port (built-in models unless the flags say otherwise) and, after a warm-up, runs
--rounds rounds of each situation, a second gradio_client sending /chat "hello" in each:
  alone            nothing else running
  /generate_image  a first client's /generate_image (--steps steps, 4 pictures) is computing (cancelled once the
                   hello has answered)
  /chat draw       a first client's /chat "draw a red circle" is computing
  2 x /chat draw   two clients' /chat drawings are computing
and prints per situation the median and longest "hello" latency, the median time of the chat drawings (submit to
answer) and in how many rounds the hello answered while the drawing(s) were still computing. The header says how it was run (flags, threads, CPUs, load average).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import how_run, start_studio, wait_until_answering  # noqa: E402

HELLO = {"text": "hello", "files": []}
DRAW = {"text": "draw a red circle", "files": []}
START_TIMEOUT_S = 300.0


@dataclass
class Situation:
    """What the hellos of one situation got, round by round."""

    name: str
    hello_s: list[float] = field(default_factory=list)      # each round's hello latency
    drawing_s: list[float] = field(default_factory=list)    # each round's chat drawings, submit to last answer
    hello_first: int = 0                                    # rounds whose hello answered before the drawings ended


def timed_hello(client) -> tuple[float, float]:
    """(seconds the hello took, when it answered on the monotonic clock)."""
    started = time.monotonic()
    client.predict(HELLO, api_name="/chat")
    ended = time.monotonic()
    return ended - started, ended


def until_processing(jobs: list, timeout: float = 60.0) -> None:
    """Wait until every job has left gradio's queue and is computing."""
    from gradio_client.utils import Status

    deadline = time.monotonic() + timeout
    computing = (Status.PROCESSING, Status.ITERATING, Status.PROGRESS, Status.FINISHED, Status.CANCELLED)
    while not all(job.status().code in computing for job in jobs):
        if time.monotonic() > deadline:
            raise RuntimeError("the drawing did not start computing")
        time.sleep(0.02)


def drawings(clients: list, how: str, steps: int) -> list:
    if how == "generate_image":
        return [c.submit(prompt="a red circle", steps=steps, guidance=3.0, seed=1, count=4,
                         api_name="/generate_image") for c in clients]
    return [c.submit(DRAW, api_name="/chat") for c in clients]


def one_round(situation: Situation, drawers: list, asker, how: str | None, steps: int) -> None:
    if how is None:
        situation.hello_s.append(timed_hello(asker)[0])
        return
    submitted = time.monotonic()
    jobs = drawings(drawers, how, steps)
    until_processing(jobs)
    time.sleep(0.2)                                    # past the chat route's few words, into the diffusion
    situation.hello_s.append(timed_hello(asker)[0])
    situation.hello_first += not all(job.done() for job in jobs)
    if how == "generate_image":                        # long on purpose: not waited for
        for job in jobs:
            job.cancel()
        time.sleep(0.5)
        return
    for job in jobs:
        job.result()
    situation.drawing_s.append(time.monotonic() - submitted)


def measure(url: str, rounds: int, steps: int) -> list[Situation]:
    from gradio_client import Client

    drawers, asker = [Client(url, verbose=False) for _ in range(2)], Client(url, verbose=False)
    plan = [("alone", [], None), ("/generate_image", drawers[:1], "generate_image"),
            ("/chat draw", drawers[:1], "chat"), ("2 x /chat draw", drawers, "chat")]
    for situation_drawers, how in ((drawers[:1], "chat"), (drawers[:1], "generate_image")):    # warm-up
        [job.result() for job in drawings(situation_drawers, how, 2)]
    situations = []
    for name, who, how in plan:
        situation = Situation(name)
        for _ in range(rounds):
            one_round(situation, who, asker, how, steps)
        situations.append(situation)
    return situations


def table(situations: list[Situation], rounds: int) -> list[str]:
    lines = [f"{'beside':<18}{'hello p50 s':>12}{'hello max s':>12}{'drawing p50 s':>15}{'hello first':>13}"]
    for s in situations:
        drawing = f"{statistics.median(s.drawing_s):.2f}" if s.drawing_s else "—"
        first = f"{s.hello_first}/{rounds}" if s.name != "alone" else "—"
        lines.append(f"{s.name:<18}{statistics.median(s.hello_s):>12.2f}{max(s.hello_s):>12.2f}{drawing:>15}"
                     f"{first:>13}")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per situation (default 5)")
    parser.add_argument("--steps", type=int, default=50, help="diffusion steps of the /generate_image drawing "
                        "(4 pictures; default 50)")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S,
                        help=f"seconds the studio may take to answer its first chat (default {START_TIMEOUT_S:g})")
    parser.add_argument("extra", nargs="*", help="flags passed to app.py (after --)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error(f"--rounds and --steps must be at least 1; got {args.rounds} and {args.steps}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    process, url, log = start_studio(args.extra)
    try:
        wait_until_answering(url, process, log, args.start_timeout)
        situations = measure(url, args.rounds, args.steps)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    print("\n".join(how_run(args.extra, load_before) + table(situations, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
