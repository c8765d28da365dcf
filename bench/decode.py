"""How fast the language model decodes at batch 1: transformers' generate, the studio's eager loop and its fast path
(static cache + compiled step, modules/fast_decode.py), on the same model in the same process.

Usage: OMP_NUM_THREADS=1 nice -n 19 python bench/decode.py [--shape builtin small] [--tokens 64] [--runs 5]
       python bench/decode.py --shape moonlight deepseek-v2-lite --device cuda --dtype bfloat16
Prints, per model, a table of the median ms per token over --runs runs (after one warm-up run each), the CPU time
per token of the timing thread (what the step costs when a busy machine gives the process less than a core), the
ratio against generate, the threads used and the load average before and after; on a GPU also tokens/s and the share
of the memory-bandwidth roofline (weights read per token × tokens/s ÷ the card's bandwidth). Greedy answers of the
eager loop and the fast path are compared token by token. On the built-in model, the studio's own stream() is timed
too (its stats.ms_per_token), eager and fast. Never a pass/fail on time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.decode_shapes import CHOICES, GPU_ONLY, active_weight_bytes, build, check_shape, prompt_ids  # noqa: E402

BANDWIDTH_GBS = {"H200": 4800, "H100": 3350, "A100": 2039, "L40S": 864, "A10": 600, "L4": 300}   # peak GB/s


@dataclass
class Timing:
    """One path's runs."""

    path: str
    experts: str
    wall_ms: list[float] = field(default_factory=list)     # per token, one entry per run
    cpu_ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)         # the last run's greedy answer

    @property
    def median(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ms)


class Clock:
    """Wall and thread CPU time since the first token."""

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.thread_time()

    def per_token(self, steps: int) -> tuple[float, float]:
        steps = max(1, steps)
        return (1000 * (time.perf_counter() - self.wall) / steps, 1000 * (time.thread_time() - self.cpu) / steps)


def time_generate(model, ids: list[int], tokens: int) -> tuple[float, float, list[int]]:
    """transformers' generate, greedy, exactly `tokens` new tokens: per-token ms after the first one."""
    clock, seen = Clock(), []

    class Streamer:
        def put(self, value):
            if seen or value.numel() == 1:              # the first put is the prompt
                seen.append(int(value.reshape(-1)[-1].cpu()))
                if len(seen) == 1:
                    clock.start()

        def end(self):
            pass

    input_ids = torch.tensor([ids], device=model.device)
    model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=tokens,
                   min_new_tokens=tokens, do_sample=False, streamer=Streamer(), pad_token_id=0)
    wall, cpu = clock.per_token(len(seen) - 1)
    return wall, cpu, seen


def time_steps(steps, embeds: torch.Tensor, tokens: int, trace: bool) -> tuple[float, float, list[int]]:
    """A greedy loop over a decode_steps object (the studio's forward passes), ignoring the end token."""
    clock = Clock()
    logits = steps.first(embeds)
    answer = [int(logits.argmax())]
    clock.start()
    for _ in range(tokens - 1):
        logits = steps.next(answer[-1])
        if trace:
            steps.experts()
        answer.append(int(logits.argmax()))
    wall, cpu = clock.per_token(tokens - 1)
    return wall, cpu, answer


def time_stream(language_model, tokens: int) -> tuple[float, float, list[int]]:
    """The studio's own LanguageModel.stream, greedy, default settings otherwise (it stops at the end token): its
    stats.ms_per_token, and the thread's CPU time of the whole answer, prompt included, per answer token."""
    from modules.contracts import GenerationSettings
    from modules.language_model import GenerationStats

    stats, cpu = GenerationStats(), time.thread_time()
    messages = [{"role": "user", "content": "What is in a picture of a red star?"}]
    for _ in language_model.stream(messages, GenerationSettings(max_new_tokens=tokens), stats):
        pass
    cpu_ms = 1000 * (time.thread_time() - cpu) / max(1, stats.answer_tokens)
    return stats.ms_per_token, cpu_ms, [len(stats.tokens)]


def repeat(timing: Timing, runs: int, run) -> Timing:
    run()                                                  # warm-up: caches, allocator, first-call work
    for _ in range(runs):
        wall, cpu, timing.tokens = run()
        timing.wall_ms.append(wall)
        timing.cpu_ms.append(cpu)
    print(f"  {timing.path} ({timing.experts} experts): {timing.median:.2f} ms/token, CPU {timing.cpu_median:.2f}",
          flush=True)
    return timing


