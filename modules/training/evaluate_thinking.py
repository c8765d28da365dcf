"""Accuracy with thinking on and off: held-out multi-step questions (test items, held-out wordings) and the one-step
picture questions of the suite's eval, in English and Chinese, and the share of thinking replies that close
</think>.
`python -m modules.training.evaluate_thinking [--out FOLDER] [--limit N]`."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..reasoning import THINK_END, split_reply
from ..world.multistep import multistep_items
from ..world.pictures import render_scene
from .corpus import scenes_for
from .evaluate import picture_qa
from .suite_config import SuiteConfig
from .think_prompts import Perception, answer_text, question_prompt

MAX_REPLY_TOKENS = 160          # thinking and answer together; without thinking the answer ends far sooner
SEED = 7                        # the suite eval's


@dataclass
class Answerer:
    """The saved language model answering greedily, thinking or not; `answer` and `image_encoder` as the suite
    eval's Suite has them, so that its picture questions (evaluate.picture_qa) run through it."""

    model: object
    tokenizer: object
    perception: Perception
    thinking: bool = False
    max_tokens: int = MAX_REPLY_TOKENS

    @classmethod
    def load(cls, folder: Path) -> "Answerer":
        from transformers import AutoTokenizer, DeepseekV3ForCausalLM
        cpu = torch.device("cpu")
        model = DeepseekV3ForCausalLM.from_pretrained(str(Path(folder) / "language_model")).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(Path(folder) / "language_model"))
        return cls(model, tokenizer, Perception.load(folder, cpu))

    @property
    def image_encoder(self):
        return self.perception.image_encoder

    def reply(self, prompt) -> str:
        return answer_text(self.model, self.tokenizer, prompt, self.thinking, self.max_tokens)

    def answer(self, question: str, kind: str | None = None, encoded=None) -> str:
        """A question about one encoded picture or sound (or none): the answer after any thinking."""
        media = {}
        if kind == "image":
            media = {"image": [self.perception.bridge.prefix(kind, encoded.tokens, encoded.embedding).clone()]}
        elif kind == "audio":
            media = {"audio": [self.perception.bridge.prefix(kind, encoded.tokens).clone()]}
        prompt = question_prompt(self.tokenizer, question, media, self.thinking)
        return split_reply(self.reply(prompt), final=True).answer


@torch.no_grad()
def multistep_figures(answerer: Answerer, items) -> tuple[float, float]:
    """(share of the items whose answer, after any thinking, passes their check; share of the replies that close
    </think>: 0 when not thinking)."""
    right = closed = 0
    for item in items:
        prompt = answerer.perception.prompt(answerer.tokenizer, item, answerer.thinking)
        reply = answerer.reply(prompt)
        right += item.check(split_reply(reply, final=True).answer)
        closed += answerer.thinking and THINK_END in reply
    return right / len(items), closed / len(items)


def multistep_accuracy(answerer: Answerer, items) -> float:
    """Share of the items whose answer (after any thinking) passes their check."""
    return multistep_figures(answerer, items)[0]


def evaluate_thinking(folder: Path, limit: int) -> dict[str, float]:
    """{"multistep_{on|off}_{en|zh}", "picture_qa_{on|off}_{en|zh}": accuracy, "closes_think_{en|zh}": share of
    the multi-step replies with thinking on that close </think>} on `limit` items of each."""
    answerer = Answerer.load(folder)
    scenes = scenes_for("test", limit, SEED)
    pictures = [render_scene(s) for s in scenes]
    results = {}
    for lang in ("en", "zh"):
        items = multistep_items("test", limit, SEED, lang=lang, wordings="heldout")
        for thinking in (True, False):
            answerer.thinking = thinking
            mode = "on" if thinking else "off"
            accuracy, closed = multistep_figures(answerer, items)
            results[f"multistep_{mode}_{lang}"] = accuracy
            if thinking:
                results[f"closes_think_{lang}"] = closed
            with torch.no_grad():
                results[f"picture_qa_{mode}_{lang}"] = picture_qa(answerer, scenes, pictures, lang, [], SEED)
    return results


def format_results(results: dict[str, float], limit: int) -> str:
    lines = [f"{'measure (' + str(limit) + ' items each)':<34}{'thinking':>10}{'no thinking':>13}{'gain':>8}",
             "-" * 65]
    for measure in ("multistep", "picture_qa"):
        for lang in ("en", "zh"):
            on, off = results[f"{measure}_on_{lang}"], results[f"{measure}_off_{lang}"]
            lines.append(f"{measure + ' ' + lang:<34}{on:>10.3f}{off:>13.3f}{100 * (on - off):>+8.1f}")
    for lang in ("en", "zh"):
        if f"closes_think_{lang}" in results:
            lines.append(f"{'multistep ' + lang + ' closes </think>':<34}{results[f'closes_think_{lang}']:>10.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.training.evaluate_thinking",
                                     description="Accuracy with and without thinking on held-out multi-step "
                                                 "questions and on one-step picture questions.")
    parser.add_argument("--out", type=Path, default=None, help="the suite's folder (default assets/mini)")
    parser.add_argument("--limit", type=int, default=100, help="items per language and measure (default 100)")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error(f"--limit must be at least 1, not {args.limit}")
    folder = Path(args.out or SuiteConfig().out_dir)
    missing = [role for role in ("language_model", "bridge", "image_encoder", "audio_encoder")
               if not (folder / role).is_dir()]
    if missing:
        parser.error(f"{folder} has no {', '.join(missing)}: point --out at a trained suite's folder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(format_results(evaluate_thinking(folder, args.limit), args.limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
