"""Input checks run by the UI and the API before calling the pipeline; each refusal names the value and range."""
from __future__ import annotations

import math
from typing import Any

from modules.contracts import DrawSettings, GenerationSettings, InputError
from modules.unencodable import check_encodable

EMPTY_MESSAGE = "Type a message or attach a picture or sound"
EMPTY_PROMPT = "Describe the picture to draw, e.g. 'a small blue star on the left'"
MAX_SEED = 2**32 - 1                   # numpy's and most samplers' seed range
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.05, 1.0)
GUIDANCE_RANGE = (0.0, 20.0)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(name: str, value: Any, lo: float, hi: float, whole: bool = False) -> float:
    """`value` as a float (or whole number) within lo..hi; InputError naming the value and the range otherwise."""
    kind = "a whole number" if whole else "a number"
    span = f"{_fmt(lo)}..{_fmt(hi)}"
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be {kind} in {span}; got {value!r}.") from None
    if math.isnan(number) or (whole and not number.is_integer()) or not lo <= number <= hi:
        raise InputError(f"{name} must be {kind} in {span}; got {value!r}.")
    return number


def check_text(text: Any, limits: Any, what: str = "message") -> str:
    """A str of valid text within limits.max_text_chars (empty is allowed here; callers decide whether it may
    be)."""
    text = "" if text is None else text
    if not isinstance(text, str):
        raise InputError(f"The {what} must be text; got {type(text).__name__}.")
    check_encodable(text, what)
    if len(text) > limits.max_text_chars:
        raise InputError(f"The {what} is {len(text):,} characters long; the limit is "
                         f"{limits.max_text_chars:,} characters. Please shorten it.")
    return text


def check_message(message: Any, limits: Any) -> tuple[str, list[str]]:
    """A MultimodalTextbox value {"text", "files"} → (text, file paths); refuses an empty message."""
    if message is None:
        message = {}
    if isinstance(message, str):
        message = {"text": message}
    if not isinstance(message, dict):
        raise InputError('The message must be {"text": str, "files": [paths]}.')
    text = check_text(message.get("text"), limits)
    files = [str(f.get("path", "")) if isinstance(f, dict) else str(f) for f in (message.get("files") or [])]
    if not text.strip() and not files:
        raise InputError(EMPTY_MESSAGE)
    return text, files


def check_seed(seed: Any, name: str = "Seed") -> int | None:
    """-1, blank or None = random (None); otherwise a whole number 0..MAX_SEED."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    if not isinstance(seed, bool):
        try:
            if float(seed) == -1:
                return None
        except (TypeError, ValueError):
            pass
    return int(_number(f"{name} (-1 = random)", seed, 0, MAX_SEED, whole=True))


def generation_settings(temperature: Any, top_p: Any, max_new_tokens: Any, seed: Any,
                        limits: Any) -> GenerationSettings:
    """The Settings panel's values → GenerationSettings; out-of-range values are refused, never clamped."""
    return GenerationSettings(
        temperature=_number("Temperature", temperature, *TEMPERATURE_RANGE),
        top_p=_number("Top-p", top_p, *TOP_P_RANGE),
        max_new_tokens=int(_number("Max new tokens", max_new_tokens, 1, limits.max_new_tokens, whole=True)),
        seed=check_seed(seed),
    )


def draw_settings(steps: Any, guidance: Any, seed: Any, count: Any, limits: Any) -> DrawSettings:
    """The Draw tab's values → DrawSettings; out-of-range values are refused, never clamped."""
    return DrawSettings(
        steps=int(_number("Steps", steps, 1, limits.max_draw_steps, whole=True)),
        guidance=_number("Guidance", guidance, *GUIDANCE_RANGE),
        seed=check_seed(seed),
        count=int(_number("Number of pictures", count, 1, limits.max_draw_count, whole=True)),
    )


def check_prompt(prompt: Any, limits: Any) -> str:
    """A non-empty drawing prompt within the text limit."""
    prompt = check_text(prompt, limits, what="prompt")
    if not prompt.strip():
        raise InputError(EMPTY_PROMPT)
    return prompt


def check_file(path: Any, kind: str) -> str:
    """An uploaded file's path; a clear request to upload one when missing."""
    if isinstance(path, dict):
        path = path.get("path")
    if not path:
        raise InputError(f"Upload a {kind} first (or record one with the microphone).")
    return str(path)