def bench_model(name: str, args) -> tuple[list[Timing], int]:
    """The timings of every path on one model, and the bytes of weights one token reads."""
    from modules.decode_steps import EagerSteps, FastSteps
    from modules.fast_decode import FastDecoder, FastDecodeSettings
    from modules.moe_trace import ExpertRecorder

    dtype = getattr(torch, args.dtype)
    model, language_model = build(name, args.device, dtype, args.model_experts)
    ids = prompt_ids(language_model, model.config.vocab_size, args.prompt_tokens)
    positions = len(ids) + args.tokens
    bucket = max(128, 1 << (positions - 1).bit_length())
    recorder = ExpertRecorder(model)
    layers = sorted(recorder.gates)
    embeds = lambda: model.get_input_embeddings()(torch.tensor([ids], device=model.device))   # (1, T, hidden)
    loaded = model.config._experts_implementation
    timings = []
    with torch.inference_mode():
        for experts in args.generate_experts or [loaded]:
            model.set_experts_implementation(experts)
            timings.append(repeat(Timing("transformers generate", experts), args.runs,
                                  lambda: time_generate(model, ids, args.tokens)))
        model.set_experts_implementation(loaded)
        with recorder:
            timings.append(repeat(Timing("eager loop (studio)", loaded), args.runs, lambda: time_steps(
                EagerSteps(model, recorder, layers, model.device), embeds(), args.tokens, True)))
            for experts in args.fast_experts:
                decoder = FastDecoder(model, FastDecodeSettings(buckets=(bucket,), experts_implementation=experts))
                decoder.warm_up()
                if not decoder.ready.is_set():
                    print(f"fast path with {experts} experts did not compile: {decoder.state}")
                    continue
                print(f"fast path, {experts} experts: {bucket}-token bucket compiled in "
                      f"{decoder.compile_seconds[bucket]:.1f} s; the copy shares every weight: "
                      f"{shares_weights(model, decoder.copy)}", flush=True)
                for trace in (True, False):
                    label = "fast path" + ("" if trace else ", no expert trace")
                    timings.append(repeat(Timing(label, experts), args.runs, lambda: time_steps(
                        FastSteps(model, recorder, layers, decoder, positions), embeds(), args.tokens, trace)))
                if language_model is not None and experts == args.fast_experts[0]:
                    timings += studio_streams(language_model, decoder, args)
    return timings, active_weight_bytes(model)


def studio_streams(language_model, decoder, args) -> list[Timing]:
    """LanguageModel.stream eager, then with the fast decoder in place (as the studio runs once warm)."""
    eager = repeat(Timing("studio stream, eager", language_model.model.config._experts_implementation),
                   args.runs, lambda: time_stream(language_model, args.tokens))
    language_model.fast = decoder
    fast = repeat(Timing("studio stream, fast", decoder.settings.experts_implementation), args.runs,
                  lambda: time_stream(language_model, args.tokens))
    language_model.fast = None
    return [eager, fast]


def shares_weights(model, copy) -> str:
    ours = {p.data_ptr() for p in model.parameters()}
    theirs = {p.data_ptr() for p in copy.parameters()}
    return "yes" if theirs <= ours else f"NO ({len(theirs - ours)} tensors of its own)"


def print_table(name: str, timings: list[Timing], args, weight_bytes: int) -> None:
    base = timings[0].median
    gpu = args.device == "cuda"
    bandwidth = peak_bandwidth(args) if gpu else None
    head = "| path | experts | ms/token (median) | CPU ms/token | × vs generate |"
    print(f"\n{name} ({args.dtype}, {args.device}, {args.tokens} tokens, {args.runs} runs):\n")
    print(head + (" tokens/s | roofline share |" if gpu else ""))
    print("|" + " --- |" * (7 if gpu else 5))
    for t in timings:
        row = f"| {t.path} | {t.experts} | {t.median:.2f} | {t.cpu_median:.2f} | {base / t.median:.2f} |"
        if gpu:
            per_s = 1000 / t.median
            share = f"{weight_bytes * per_s / (bandwidth * 1e9):.1%}" if bandwidth else "?"
            row += f" {per_s:.0f} | {share} |"
        print(row)
    if any(t.path.startswith("studio stream") for t in timings):
        print("\nstudio stream rows: ms/token as the Inspector shows it (after the first token); their CPU column is "
              "the whole answer's, prompt included, per answer token")
    eager = next((t for t in timings if t.path.startswith("eager")), None)
    for t in timings:
        if t.path == "fast path" and eager is not None:
            same = t.tokens == eager.tokens
            print(f"\ngreedy tokens of the fast path ({t.experts}) and the eager loop: "
                  f"{'identical' if same else 'DIFFERENT'} ({len(t.tokens)} tokens)")


def peak_bandwidth(args) -> float | None:
    if args.bandwidth_gbs:
        return args.bandwidth_gbs
    name = torch.cuda.get_device_name()
    return next((gbs for key, gbs in BANDWIDTH_GBS.items() if key in name), None)


def machine_line(when: str) -> str:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    busy = "busy" if load > 0.5 * cores else "idle"
    return (f"{when}: torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, "
            f"{cores} cores, load average {load:.2f} ({busy})")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", nargs="+", default=None, help=f"models: {', '.join(CHOICES)} (default: builtin "
                   f"small on the CPU; builtin {' '.join(GPU_ONLY)} on cuda)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--tokens", type=int, default=64, help="new tokens per answer")
    p.add_argument("--prompt-tokens", type=int, default=32, help="prompt length of a random model")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--model-experts", default="grouped_mm", help="experts implementation the model is loaded with "
                   "(the studio's)")
    p.add_argument("--generate-experts", nargs="*", default=None, help="experts implementations generate runs "
                   "with (default: as loaded; eager and grouped_mm on cuda)")
    p.add_argument("--fast-experts", nargs="+", default=["batched_mm"], help="experts implementations of the "
                   "fast path's copy, e.g. batched_mm eager grouped_mm")
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="the GPU's peak memory bandwidth (default: "
                   "known from its name)")
    args = p.parse_args(argv)
    if args.shape is None:
        args.shape = ["builtin", *GPU_ONLY] if args.device == "cuda" else ["builtin", "small"]
    if args.generate_experts is None and args.device == "cuda":
        args.generate_experts = ["eager", "grouped_mm"]
    try:
        for name in args.shape:
            check_shape(name, args.device)
    except ValueError as error:
        p.error(str(error))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    print(machine_line("before"), flush=True)
    for name in args.shape:
        timings, weight_bytes = bench_model(name, args)
        print_table(name, timings, args, weight_bytes)
    print("\n" + machine_line("after"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
