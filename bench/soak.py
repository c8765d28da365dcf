"""Soak test: the studio under mixed load (chat, describe, listen, draw, /v1) with bad input mixed in, for minutes; its
memory every --every seconds; a verdict at the end.

Usage: nice -n 19 env OMP_NUM_THREADS=1 python bench/soak.py [--minutes 30] [--every 60] [--warmup-minutes 5]
       [--clients 4] [--bad-share 0.2] [--json FILE] [-- extra app.py flags]
Starts `python app.py` on a free port (fast decode off unless --fast-decode), then --clients workers, each with its
own gradio_client session, send requests in a fixed rotation (English and Chinese chat, chat with history and with a
picture, describe, listen, draw with few steps, /v1 plain, streamed and with a picture); every request in
round(1/--bad-share) is a bad one (a corrupt PNG, an empty message, an out-of-range setting, a lone surrogate, an
unknown /v1 parameter, a /v1 body over --max-request-size). A good request must be answered; a bad one must be
refused with a message naming the problem. The load lasts --minutes, and longer if some kind has not been sent
yet (a short run on a slow machine), up to --request-wait more. Each --every seconds a row: elapsed, the studio's
RSS, requests ok / refused as they must be / failed unexpectedly in that interval, their p50 latency, the load
average. Verdict: RSS
growth from the first sample after the warm-up to the last sample under load (≤ --max-growth %), no unexpected
failure, and a final greedy "hello" answered exactly as before the load. Exit code 1 when the verdict fails.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.soak_requests import BAD, GOOD, Kind, Refused, Result, Studio, predict, run  # noqa: E402

HELLO = {"text": "hello", "files": []}


@dataclass(frozen=True)
class SoakSettings:
    """How long, how hard and how the soak judges."""

    minutes: float = 30.0
    every_s: float = 60.0
    warmup_minutes: float = 5.0
    clients: int = 4
    bad_share: float = 0.2
    max_growth_pct: float = 5.0
    max_new_tokens: int = 48
    draw_steps: int = 3
    start_timeout_s: float = 900.0      # the page, then the first answer (the models load meanwhile)
    request_wait_s: float = 600.0       # a request that takes longer counts as failed
    fast_decode: bool = False
    json_path: Path | None = None
    app_flags: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------- the studio


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def studio_env(settings: SoakSettings) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", OMNIMOE_FAST_DECODE="1" if settings.fast_decode else "0")
    for name in ("OMNIMOE_HOST", "OMNIMOE_PORT"):
        env.pop(name, None)
    return env


PORT_TAKEN = "Cannot find empty port"
PORT_TRIES = 5


def start_studio(settings: SoakSettings, log_path: Path) -> tuple[subprocess.Popen, str, list[str]]:
    """`python app.py` on a free port, its log in a file; (process, base URL, command) once its page answers. A port
    taken by another program while the studio was starting (a slow start on a busy machine) means another try."""
    for attempt in range(1, PORT_TRIES + 1):
        try:
            return start_on_free_port(settings, log_path)
        except RuntimeError as error:
            if PORT_TAKEN not in str(error) or attempt == PORT_TRIES:
                raise
            print(f"the port was taken while the studio started; trying another ({attempt + 1} of {PORT_TRIES})")
    raise AssertionError("unreachable")


def start_on_free_port(settings: SoakSettings, log_path: Path) -> tuple[subprocess.Popen, str, list[str]]:
    port = free_port()
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *settings.app_flags]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=studio_env(settings), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + settings.start_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited with code {process.returncode}; its log:\n{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as response:
                if response.status == 200:
                    return process, url, command
        except OSError:
            time.sleep(1.0)
    stop_studio(process)
    raise TimeoutError(f"the studio did not answer within {settings.start_timeout_s:g} s; its log:\n"
                       f"{log_tail(log_path)}")


def stop_studio(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def log_tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:] if path.exists() else "(no log)"


def request_limit(settings: SoakSettings) -> int:
    """--max-request-size as the studio reads it (flags, then environment, then the profile)."""
    from modules.config import load_config

    return load_config(list(settings.app_flags), studio_env(settings)).limits.max_request_bytes()


# ---------------------------------------------------------------------------------------------- memory


class Memory:
    """The studio's resident memory (the process and any children), by psutil or else /proc/PID/status."""

    def __init__(self, pid: int):
        self.pid = pid
        try:
            import psutil

            self.process, self.source = psutil.Process(pid), "psutil (process and children)"
        except ImportError:
            self.process, self.source = None, f"/proc/{pid}/status VmRSS"

    def rss_mb(self) -> float:
        if self.process is not None:
            processes = [self.process, *self.process.children(recursive=True)]
            return sum(p.memory_info().rss for p in processes if p.is_running()) / 2**20
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS in /proc/{self.pid}/status")

    def threads(self) -> int | None:
        return self.process.num_threads() if self.process is not None else None


