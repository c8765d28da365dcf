"""The built-in suite on a GPU against the CPU, in one process: the same answers, medians of each task, memory.

Usage: python bench/gpu.py [--repeats 3] [--json FILE] [--config spaces.yaml]
Needs CUDA. Loads the mini profile through the studio's Pipeline three times (cpu float32, the baseline; cuda
float32; cuda bfloat16), asks each the same questions about the example pictures and sounds, chats, draws, and
prints medians, the speed-up over the CPU, the peak GPU memory and how many answers match the CPU's word for word.
It also says, for each --quantize method, whether it can run on this GPU with the libraries installed.
Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "assets" / "examples"
PICTURE_QUESTIONS = [("three-shapes-on-black.png", ""), ("three-shapes-on-black.png", "Is there a star?"),
                     ("red-circle-left.png", "Where is the red circle?"),
                     ("blue-star-and-yellow-square.png", "描述这张图片。")]
SOUND_QUESTIONS = [("three-high-beeps.wav", "Describe this sound."), ("rising-sweep.wav", "描述这段声音。"),
                   ("long-low-buzzy-tone.wav", "Describe this sound.")]
CHATS = ["Hello! What can you do?", "你好！你能做什么？"]
DRAWING = ("draw a red star", "red")
SETTINGS = (("cpu", "float32"), ("cuda", "float32"), ("cuda", "bfloat16"))


@dataclass
class Run:
    """One device and dtype: every answer and how long each task took (seconds, one entry per call)."""

    device: str
    dtype: str
    load_s: float = 0.0
    answers: list[str] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    drawing_has_colour: bool = False
    peak_gpu_mb: float = 0.0
    role_mb: dict[str, float] = field(default_factory=dict)


def last(stream) -> str:
    text = ""
    for text in stream:
        pass
    return text


def timed(run: Run, task: str, call):
    started = time.perf_counter()
    result = call()
    run.seconds.setdefault(task, []).append(time.perf_counter() - started)
    return result


def measure(device: str, dtype: str, config_path: str, repeats: int) -> Run:
    """Load the mini profile on `device` in `dtype`, then ask everything `repeats` times (answers of the first)."""
    import torch

    run = Run(device, dtype)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    pipeline = loaded_pipeline(device, dtype, config_path)
    run.load_s = time.perf_counter() - started
    for repeat in range(repeats):
        ask_everything(pipeline, run, keep_answers=repeat == 0, seed=repeat)
    if device == "cuda":
        torch.cuda.synchronize()
        run.peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20
    run.role_mb = {role: entry["bytes"] / 2**20 for role, entry in pipeline.memory().items()}
    return run


def loaded_pipeline(device: str, dtype: str, config_path: str):
    from modules.config import load_config
    from modules.pipeline import Pipeline

    pipeline = Pipeline(load_config(["--config", config_path, "--profile", "mini", "--device", device,
                                     "--dtype", dtype]))
    pipeline.preload()
    failed = {role: state for role, state in pipeline.status().items() if not state.startswith("ready")}
    if failed:
        raise RuntimeError(f"{device} {dtype}: roles not loaded: {failed}")
    return pipeline


def ask_everything(pipeline, run: Run, keep_answers: bool, seed: int) -> None:
    """One round: every picture and sound question, every chat message and the drawing, each timed."""
    from modules.contracts import DrawSettings, GenerationSettings
    from modules.training.evaluate import color_present

    greedy = GenerationSettings(temperature=0.0, max_new_tokens=96)
    answers = []
    for name, question in PICTURE_QUESTIONS:
        answers.append(timed(run, "describe_image", lambda: last(
            pipeline.describe_image(str(EXAMPLES / name), question, greedy))))
    for name, question in SOUND_QUESTIONS:
        answers.append(timed(run, "describe_audio", lambda: last(
            pipeline.describe_audio(str(EXAMPLES / name), question, greedy))))
    for message in CHATS:
        answers.append(timed(run, "chat", lambda: last(pipeline.chat(message, [], [], greedy))).text)
    prompt, colour = DRAWING
    pictures = timed(run, "draw", lambda: pipeline.draw(prompt, DrawSettings(steps=12, seed=seed)))
    run.drawing_has_colour = run.drawing_has_colour or color_present(pictures[0].image, colour)
    if keep_answers:
        run.answers = answers


def quantize_support() -> dict[str, str]:
    """method -> 'runs here' or the studio's own message saying why not."""
    from modules.quantize import METHODS, QuantizeUnavailable, check_quantize

    support = {}
    for method in METHODS:
        try:
            check_quantize(method, "cuda")
            support[method] = "runs here"
        except QuantizeUnavailable as error:
            support[method] = str(error)
    return support


def table(runs: list[Run]) -> str:
    base = runs[0]
    tasks = list(base.seconds)
    head = "| device | dtype | load s | " + " | ".join(f"{t} median s (× cpu)" for t in tasks) + \
           " | peak GPU MiB | answers as on cpu | drawing has its colour |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for run in runs:
        cells = []
        for task in tasks:
            median = statistics.median(run.seconds[task])
            cells.append(f"{median:.3f} ({statistics.median(base.seconds[task]) / median:.1f})")
        same = sum(a == b for a, b in zip(run.answers, base.answers))
        lines.append(f"| {run.device} | {run.dtype} | {run.load_s:.1f} | " + " | ".join(cells)
                     + f" | {run.peak_gpu_mb:.0f} | {same}/{len(base.answers)} | {run.drawing_has_colour} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write every answer and time here")
    parser.add_argument("--config", default=str(ROOT / "spaces.yaml"))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("bench/gpu.py needs CUDA; torch sees no GPU here.")
        return 2
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    runs = [measure(device, dtype, args.config, args.repeats) for device, dtype in SETTINGS]
    for run in runs[1:]:
        for k, (mine, cpus) in enumerate(zip(run.answers, runs[0].answers)):
            if mine != cpus:
                print(f"{run.device} {run.dtype} answer {k}: {mine!r} (cpu: {cpus!r})")
    support = quantize_support()
    for method, outcome in support.items():
        print(f"--quantize {method}: {outcome}")
    print("memory of each role (MiB): " + "; ".join(
        f"{run.device} {run.dtype}: " + ", ".join(f"{role} {mb:.1f}" for role, mb in run.role_mb.items())
        for run in runs))
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "runs": [run.__dict__ for run in runs], "quantize": support},
                                        indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
