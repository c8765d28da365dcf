"""Drawings run in the pipeline's drawing worker: a chat is answered while other people's chat drawings compute and
wait, a drawing past the worker's waiting room is refused with a message, a stopped drawing computes no further
diffusion step, and a drawing or an answer stopped while it waited for its model never computes at all."""
from __future__ import annotations

import threading

import pytest

from modules.config import load_config
from modules.contracts import DrawSettings, GenerationSettings
from modules.workers import Worker, WorkerFull
from tests.e2e_server import skip_unless_models, studio_argv, studio_in_process

HOLD_S = 120.0           # failsafe only: how long a held drawing waits to be released before it goes on
SHORT = GenerationSettings(max_new_tokens=8)


@pytest.fixture(scope="module")
def pipeline():
    from modules.pipeline import Pipeline

    skip_unless_models()
    pipeline = Pipeline(load_config(studio_argv(), environ={}))
    pipeline.preload()
    return pipeline


class HeldAfterFirstStep:
    """A drawing's stop flag, read by the diffusion loop before its first step and after each: the read after the
    first step waits until `release` is set, so the drawing stays in flight, one step computed."""

    def __init__(self, stop, release: threading.Event):
        self.stop, self.release, self.reads = stop, release, 0
        self.in_flight = threading.Event()
        self.outwaited = False       # the failsafe ended the hold: nothing released it in time

    def is_set(self) -> bool:
        self.reads += 1
        if self.reads == 2:
            self.in_flight.set()
            self.outwaited = not self.release.wait(HOLD_S)
        return self.stop is not None and self.stop.is_set()


@pytest.fixture
def held(pipeline, monkeypatch):
    """(the held drawing's stop flag once one starts, the Event that releases it): the next drawing is held after
    its first diffusion step."""
    decoder = pipeline.components.get("image_decoder")
    draw, release, holds = decoder.draw, threading.Event(), []

    def held_draw(prompt, steps, guidance, seed, on_step=None, stop=None):
        if not holds:
            holds.append(HeldAfterFirstStep(stop, release))
            stop = holds[0]
        return draw(prompt, steps, guidance, seed, on_step, stop)

    monkeypatch.setattr(decoder, "draw", held_draw)
    yield holds, release
    release.set()


def chat_drawing_in_flight(client, holds: list):
    """Ask `client`'s /chat to draw; returns its job once the drawing is held after its first diffusion step (the
    `held` fixture): its words come first, then the diffusion."""
    drawing = client.submit({"text": "draw a red circle", "files": []}, api_name="/chat")
    while not holds:
        assert not drawing.done(), f"the chat drew nothing: {drawing.result()}"
        threading.Event().wait(0.05)
    assert holds[0].in_flight.wait(HOLD_S), "the drawing did not start"
    return drawing


def test_a_chat_is_answered_while_another_clients_chat_drawing_computes(pipeline, held):
    holds, release = held
    with studio_in_process(pipeline) as drawer:
        from gradio_client import Client

        asker = Client(drawer.src, verbose=False)
        drawing = chat_drawing_in_flight(drawer, holds)

        hello = asker.predict({"text": "hello", "files": []}, max_new_tokens=8, api_name="/chat")
        drawing_was_done = drawing.done()
        release.set()
        drawn = drawing.result()

    assert hello["text"].strip() and not hello["files"], hello
    assert not drawing_was_done and not holds[0].outwaited, "the hello was answered only after the drawing went on"
    assert len(drawn["files"]) == 1, drawn


