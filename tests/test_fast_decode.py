"""The fast decode path (static cache + compiled step) on the built-in language model: the same answers and expert
traces as the eager loop, seeded sampling that repeats, Stop within one step, the eager loop whenever the fast path
is not warm or the request does not fit a bucket, and the switches that turn it off."""
import threading

import pytest
import torch

from modules.config import ConfigError, load_config
from modules.contracts import GenerationSettings
from modules.batch_decode import BatchDecoder
from modules.fast_decode import FastDecoder, FastDecodeSettings
from modules.language_model import GenerationStats, LanguageModel
from modules.pipeline import Pipeline
from modules.ui import status_line, still_loading
from tests.test_readme import REPO

BUILTIN = REPO / "assets" / "mini" / "language_model"
QUESTION = [{"role": "user", "content": "What is in a picture of a red star?"}]
PICTURE_QUESTION = [{"role": "user", "content": "<|image|>\nWhat is in the picture?"}]


@pytest.fixture(scope="module")
def lm():
    """The built-in language model as the studio loads it, with a warmed fast decoder of one 128-token bucket (one
    compile) that each test switches on or off."""
    model = LanguageModel.load(str(BUILTIN), torch.device("cpu"), torch.float32, experts_implementation="grouped_mm")
    decoder = FastDecoder(model.model, FastDecodeSettings(buckets=(128,)))
    decoder.warm_up()
    assert decoder.state == "ready", decoder.state
    model.warmed = decoder
    return model


@pytest.fixture
def counted_steps(lm, monkeypatch):
    """Switch the fast path on; the returned list grows by one per compiled step run."""
    calls = []
    step = lm.warmed.step

    def counting(*args, **kwargs):
        calls.append(args)
        return step(*args, **kwargs)

    monkeypatch.setattr(lm.warmed, "step", counting)
    monkeypatch.setattr(lm, "fast", lm.warmed)
    return calls


def answer(lm, messages, settings, **kwargs) -> tuple[str, GenerationStats]:
    stats, text = GenerationStats(), ""
    for text in lm.stream(messages, settings, stats, **kwargs):
        pass
    return text, stats


def eager_answer(lm, messages, settings, **kwargs) -> tuple[str, GenerationStats]:
    fast, lm.fast = lm.fast, None
    try:
        return answer(lm, messages, settings, **kwargs)
    finally:
        lm.fast = fast


def picture_prefix(lm) -> torch.Tensor:
    """12 prefix embeddings (12, hidden) standing for a picture: rows of the model's own embedding table."""
    return lm.model.get_input_embeddings().weight[40:52].detach().clone()


@pytest.mark.parametrize("messages, with_picture", [(QUESTION, False), (PICTURE_QUESTION, True)])
def test_greedy_answers_and_expert_traces_match_the_eager_loop(lm, counted_steps, messages, with_picture):
    media = {"prefix_kind": "image", "prefix": picture_prefix(lm)} if with_picture else {}
    settings = GenerationSettings(max_new_tokens=40)
    eager_text, eager = eager_answer(lm, messages, settings, **media)
    fast_text, fast = answer(lm, messages, settings, **media)
    assert eager.answer_tokens >= 3 and counted_steps, "the answer was too short to test, or the fast path never ran"
    assert fast_text == eager_text and fast.tokens == eager.tokens
    assert fast.experts == eager.experts and len(fast.experts) == fast.answer_tokens
    assert all(len(layer) == 2 for token in fast.experts for layer in token)


def test_seeded_sampling_repeats_and_matches_the_eager_loop(lm, counted_steps):
    def sampled(seed: int) -> GenerationSettings:
        return GenerationSettings(temperature=2.0, top_p=1.0, seed=seed, max_new_tokens=30)

    first, _ = answer(lm, QUESTION, sampled(7))
    again, _ = answer(lm, QUESTION, sampled(7))
    eager, _ = eager_answer(lm, QUESTION, sampled(7))
    others = {answer(lm, QUESTION, sampled(seed))[0] for seed in range(8, 12)}
    assert counted_steps and first == again == eager
    assert others - {first}, "four other seeds all gave the same sampled answer"


def test_without_the_trace_the_answer_is_the_same_and_no_experts_are_kept(lm, counted_steps):
    traced, _ = answer(lm, QUESTION, GenerationSettings(max_new_tokens=40))
    untraced, stats = answer(lm, QUESTION, GenerationSettings(max_new_tokens=40, trace_experts=False))
    assert untraced == traced and stats.experts == [] and stats.answer_tokens > 0