# ---------------------------------------------------------------------------------------------- the load


class Rotation:
    """Which request comes next: every round(1/share)-th is bad (the bad kinds in turn), the rest good, in turn."""

    def __init__(self, share: float):
        self.share, self.lock, self.count = share, threading.Lock(), 0
        self.good, self.bad = itertools.cycle(GOOD), itertools.cycle(BAD)
        self.sent: set[str] = set()

    def next(self) -> tuple[Kind, int]:
        with self.lock:
            n, self.count = self.count, self.count + 1
            bad = int((n + 1) * self.share) > int(n * self.share)
            kind = next(self.bad) if bad else next(self.good)
            self.sent.add(kind.name)
            return kind, n

    def covered(self) -> bool:
        """Every kind, good and bad, has been sent at least once."""
        with self.lock:
            return self.sent >= {kind.name for kind in GOOD + BAD}


@dataclass
class Ledger:
    """Every request's result with the second (since the load began) it ended."""

    started: float = field(default_factory=time.monotonic)
    results: list[tuple[float, Result]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: Result) -> None:
        with self.lock:
            self.results.append((time.monotonic() - self.started, result))
        if result.status == "unexpected":
            print(f"  ! {clock(time.monotonic() - self.started)} {result.kind}: {result.detail}", flush=True)

    def between(self, since: float, until: float) -> list[Result]:
        with self.lock:
            return [r for t, r in self.results if since <= t < until]

    def all(self) -> list[Result]:
        with self.lock:
            return [r for _, r in self.results]


def open_client(url: str, downloads: str, wait_s: float):
    """A gradio_client session whose HTTP calls (the API's description, uploads) wait as long as a request may: on a
    busy machine the studio can take longer than httpx's 5 s to answer them."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=downloads, httpx_kwargs={"timeout": wait_s})


def worker(url: str, studio_args: dict, rotation: Rotation, ledger: Ledger, done: threading.Event) -> None:
    """One user: its own gradio_client session, sending the next request of the rotation until the load ends."""
    with tempfile.TemporaryDirectory(prefix="soak-client-") as downloads:
        started = time.monotonic()
        try:
            client = open_client(url, downloads, studio_args["wait_s"])
        except Exception as error:  # noqa: BLE001 - a session that cannot open is a failure the verdict counts
            ledger.add(Result("open-session", "unexpected", time.monotonic() - started,
                              f"{type(error).__name__}: {error}"))
            return
        studio = Studio(client=client, url=url, **studio_args)
        while not done.is_set():
            kind, n = rotation.next()
            ledger.add(run(kind, studio, n))


def greedy_hello(url: str, settings: SoakSettings, wait_s: float) -> str:
    """The studio's greedy answer to "hello" through a fresh gradio_client session."""
    with tempfile.TemporaryDirectory(prefix="soak-client-") as downloads:
        studio = Studio(open_client(url, downloads, wait_s), url, Path(), settings.max_new_tokens,
                        settings.draw_steps, 0, wait_s)
        return predict(studio, "/chat", HELLO, [], 0.0, 0.9, settings.max_new_tokens, 0, False, False)["text"]


