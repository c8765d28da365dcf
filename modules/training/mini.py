"""Command line of the built-in suite: `python -m modules.training.mini train|eval|table [--stage …] [--quick]`."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

STAGES = ("tokenizer", "encoders", "places", "audio", "language", "questions", "grounding", "sounds", "decoder")
# trained only when named with --stage (stages run in the order named; both read the language model the stages
# above saved): the cold start (supervised, on generated reasoning traces) and then the think stage (R1-Zero-style
# GRPO on multi-step questions) stay out of the recipe until a measured run ships
OPT_IN_STAGES = ("coldstart", "think")
LANGUAGE_STAGES = ("language", "questions", "grounding", "sounds")
# the stages after the picture and text towers are final (places saves them last): the decoder, which reads only
# those towers, can train beside any of them
AFTER_TOWERS_STAGES = ("audio",) + LANGUAGE_STAGES
# each stage after the tokenizer -> (module of this package, its training function), imported when the stage runs
TRAINERS = {"encoders": ("train_encoders", "train_encoders"), "places": ("pool_places", "train_places"),
            "audio": ("tune_audio", "train_audio"),
            "language": ("train_language", "train_language"), "questions": ("train_language", "tune_on_questions"),
            "grounding": ("train_language", "tune_with_grounding"), "sounds": ("train_language", "tune_sound_bridge"),
            "decoder": ("train_decoder", "train_decoder"), "coldstart": ("train_coldstart", "train_coldstart"),
            "think": ("train_thinking", "train_thinking")}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modules.training.mini",
                                     description="Train or evaluate the built-in mini model suite.")
    parser.add_argument("command", choices=("train", "eval", "table"),
                        help="train the models; eval them (writes metrics.json); table: metrics.json as Markdown (the "
                             "tables of docs/training.md, then the README's)")
    parser.add_argument("--stage", action="append", choices=STAGES + OPT_IN_STAGES,
                        help="train only these stages (repeatable); default: all but the opt-in "
                             f"{', '.join(OPT_IN_STAGES)}, in order")
    parser.add_argument("--quick", action="store_true",
                        help="a few steps of each stage into a scratch folder, to check the code runs")
    parser.add_argument("--out", type=Path, default=None, help="where the models go (default assets/mini)")
    parser.add_argument("--limit", type=int, default=0, help="eval: at most this many test items per measure")
    return parser.parse_args(argv)


def quick_config(suite, out: Path):
    """The same suite, shrunk to run in about a minute."""
    from .suite_config import ColdStartStage, DecoderStage, EncoderStage, LanguageStage, ThinkStage
    return dataclasses.replace(
        suite, out_dir=out, work_dir=out / ".work",
        encoders=EncoderStage(scenes=200, sounds=100, shape_steps=2, steps=3, place_steps=2, audio_steps=2,
                              picture_batch=8, sound_batch=8),
        language=LanguageStage(scenes=200, sounds=100, steps=3, batch=4, question_steps=2, grounding_steps=2,
                              sound_steps=2, sound_phase_sounds=100),
        decoder=DecoderStage(scenes=100, vae_steps=2, vae_decoder_steps=2, unet_steps=2, vae_batch=4,
                             unet_batch=4),
        coldstart=ColdStartStage(steps=2, batch=4, train_questions=20, one_step_scenes=20, one_step_sounds=20,
                                 checkpoint_every=1, eval_questions=2, eval_one_step=2, max_reply_tokens=8),
        think=ThinkStage(steps=2, questions_per_step=2, group_size=2, max_reply_tokens=8, train_questions=20,
                         eval_every=2, eval_questions=2, checkpoint_every=1))


def load_or_train_tokenizer(suite, retrain: bool):
    """The run's tokenizer: trained afresh when asked (the tokenizer stage), else the run's own (in the work
    folder), else the one saved with the models in the out folder, else trained. Stages run on saved weights must
    read text as those weights do: a tokenizer retrained from today's corpus numbers its tokens otherwise, and the
    audio and sounds stages run so on the shipped models once fitted the sound tower and the bridge to the wrong ids
    (every answer came out garbled)."""
    from transformers import AutoTokenizer

    from .corpus import tokenizer_corpus
    from .tokenizer import save_tokenizer, train_tokenizer
    folder = Path(suite.work_dir) / "tokenizer"
    if not retrain and (folder / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(str(folder))
    saved = Path(suite.out_dir) / "language_model"
    if not retrain and (saved / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(str(saved))
        print(f"tokenizer: the saved models' ({saved}), {len(tokenizer)} tokens")
    else:
        tokenizer = train_tokenizer(tokenizer_corpus(suite.seed), suite.vocab_size, suite.encoders.context_length)
        print(f"tokenizer: {len(tokenizer)} tokens")
    save_tokenizer(tokenizer, folder)
    return AutoTokenizer.from_pretrained(str(folder))


def suite_for(args: argparse.Namespace):
    """The suite the command line asks for: the recipe's, in --out, or the quick one."""
    from .suite_config import SuiteConfig
    suite = SuiteConfig()
    if args.out:
        suite = dataclasses.replace(suite, out_dir=args.out, work_dir=args.out / ".work")
    if args.quick:
        suite = quick_config(suite, args.out or Path("/tmp") / "omnimoe-mini-quick")
    return suite


