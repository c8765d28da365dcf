"""Example inputs for every tab: pictures and sounds under assets/examples/ plus text from the world."""
from __future__ import annotations

from glob import glob
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
MAX_FILES = 4                        # per kind, so the examples stay one short row

CHAT_TEXTS = ["what is a mixture of experts?", "你好", "画一个红色的圆形", "draw a small blue star on the left"]
PICTURE_QUESTIONS = ["describe this picture", "what color is the circle?", "图片里有什么？"]
SOUND_QUESTIONS = ["describe this sound", "how many beeps?", "这是什么声音？"]
DRAW_PROMPTS = ["draw a red circle", "a small blue star on the left", "画一个红色的圆形",
                "a large green square at the top"]


def example_files(pattern: str, folder: Path | None = None) -> list[str]:
    """sorted(glob) of the example files present now (none yet → [])."""
    return sorted(glob(str((folder or EXAMPLES_DIR) / pattern)))[:MAX_FILES]


def pictures() -> list[str]:
    return example_files("*.png")


def sounds() -> list[str]:
    return example_files("*.wav")


def chat_examples() -> list[dict]:
    """Cards shown in the empty chat ({"text", "files"}): plain questions, then a picture and a sound to ask about."""
    cards = [{"text": text} for text in CHAT_TEXTS]
    cards += [{"text": PICTURE_QUESTIONS[i % 2], "files": [p]} for i, p in enumerate(pictures()[:2])]
    cards += [{"text": SOUND_QUESTIONS[0], "files": [s]} for s in sounds()[:1]]
    return cards


def describe_examples() -> list[list[str]]:
    """(picture, question) pairs; [] until pictures exist."""
    return [[p, PICTURE_QUESTIONS[i % len(PICTURE_QUESTIONS)]] for i, p in enumerate(pictures())]


def listen_examples() -> list[list[str]]:
    """(sound, question) pairs; [] until sounds exist."""
    return [[s, SOUND_QUESTIONS[i % len(SOUND_QUESTIONS)]] for i, s in enumerate(sounds())]


def draw_examples() -> list[list[str]]:
    return [[prompt] for prompt in DRAW_PROMPTS]
