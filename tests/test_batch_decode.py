"""Continuous batching on the built-in language model: answers through the shared batch are those of the one-request
loop (greedy and seeded sampling, requests joining at different steps), a stopped or abandoned request leaves within
one step without changing the others' answers, and each answer's expert trace is its own."""
import threading

import pytest
import torch

from modules.batch_decode import BatchSettings, DecodeRequest, Stopped
from modules.config import BATCH_CONCURRENCY, load_config
from modules.contracts import GenerationSettings
from modules.language_model import GenerationStats, LanguageModel, TokenPicker
from modules.pipeline import Pipeline
from tests.test_readme import REPO

BUILTIN = REPO / "assets" / "mini" / "language_model"
QUESTIONS = ["Hello", "What is in a picture of a red star?", "Describe a blue square on a green field, in detail.",
             "什么是共享专家？"]
GREEDY = GenerationSettings(max_new_tokens=24)
SAMPLED = GenerationSettings(max_new_tokens=24, temperature=1.5, top_p=1.0, seed=1234)


def load() -> LanguageModel:
    return LanguageModel.load(str(BUILTIN), torch.device("cpu"), torch.float32, experts_implementation="grouped_mm")


@pytest.fixture(scope="module")
def alone():
    """The built-in model with its own token loop per answer (the reference)."""
    return load()


@pytest.fixture(scope="module")
def batched():
    model = load()
    model.start_batch_decode(BatchSettings(max_batch=8))
    return model


def answer(lm: LanguageModel, question: str, settings: GenerationSettings, stop=None, after=None):
    """(final text, stats); after(k) is called once the k-th text has streamed."""
    stats, text = GenerationStats(), ""
    for k, text in enumerate(lm.stream([{"role": "user", "content": question}], settings, stats, stop=stop), 1):
        if after is not None:
            after(k)
    return text, stats


def run_staggered(lm: LanguageModel, jobs: list[tuple[str, GenerationSettings]], stops=None):
    """Each job in its own thread; job k+1 starts once job k has streamed two texts, so they join the running
    batch at different steps. -> [(text, stats)] in job order."""
    results: list = [None] * len(jobs)
    started = [threading.Event() for _ in jobs]

    def run(k: int) -> None:
        def after(count: int) -> None:
            if count == 2 and k + 1 < len(jobs):
                started[k + 1].set()
        try:
            results[k] = answer(lm, *jobs[k], stop=(stops or {}).get(k), after=after)
        finally:
            if k + 1 < len(jobs):
                started[k + 1].set()          # a short answer still lets the next one start

    threads = []
    for k in range(len(jobs)):
        if k:
            started[k].wait(timeout=120)
        threads.append(threading.Thread(target=run, args=(k,)))
        threads[-1].start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def test_greedy_answers_in_a_batch_equal_the_same_answers_one_by_one(alone, batched):
    reference = [answer(alone, q, GREEDY) for q in QUESTIONS]
    steps_before = batched.batcher.steps
    together = run_staggered(batched, [(q, GREEDY) for q in QUESTIONS])
    assert batched.batcher.widest >= 3                  # they really shared forward passes
    tokens_decoded = sum(stats.answer_tokens for _, stats in together)
    assert batched.batcher.steps - steps_before < tokens_decoded
    for (want, want_stats), (got, got_stats) in zip(reference, together):
        assert got == want and got_stats.answer_tokens == want_stats.answer_tokens
        assert got_stats.experts == want_stats.experts   # the Inspector's trace: each answer its own experts
    assert len({str(stats.experts) for _, stats in together}) == len(QUESTIONS)


def test_expert_trace_names_the_experts_each_token_chose(batched):
    _, stats = run_staggered(batched, [("Hello", GREEDY), ("Name a shape.", GREEDY)])[0]
    layers, experts, k = batched.moe_layers, batched.num_experts, batched.recorder.top_k
    assert len(stats.experts) == stats.answer_tokens > 0
    for per_layer in stats.experts:
        assert len(per_layer) == len(layers)
        assert all(len(ids) == k and len(set(ids)) == k and set(ids) <= set(range(experts)) for ids in per_layer)


def test_a_seeded_sampled_answer_is_the_same_alone_and_in_a_batch(alone, batched):
    want, _ = answer(alone, QUESTIONS[2], SAMPLED)
    other_seed = GenerationSettings(max_new_tokens=24, temperature=1.5, top_p=1.0, seed=99)
    together = run_staggered(batched, [(QUESTIONS[0], other_seed), (QUESTIONS[1], GREEDY), (QUESTIONS[2], SAMPLED)])
    assert together[2][0] == want
    assert answer(alone, QUESTIONS[2], other_seed)[0] != want        # the seed matters: the check can fail