def test_stop_ends_the_answer_within_one_step(lm, counted_steps):
    stop, stats, seen = threading.Event(), GenerationStats(), []
    for text in lm.stream(QUESTION, GenerationSettings(max_new_tokens=60), stats, stop=stop):
        seen.append(text)
        if len(seen) == 1:
            stop.set()
            steps_when_stopped = len(counted_steps)
    assert stats.stopped and stats.answer_tokens == 1 and len(seen) == 1
    assert len(counted_steps) - steps_when_stopped <= 1


def test_a_request_that_overflows_every_bucket_takes_the_eager_loop(lm, counted_steps):
    settings = GenerationSettings(max_new_tokens=127)                 # prompt + 127 > the 128-token bucket
    fast_text, fast = answer(lm, QUESTION, settings)
    eager_text, eager = eager_answer(lm, QUESTION, settings)
    assert not counted_steps and fast_text == eager_text and fast.experts == eager.experts
    assert FastDecoder(lm.model).bucket_for(513) is None and FastDecoder(lm.model).bucket_for(300) == 512


def test_with_batching_on_a_lone_answer_takes_the_fast_path_and_a_busy_batch_takes_it_in(lm, counted_steps,
                                                                                        monkeypatch):
    batcher = BatchDecoder(lm.model, lm.recorder, lm.moe_layers, lm.lock)
    monkeypatch.setattr(lm, "batcher", batcher)
    settings = GenerationSettings(max_new_tokens=20)
    alone_text, _ = answer(lm, QUESTION, settings)
    assert counted_steps and batcher.steps == 0                  # nothing else decoding: the compiled step
    counted_steps.clear()
    monkeypatch.setattr(batcher, "idle", lambda: False)          # other answers decoding: it joins them
    batched_text, stats = answer(lm, QUESTION, settings)
    assert not counted_steps and batcher.steps > 0
    assert batched_text == alone_text and len(stats.experts) == stats.answer_tokens


def test_until_warm_the_eager_loop_answers(lm, monkeypatch):
    cold = FastDecoder(lm.model, FastDecodeSettings(buckets=(128,)))
    monkeypatch.setattr(cold, "step", lambda *args: pytest.fail("a cold decoder's step ran"))
    monkeypatch.setattr(lm, "fast", cold)
    text, stats = answer(lm, QUESTION, GenerationSettings(max_new_tokens=20))
    assert text and stats.answer_tokens > 0 and lm.fast_decode_state == "warming up"


def test_the_flag_and_the_variable_turn_it_off():
    assert load_config([], {}).fast_decode
    assert not load_config(["--no-fast-decode"], {}).fast_decode
    assert not load_config([], {"OMNIMOE_FAST_DECODE": "0"}).fast_decode
    assert load_config([], {"OMNIMOE_FAST_DECODE": "yes"}).fast_decode
    with pytest.raises(ConfigError, match="OMNIMOE_FAST_DECODE.*valid choices"):
        load_config([], {"OMNIMOE_FAST_DECODE": "maybe"})


@pytest.mark.parametrize("argv, starts", [(["--no-fast-decode"], False), ([], True)])
def test_the_pipeline_starts_the_warm_up_only_when_allowed(lm, monkeypatch, argv, starts):
    pipeline = Pipeline(load_config(argv, {}))
    started = []
    monkeypatch.setattr(pipeline.components, "status", lambda: {"language_model": "ready"})
    monkeypatch.setattr(pipeline.components, "get", lambda role: lm)
    monkeypatch.setattr(lm, "start_fast_decode", lambda: started.append(True))
    assert pipeline.start_fast_decode() is starts and bool(started) is starts


def test_the_header_says_when_the_fast_path_is_ready():
    class Studio:
        state = "warming up"

        def info(self):
            return {"device": "cpu"}

        def status(self):
            return {"language_model": "ready"}

        def fast_decode_state(self):
            return self.state

    studio = Studio()
    assert "fast decode" in status_line(studio) and "warming up" in status_line(studio) and still_loading(studio)
    studio.state = "ready"
    assert "fast decode <span class='ready'>● ready</span>" in status_line(studio) and not still_loading(studio)
    studio.state = "off"
    assert "fast decode" not in status_line(studio)
