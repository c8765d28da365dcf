"""Latency and memory of the running studio: cold start, each endpoint's median, chat speed, peak memory.

Usage: python bench/latency.py [--repeats 5] [--json bench/latency.json] [-- extra app.py flags]
Prints a table (medians against the targets) and writes the numbers as JSON. Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"page_served_s": ("≤", 10.0), "describe_image_s": ("≤", 0.5), "describe_audio_s": ("≤", 0.5),
           "chat_ttft_s": ("≤", 0.3), "chat_tokens_per_s": ("≥", 50.0), "generate_image_s": ("≤", 3.0),
           "peak_rss_gb": ("≤", 2.0)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 180) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the studio exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"no page at {url} after {timeout} s")


class PeakMemory:
    """Samples the server's resident memory (with its children) on every call."""

    def __init__(self, pid: int):
        self.process, self.peak = psutil.Process(pid), 0

    def sample(self) -> None:
        processes = [self.process] + self.process.children(recursive=True)
        self.peak = max(self.peak, sum(p.memory_info().rss for p in processes if p.is_running()))


def timed(fn, repeats: int, memory: PeakMemory) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
        memory.sample()
    return times


def world_files(folder: Path) -> tuple[str, str]:
    import soundfile
    from modules.world.pictures import Scene, SceneObject, render_scene
    from modules.world.sounds import Sound, synthesize
    picture, sound = folder / "bench.png", folder / "bench.wav"
    render_scene(Scene("white", (SceneObject("red", "circle", "large", "left"),), 3)).save(picture)
    soundfile.write(sound, synthesize(Sound("beeps", "high", "pure", 3, variation_seed=4)), 16_000)
    return str(picture), str(sound)


def measure(repeats: int, extra: list[str]) -> dict[str, float]:
    from gradio_client import Client, handle_file
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *extra], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        results = {"page_served_s": wait_for_page(f"http://127.0.0.1:{port}/", process)}
        memory = PeakMemory(process.pid)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict({"text": "hello", "files": []}, api_name="/chat")       # waits for the models to load
        results["ready_s"] = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            picture, sound = world_files(Path(tmp))
            results["describe_image_s"] = statistics.median(timed(
                lambda: client.predict(handle_file(picture), "", api_name="/describe_image"), repeats, memory))
            results["describe_audio_s"] = statistics.median(timed(
                lambda: client.predict(handle_file(sound), "", api_name="/describe_audio"), repeats, memory))
        results["generate_image_s"] = statistics.median(timed(
            lambda: client.predict("draw a red circle", api_name="/generate_image"), repeats, memory))
        ttft, per_token, chat = [], [], []
        for question in ["what is a mixture of experts?", "什么是扩散模型？"] * repeats:
            chat += timed(lambda: client.predict({"text": question, "files": []}, api_name="/chat"), 1, memory)
            trace = client.predict(api_name="/inspect")
            ttft.append(trace["ttft_s"])
            per_token.append(trace["ms_per_token"])
        results.update(chat_s=statistics.median(chat), chat_ttft_s=statistics.median(ttft),
                       chat_ms_per_token=statistics.median(per_token),
                       chat_tokens_per_s=1000.0 / statistics.median(per_token),
                       peak_rss_gb=memory.peak / 2**30)
        return results
    finally:
        process.terminate()
        process.wait(timeout=30)


def table(results: dict[str, float]) -> str:
    lines = [f"| {'measure':<20} | {'median':>9} | {'target':>8} | met |", f"|{'-' * 22}|{'-' * 11}|{'-' * 10}|-----|"]
    for key, value in results.items():
        sign, bound = TARGETS.get(key, ("", None))
        met = "" if bound is None else ("yes" if (value <= bound if sign == "≤" else value >= bound) else "no")
        target = "" if bound is None else f"{sign} {bound:g}"
        lines.append(f"| {key:<20} | {value:>9.3f} | {target:>8} | {met:^3} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "latency.json")
    parser.add_argument("extra", nargs="*", help="flags passed to app.py (after --)")
    args = parser.parse_args()
    results = measure(args.repeats, args.extra)
    print(table(results))
    args.json.write_text(json.dumps({k: round(v, 4) for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