def first_answer(url: str, settings: SoakSettings, started: float) -> str:
    """The greedy "hello" once the models have loaded: an answer stopped by the studio's deadline while they load on
    a busy machine is asked again, until --start-timeout."""
    while True:
        try:
            return greedy_hello(url, settings, settings.start_timeout_s)
        except Refused as refusal:
            if "took longer than" not in str(refusal) or time.monotonic() - started > settings.start_timeout_s:
                raise
            print(f"the first answer hit the studio's deadline while it warmed up; asking again ({refusal})",
                  flush=True)


# ---------------------------------------------------------------------------------------------- printing


def clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def p50(results: list[Result]) -> float | None:
    times = [r.seconds for r in results if r.status != "unexpected"]
    return statistics.median(times) if times else None


def row(elapsed: float, rss: float, results: list[Result]) -> str:
    counts = Counter(r.status for r in results)
    median = p50(results)
    load = os.getloadavg()[0]
    return (f"| {clock(elapsed):>7} | {rss:>8.1f} | {counts['ok']:>4} | {counts['expected']:>8} | "
            f"{counts['unexpected']:>10} | {'-' if median is None else f'{median:.2f}':>7} | {load:>5.2f} |")


HEADER = ("| elapsed |   RSS MB |   ok | refused* | unexpected | p50 s   | load1 |\n"
          "|---------|----------|------|----------|------------|---------|-------|")


def kinds_table(results: list[Result]) -> str:
    """Per kind: how many were sent, how each ended, the median time; for a bad kind, one message it got."""
    lines = ["| kind                 | sent |   ok | refused* | unexpected | p50 s  | a refusal's message",
             "|----------------------|------|------|----------|------------|--------|--------------------"]
    for kind in GOOD + BAD:
        mine = [r for r in results if r.kind == kind.name]
        counts = Counter(r.status for r in mine)
        median = p50(mine)
        said = next((r.detail for r in mine if r.status == "expected"), "")
        lines.append(f"| {kind.name:<20} | {len(mine):>4} | {counts['ok']:>4} | {counts['expected']:>8} | "
                     f"{counts['unexpected']:>10} | {'-' if median is None else f'{median:.2f}':>6} | {said[:90]}")
    return "\n".join(lines)