def train_stages(suite, stages: list[str]) -> dict[str, float]:
    """Train the stages in order (on a CPU, the decoder beside the language model: decoder_beside); returns each
    stage's seconds."""
    import torch
    from accelerate import Accelerator, DistributedDataParallelKwargs
    torch.manual_seed(suite.seed)
    # find_unused_parameters: under `accelerate launch` some parts rest in some steps (the text and sound towers in
    # the shape phase, the sound projector in a batch without sounds, the VAE's encoder in its decoder phase)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(),
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    started = time.time()
    with accelerator.main_process_first():     # one process writes the tokenizer; the others then read it
        tokenizer = load_or_train_tokenizer(suite, retrain="tokenizer" in stages and accelerator.is_main_process)
    tokenizer_seconds = time.time() - started
    seconds, beside = {}, None
    try:
        for stage in stages:
            if beside is None and stage in AFTER_TOWERS_STAGES and decoder_beside(suite, stages, accelerator):
                beside = DecoderBeside.start(suite)
            elif beside is not None and not beside.process.is_alive():
                beside.finish()             # the decoder is done: the next stages get every thread back
            if stage == "decoder" and beside is not None:
                seconds[stage] = beside.finish()
                print(f"stage {stage}: {seconds[stage]:.0f} s (beside the language model; its log: {beside.log})")
                continue
            started = time.time()
            train_stage(stage, suite, tokenizer, accelerator)    # nothing for "tokenizer": it was trained above
            accelerator.wait_for_everyone()     # the main process has saved what the next stage reads
            seconds[stage] = time.time() - started + (tokenizer_seconds if stage == "tokenizer" else 0.0)
            print(f"stage {stage}: {seconds[stage]:.0f} s")
    finally:
        if beside is not None:
            beside.stop()
    return seconds


def decoder_beside(suite, stages: list[str], accelerator) -> bool:
    """Whether the decoder stage trains in a second process while the audio and language-model stages run, each on
    half the cores: on a CPU, in one process, with both kinds of stage asked for. Both read only the finished
    encoders (the decoder only the picture and text towers, which the audio stage leaves as they are).
    On two cores, two one-thread processes side by side each run at about 0.67x their two-thread speed (a packed
    language-model step 0.288 -> 0.422 s, a UNet step 0.355 -> 0.55 s), so together they finish sooner."""
    import torch
    return (suite.decoder_beside_language and "decoder" in stages
            and any(s in AFTER_TOWERS_STAGES for s in stages)
            and accelerator.device.type == "cpu" and accelerator.num_processes == 1 and torch.get_num_threads() >= 2)


@dataclasses.dataclass
class DecoderBeside:
    """The decoder stage training in a second process, with half this process's threads, its output in a log."""

    process: object           # multiprocessing.Process
    results: object           # multiprocessing.Queue: the child's seconds, or its error
    log: Path
    seconds: float | None = None    # the decoder stage's, once finished

    @classmethod
    def start(cls, suite) -> "DecoderBeside":
        import multiprocessing

        import torch

        from . import threads_back
        threads = torch.get_num_threads()
        context = multiprocessing.get_context("spawn")
        log = Path(suite.work_dir) / "decoder.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        results = context.Queue()
        process = context.Process(target=_train_decoder_alone, args=(suite, threads // 2, log, results))
        process.start()
        torch.set_num_threads(threads - threads // 2)
        threads_back.lend_while_running(process, threads)     # taken back the step after it ends
        print(f"decoder: training beside the language model on {threads // 2} of {threads} threads; its progress "
              f"is in {log}")
        return cls(process, results, log)

    def finish(self) -> float:
        """Wait for the decoder (if it has not been waited for) and give this process its threads back; the
        decoder's seconds. Raises RuntimeError, naming the log, if it failed."""
        import queue

        import torch

        from . import threads_back
        if self.seconds is not None:
            return self.seconds
        while True:
            try:
                outcome = self.results.get(timeout=5)
                break
            except queue.Empty:
                if not self.process.is_alive():     # ended without a word: killed (e.g. out of memory)
                    outcome = f"its process ended with exit code {self.process.exitcode}"
                    break
        self.process.join()
        threads_back.take_back_if_free()      # unless a training loop took them back already
        if isinstance(outcome, str) or self.process.exitcode != 0:
            raise RuntimeError(f"the decoder stage failed beside the language model ({outcome}); see {self.log}")
        print(f"decoder: finished beside the language model in {outcome:.0f} s; back to "
              f"{torch.get_num_threads()} threads here")
        self.seconds = outcome
        return outcome

    def stop(self) -> None:
        """End the decoder's process if it still runs (this process failed or was interrupted)."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _train_decoder_alone(suite, threads: int, log: Path, results) -> None:
    """The second process of DecoderBeside: the decoder stage on `threads` threads, its output into `log`."""
    import torch
    with open(log, "w", buffering=1) as out:
        sys.stdout = sys.stderr = out
        torch.set_num_threads(threads)
        try:
            results.put(train_stages(suite, ["decoder"])["decoder"])
        except BaseException as error:          # reported to the first process, which raises it by name
            traceback.print_exc()
            results.put(f"{type(error).__name__}: {error}")
            raise SystemExit(1) from None


def train_stage(stage: str, suite, tokenizer, accelerator) -> None:
    """Train one of STAGES; the tokenizer is not among them here (train_stages makes it first)."""
    if stage == "tokenizer":
        return
    if stage not in TRAINERS:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES + OPT_IN_STAGES)}")
    module, function = TRAINERS[stage]
    getattr(importlib.import_module(f".{module}", __package__), function)(suite, tokenizer, accelerator)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "train":
        train_stages(suite_for(args), args.stage or list(STAGES))
        return 0
    if args.command == "table":
        from .report import markdown, readme_table
        from .suite_config import SuiteConfig
        metrics = Path(args.out or SuiteConfig().out_dir) / "metrics.json"
        print(markdown(metrics) + "\n\nThe README's table (How well the built-in models do):\n\n" + readme_table(metrics))
        return 0
    from .evaluate import run_evaluation
    return run_evaluation(args.out, args.limit)


if __name__ == "__main__":
    sys.exit(main())
