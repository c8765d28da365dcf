"""The Pipeline in-process: a long history is trimmed in linear work, a stop or the request's deadline ends a
request at its next step (while the history is being measured too), and text that is not valid is refused by name
at every public call."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from modules.config import load_config
from modules.contracts import DrawSettings, GenerationSettings, InputError
from modules.interrupt import RequestTimedOut
from tests.e2e_server import skip_unless_models, studio_argv, world_picture

TURNS = 5000
SHORT = GenerationSettings(max_new_tokens=24)


@pytest.fixture(scope="module")
def config():
    skip_unless_models()
    return load_config(studio_argv(), environ={})


@pytest.fixture(scope="module")
def pipeline(config):
    from modules.pipeline import Pipeline

    return Pipeline(config)


def chat_history(turns: int) -> list[dict]:
    return [{"role": "user" if k % 2 == 0 else "assistant", "content": f"turn {k}: the router picks two experts"}
            for k in range(turns)]


class CountingCalls:
    """Wraps lm.count_tokens: how many calls, and how many messages all of them were given together."""

    def __init__(self, lm, after=None):
        self.count_tokens, self.calls, self.messages, self.after = lm.count_tokens, 0, 0, after

    def __call__(self, messages, thinking=False):
        self.calls += 1
        self.messages += len(messages)
        if self.after is not None:
            self.after(self.calls)
        return self.count_tokens(messages, thinking)


class SteppingClock:
    """A clock that moves one second each time it is read: a deadline of N s passes after N readings."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def test_a_5000_turn_history_is_trimmed_to_just_fit_by_tokenising_only_what_is_kept(pipeline, monkeypatch):
    lm = pipeline.components.get("language_model")
    counting = CountingCalls(lm)
    monkeypatch.setattr(lm, "count_tokens", counting)
    history = chat_history(TURNS)

    final = list(pipeline.chat("hello", None, history, SHORT))[-1]

    assert final.done and final.text.strip(), "no answer after a 5,000-turn history"
    dropped = int(next(n for n in final.notices if "left out" in n).split()[1])
    # the turns kept are tokenised about twice (counted back from the newest, then checked together), the one
    # that did not fit and the two that measure the template once more, the rest never (dropping one turn at a time
    # and re-counting all the others gives ~TURNS**2 / 4)
    assert counting.messages <= 2 * (TURNS - dropped) + 20, (
        f"{counting.messages:,} messages tokenised to keep {TURNS - dropped} of {TURNS:,} turns")
    kept = history[dropped:]
    budget = lm.context_length - SHORT.max_new_tokens - 32
    turn = {"role": "user", "content": "hello"}
    assert lm.count_tokens.count_tokens(kept + [turn]) <= budget < lm.count_tokens.count_tokens(
        history[dropped - 2:] + [turn]), "the history kept is not the longest that fits"


def test_a_stop_set_while_the_history_is_measured_ends_the_request_there(pipeline, monkeypatch):
    lm = pipeline.components.get("language_model")
    stop = threading.Event()
    counting = CountingCalls(lm, after=lambda calls: stop.set() if calls == 10 else None)
    monkeypatch.setattr(lm, "count_tokens", counting)
    streamed = []
    monkeypatch.setattr(lm, "stream", lambda *args, **kwargs: streamed.append(args) or iter(()))

    final = list(pipeline.chat("hello", None, chat_history(TURNS), SHORT, stop=stop))[-1]

    assert counting.calls <= 11, f"{counting.calls} token counts after the stop at the 10th"
    assert final.done and final.text == "" and "Stopped." in final.notices, final
    assert not streamed, "the model was asked to answer after the stop"


def test_past_its_deadline_an_answer_stops_with_a_message_that_says_so(config, monkeypatch):
    from modules import interrupt
    from modules.pipeline import Pipeline

    limited = Pipeline(dataclasses.replace(config, limits=dataclasses.replace(config.limits, request_timeout=40)))
    lm = limited.components.get("language_model")
    monkeypatch.setattr(lm, "_eos_ids", lambda: [])     # the answer never ends by itself: only the deadline stops it
    monkeypatch.setattr(interrupt, "time", SteppingClock())
    answers = []
    with pytest.raises(RequestTimedOut, match=r"The answer took longer than 40 s and was stopped") as raised:
        for event in limited.chat("tell me about the experts", None, chat_history(20),
                                  GenerationSettings(max_new_tokens=200, keep_language=False)):
            answers.append(event.text)
    assert "--request-timeout" in str(raised.value)
    assert len(answers) < 40, f"{len(answers)} steps streamed after a 40-reading deadline"
    assert not lm.lock.locked(), "the model is still held after the deadline"


def test_past_its_deadline_a_drawing_stops_at_its_next_step(config, monkeypatch):
    from modules import interrupt
    from modules.pipeline import Pipeline

    limited = Pipeline(dataclasses.replace(config, limits=dataclasses.replace(config.limits, request_timeout=6)))
    limited.components.get("image_decoder")
    monkeypatch.setattr(interrupt, "time", SteppingClock())
    steps = []
    with pytest.raises(RequestTimedOut, match=r"The drawing took longer than 6 s"):
        limited.draw("a red circle", DrawSettings(steps=30, count=2, seed=1), on_step=lambda k, n: steps.append(k))
    assert 0 < len(steps) < 10, f"{len(steps)} of 60 diffusion steps ran past a 6-reading deadline"


@pytest.mark.parametrize("call, what, position", [
    (lambda p, tmp: list(p.chat("hi \ud800 there", None, [], SHORT)), "message", 3),
    (lambda p, tmp: list(p.chat("hi", None, [{"role": "user", "content": "ok"},
                                        {"role": "assistant", "content": "fine\udfff"}], SHORT)), "history message 2", 4),
    (lambda p, tmp: list(p.describe_image(str(world_picture(tmp / "red.png")), "\udc80what?", SHORT)), "question", 0),
    (lambda p, tmp: p.draw("a red \ud83d circle", DrawSettings(steps=2)), "prompt", 6),
])
def test_a_lone_surrogate_is_refused_by_name_and_position(pipeline, tmp_path, call, what, position):
    with pytest.raises(InputError) as raised:
        call(pipeline, tmp_path)
    message = str(raised.value)
    assert message.startswith(f"The {what} contains characters that are not valid text (a lone surrogate"), message
    assert f"at position {position})" in message, message
    final = list(pipeline.chat("hello", None, [], SHORT))[-1]
    assert final.done and final.text.strip(), "the pipeline did not answer after the refusal"