def how_run(settings: SoakSettings, command: list[str], memory: Memory) -> str:
    threads = os.environ.get("OMP_NUM_THREADS", "unset (torch picks)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"studio: {' '.join(['python', *command[1:]])} (OMNIMOE_FAST_DECODE="
            f"{'1' if settings.fast_decode else '0'}), pid {memory.pid}, {memory.threads() or '?'} threads; "
            f"OMP_NUM_THREADS={threads}, nice {os.nice(0)}; {os.cpu_count()} CPUs, load average {load}\n"
            f"load: {settings.clients} gradio_client sessions for {settings.minutes:g} min, 1 request in "
            f"{1 / settings.bad_share:.3g} bad, max_new_tokens {settings.max_new_tokens}, {settings.draw_steps} draw "
            f"steps; RSS by {memory.source} every {settings.every_s:g} s; warm-up {settings.warmup_minutes:g} min")


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class Verdict:
    samples: list[tuple[float, float]]             # (seconds since the load began, RSS MB)
    growth_pct: float | None                       # None: no sample after the warm-up but the last
    unexpected: int
    bad_kinds_unrefused: list[str]                 # bad kinds never refused with their message
    final_answer: str
    baseline_answer: str
    counts: dict[str, int]
    growth_ok: bool = False
    failures_ok: bool = False
    final_ok: bool = False

    @property
    def passed(self) -> bool:
        return self.growth_ok and self.failures_ok and self.final_ok


def growth(samples: list[tuple[float, float]], warmup_s: float) -> float | None:
    """RSS growth in % from the first sample at or after the warm-up to the last one."""
    after = [rss for t, rss in samples if t >= warmup_s]
    return None if len(after) < 2 else 100.0 * (after[-1] - after[0]) / after[0]


def soak(settings: SoakSettings) -> Verdict:
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        corrupt = Path(folder) / "corrupt.png"
        corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
        started = time.monotonic()
        process, url, command = start_studio(settings, Path(folder) / "studio.log")
        try:
            print(f"page served after {time.monotonic() - started:.1f} s", flush=True)
            baseline = first_answer(url, settings, started)
            print(f"first answer after {time.monotonic() - started:.1f} s: {baseline[:80]!r}", flush=True)
            memory = Memory(process.pid)
            print(how_run(settings, command, memory), flush=True)
            studio_args = dict(corrupt_png=corrupt, max_new_tokens=settings.max_new_tokens,
                               draw_steps=settings.draw_steps, request_limit=request_limit(settings),
                               wait_s=settings.request_wait_s)
            verdict = load(settings, url, process, memory, studio_args, baseline)
        finally:
            stop_studio(process)
        if process.returncode not in (0, -15):
            print(f"the studio's log ends:\n{log_tail(Path(folder) / 'studio.log')}")
        return verdict


def load(settings: SoakSettings, url: str, process: subprocess.Popen, memory: Memory, studio_args: dict,
         baseline: str) -> Verdict:
    rotation, ledger, done = Rotation(settings.bad_share), Ledger(), threading.Event()
    workers = [threading.Thread(target=worker, args=(url, studio_args, rotation, ledger, done), daemon=True)
               for _ in range(settings.clients)]
    for thread in workers:
        thread.start()
    print("\n" + HEADER, flush=True)
    samples, duration, last = [], settings.minutes * 60, 0.0
    while True:
        elapsed = time.monotonic() - ledger.started
        if process.poll() is not None:
            print(f"the studio exited with code {process.returncode} at {clock(elapsed)}", flush=True)
            break
        samples.append((elapsed, memory.rss_mb()))
        print(row(elapsed, samples[-1][1], ledger.between(last, elapsed)), flush=True)
        last = elapsed
        if elapsed >= duration and (rotation.covered() or elapsed >= duration + settings.request_wait_s):
            break
        time.sleep(max(0.0, settings.every_s * len(samples) - (time.monotonic() - ledger.started)))
    done.set()
    print("(refused*: refused as it must be, with a message naming the problem)", flush=True)
    print(f"load ended; waiting for the {settings.clients} sessions' last requests …", flush=True)
    for thread in workers:
        thread.join(settings.request_wait_s + 30)
    final = ""
    if process.poll() is None:
        print(f"after the load: RSS {memory.rss_mb():.1f} MB; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        try:
            final = greedy_hello(url, settings, settings.request_wait_s)
        except Exception as error:  # noqa: BLE001 - the verdict says what went wrong
            final = f"(failed: {type(error).__name__}: {error})"
    return judge(settings, samples, ledger.all(), baseline, final)


def judge(settings: SoakSettings, samples, results: list[Result], baseline: str, final: str) -> Verdict:
    counts = dict(Counter(r.status for r in results))
    refused = {r.kind for r in results if r.status == "expected"}
    verdict = Verdict(samples=samples, growth_pct=growth(samples, settings.warmup_minutes * 60),
                      unexpected=counts.get("unexpected", 0),
                      bad_kinds_unrefused=[k.name for k in BAD if k.name not in refused],
                      final_answer=final, baseline_answer=baseline, counts=counts)
    verdict.growth_ok = verdict.growth_pct is not None and verdict.growth_pct <= settings.max_growth_pct
    verdict.failures_ok = verdict.unexpected == 0 and bool(results)
    verdict.final_ok = bool(final.strip()) and final == baseline
    print("\n" + kinds_table(results))
    return verdict


def report(settings: SoakSettings, verdict: Verdict) -> None:
    after = [(t, rss) for t, rss in verdict.samples if t >= settings.warmup_minutes * 60]
    if verdict.growth_pct is None:
        memory = f"not measured: fewer than 2 samples after the {settings.warmup_minutes:g} min warm-up"
    else:
        memory = (f"{after[0][1]:.1f} MB at {clock(after[0][0])} → {after[-1][1]:.1f} MB at {clock(after[-1][0])}: "
                  f"{verdict.growth_pct:+.1f} % (limit {settings.max_growth_pct:g} %)")
    mark = {True: "PASS", False: "FAIL"}
    print(f"\nverdict: {mark[verdict.passed]}")
    print(f"  RSS after warm-up    {mark[verdict.growth_ok]}  {memory}")
    print(f"  requests             {mark[verdict.failures_ok]}  {verdict.counts.get('ok', 0)} answered, "
          f"{verdict.counts.get('expected', 0)} refused as they must be, {verdict.unexpected} failed unexpectedly"
          + (f"; bad kinds never refused: {', '.join(verdict.bad_kinds_unrefused)}"
             if verdict.bad_kinds_unrefused else ""))
    print(f"  final chat           {mark[verdict.final_ok]}  {verdict.final_answer[:80]!r} "
          f"({'the same as' if verdict.final_answer == verdict.baseline_answer else 'differs from'} the first "
          f"answer, {verdict.baseline_answer[:80]!r})")
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if settings.json_path is not None:
        settings.json_path.write_text(json.dumps({**asdict(verdict), "passed": verdict.passed}, indent=2,
                                                 ensure_ascii=False))


def parse_args(argv: list[str] | None = None) -> SoakSettings:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = SoakSettings()
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="how long the load lasts")
    parser.add_argument("--every", type=float, default=defaults.every_s, help="seconds between RSS samples")
    parser.add_argument("--warmup-minutes", type=float, default=defaults.warmup_minutes,
                        help="RSS growth is measured from the first sample after this")
    parser.add_argument("--clients", type=int, default=defaults.clients, help="concurrent gradio_client sessions")
    parser.add_argument("--bad-share", type=float, default=defaults.bad_share, help="share of bad requests, 0..1")
    parser.add_argument("--max-growth", type=float, default=defaults.max_growth_pct, help="RSS growth limit, %%")
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    parser.add_argument("--draw-steps", type=int, default=defaults.draw_steps)
    parser.add_argument("--start-timeout", type=float, default=defaults.start_timeout_s)
    parser.add_argument("--request-wait", type=float, default=defaults.request_wait_s)
    parser.add_argument("--fast-decode", action="store_true", help="let the studio compile its decode step")
    parser.add_argument("--json", type=Path, help="write the verdict and the samples here")
    parser.add_argument("app_flags", nargs="*", help="flags passed to app.py (after --)")
    args = parser.parse_args(argv)
    if not 0 < args.bad_share < 1:
        parser.error(f"--bad-share must be between 0 and 1 (exclusive); got {args.bad_share:g}")
    if args.minutes <= 0 or args.every <= 0 or args.clients < 1:
        parser.error("--minutes and --every must be positive and --clients at least 1")
    return SoakSettings(minutes=args.minutes, every_s=args.every, warmup_minutes=args.warmup_minutes,
                        clients=args.clients, bad_share=args.bad_share, max_growth_pct=args.max_growth,
                        max_new_tokens=args.max_new_tokens, draw_steps=args.draw_steps,
                        start_timeout_s=args.start_timeout, request_wait_s=args.request_wait,
                        fast_decode=args.fast_decode, json_path=args.json, app_flags=tuple(args.app_flags))


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    verdict = soak(settings)
    report(settings, verdict)
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