def test_stopping_one_request_leaves_the_others_answers_unchanged(alone, batched):
    reference = [answer(alone, q, GREEDY)[0] for q in QUESTIONS[1:3]]
    stop, stopped = threading.Event(), []

    def stop_after_three(k: int) -> None:
        if k == 3:
            stop.set()
    stopper = threading.Thread(target=lambda: stopped.append(
        answer(batched, "Hello", GenerationSettings(max_new_tokens=60), stop=stop, after=stop_after_three)))
    stopper.start()
    together = run_staggered(batched, [(QUESTIONS[2], GREEDY), (QUESTIONS[1], GREEDY)])
    stopper.join(timeout=300)
    _, stopped_stats = stopped[0]
    assert stopped_stats.stopped and stopped_stats.answer_tokens < 60
    assert [text for text, _ in together] == [reference[1], reference[0]]


def test_a_stop_takes_effect_at_the_next_step(batched):
    """The stop is set while token 3 is being chosen: no 4th token is picked, and the request takes part in no
    forward pass after the one already under way."""
    class StopAt:
        def __init__(self):
            self.flag = threading.Event()

        def is_set(self):
            return self.flag.is_set()

    stop = StopAt()
    request = DecodeRequest(embeds=_embeds(batched, "Hello"), pick=_greedy(batched), max_new_tokens=50,
                            eos=frozenset(), stop=stop)
    request.took = lambda token: stop.flag.set() if request.answered == 2 else None   # before the 3rd is counted
    got = []
    with pytest.raises(Stopped):
        for token, _ in batched.batcher.tokens(request):
            got.append(token)
    assert len(got) == 3 and request.forwards == 3


def test_closing_the_stream_removes_the_request_from_the_batch(batched):
    """A consumer that goes away (a disconnected client) ends its request within one step; a request running
    beside it answers as it would have anyway."""
    long = DecodeRequest(embeds=_embeds(batched, QUESTIONS[2]), pick=_greedy(batched), max_new_tokens=40,
                         eos=frozenset())
    left = DecodeRequest(embeds=_embeds(batched, "Hello"), pick=_greedy(batched), max_new_tokens=40, eos=frozenset())
    long_tokens: list[int] = []
    runner = threading.Thread(target=lambda: long_tokens.extend(t for t, _ in batched.batcher.tokens(long)))
    runner.start()
    stream = batched.batcher.tokens(left)
    for _ in range(3):
        next(stream)
    forwards_at_close = left.forwards
    stream.close()
    runner.join(timeout=300)
    assert left.forwards <= forwards_at_close + 1
    alone_long = DecodeRequest(embeds=_embeds(batched, QUESTIONS[2]), pick=_greedy(batched), max_new_tokens=40,
                               eos=frozenset())
    assert long_tokens == [t for t, _ in batched.batcher.tokens(alone_long)] and len(long_tokens) == 40


def _embeds(lm: LanguageModel, question: str) -> torch.Tensor:
    with torch.inference_mode():
        return lm.embed(lm.prompt_ids([{"role": "user", "content": question}], None, 0), None, None)


def _greedy(lm: LanguageModel) -> TokenPicker:
    return TokenPicker(lm.keeper, GenerationSettings(keep_language=False), None)


@pytest.mark.parametrize("argv, env, on, concurrency", [
    ([], {}, False, 1),
    (["--batch-decode"], {}, True, BATCH_CONCURRENCY),
    ([], {"OMNIMOE_BATCH_DECODE": "1"}, True, BATCH_CONCURRENCY),
    (["--batch-decode", "--concurrency", "3"], {}, True, 3),
])
def test_the_switch_and_the_concurrency_it_brings(argv, env, on, concurrency):
    config = load_config(argv, env)
    assert config.batch_decode is on and config.server.concurrency == concurrency


def test_the_pipeline_batches_the_built_in_model_only_when_asked(monkeypatch):
    fresh = load()
    for argv, starts in (([], False), (["--batch-decode"], True)):
        pipeline = Pipeline(load_config(argv, {}))
        monkeypatch.setattr(pipeline.components, "get", lambda role: fresh)
        monkeypatch.setattr(pipeline, "status", lambda: {"language_model": "ready"})
        assert pipeline.start_batch_decode() is starts and (fresh.batcher is not None) is starts