def test_a_chat_is_answered_while_two_chat_drawings_compute_and_wait(pipeline, held):
    """With the default --concurrency of 1, one chat drawing computing and a second waiting for the worker: a third
    person's chat is still answered (their requests wait in the worker, not in the chat's slots)."""
    holds, release = held
    with studio_in_process(pipeline) as drawer:
        from gradio_client import Client

        second, asker = Client(drawer.src, verbose=False), Client(drawer.src, verbose=False)
        drawing = chat_drawing_in_flight(drawer, holds)
        waiting = second.submit({"text": "draw a blue square", "files": []}, api_name="/chat")
        while pipeline.drawing.in_hand < 2:                          # its words, then the wait for the worker
            assert not waiting.done(), f"the second chat drew nothing: {waiting.result()}"
            threading.Event().wait(0.05)

        hello = asker.predict({"text": "hello", "files": []}, max_new_tokens=8, api_name="/chat")
        held_on = not drawing.done() and not waiting.done()
        release.set()
        drawn, drawn_too = drawing.result(), waiting.result()

    assert hello["text"].strip() and not hello["files"], hello
    assert held_on and not holds[0].outwaited, "the hello was answered only after the drawings went on"
    assert len(drawn["files"]) == 1 and len(drawn_too["files"]) == 1, (drawn, drawn_too)


def test_a_job_past_the_waiting_room_is_refused_with_a_message_and_the_next_is_taken():
    worker, release, started = Worker("test-draw", limit=1, waiting=1, noun="drawing"), threading.Event(), []

    def job(name: str):
        def run():
            started.append(name)
            release.wait(HOLD_S)
            return name
        return run

    first = threading.Thread(target=worker.run, args=(job("first"),))
    second = threading.Thread(target=worker.run, args=(job("second"),))
    first.start(), second.start()
    while worker.in_hand < 2:
        threading.Event().wait(0.01)
    with pytest.raises(WorkerFull, match=r"already making 1 drawing with 1 more waiting, its most \(2 at once\)"):
        worker.run(job("third"))
    release.set()
    first.join(HOLD_S), second.join(HOLD_S)
    assert started == ["first", "second"] and worker.refused == 1 and worker.in_hand == 0
    assert worker.run(job("fourth")) == "fourth"                     # room again once they are done


def test_a_stopped_drawing_computes_no_further_step(pipeline):
    decoder, stop = pipeline.components.get("image_decoder"), threading.Event()
    before = decoder.steps_run

    def stop_at_third(step: int, total: int) -> None:
        if step == 3:
            stop.set()

    pictures = pipeline.draw("a red circle", DrawSettings(steps=40, count=2, seed=1), on_step=stop_at_third,
                             stop=stop)
    assert pictures == []
    assert decoder.steps_run - before == 3, f"{decoder.steps_run - before} diffusion steps for a stop at the 3rd"


def test_a_drawing_stopped_while_it_waits_for_the_worker_never_starts(pipeline, held):
    holds, release = held
    decoder = pipeline.components.get("image_decoder")
    before = decoder.steps_run
    first = threading.Thread(target=pipeline.draw, args=("a red circle", DrawSettings(steps=4, seed=1)))
    first.start()
    while not holds:
        threading.Event().wait(0.05)
    assert holds[0].in_flight.wait(HOLD_S)
    stop, got = threading.Event(), []
    second = threading.Thread(target=lambda: got.append(pipeline.draw("a blue square", DrawSettings(steps=4),
                                                                      stop=stop)))
    second.start()
    skipped, started = pipeline.drawing.skipped, pipeline.drawing.started
    stop.set()
    second.join(timeout=HOLD_S)
    assert got == [[]], "the stopped drawing did not end while the other one held the worker"
    release.set()
    first.join(timeout=HOLD_S)
    assert pipeline.drawing.skipped == skipped + 1 and pipeline.drawing.started == started
    assert decoder.steps_run - before == 4, "diffusion steps other than the first drawing's 4 were computed"


def test_an_answer_stopped_while_another_holds_the_model_never_computes(pipeline):
    lm, stop, events = pipeline.components.get("language_model"), threading.Event(), []
    answering = threading.Thread(target=lambda: events.extend(pipeline.chat("hello", None, [], SHORT, stop=stop)))
    with lm.lock:                                    # another answer holds the model
        answering.start()
        stop.set()
        answering.join(timeout=HOLD_S)
        ended_while_held = not answering.is_alive()
    answering.join(timeout=HOLD_S)
    assert ended_while_held, "the stopped answer waited for the model instead of ending"
    assert events[-1].done and events[-1].text == "" and "Stopped." in events[-1].notices, events[-1]
