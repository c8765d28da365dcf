"""The MoE language model wrapper on a tiny random DeepSeek-V3: streaming, Stop, expert traces, balancing bias."""
import threading

import pytest
import torch
from transformers import DeepseekV3ForCausalLM

from modules.contracts import GenerationSettings
from modules.language_model import GenerationStats, LanguageModel, sample_next
from modules.moe_trace import ExpertRecorder, update_balancing_bias
from modules.training.corpus import tokenizer_corpus
from modules.training.tokenizer import train_tokenizer
from tests.tiny_checkpoints import tiny_deepseek_v3_config


@pytest.fixture(scope="module")
def tiny_lm():
    tokenizer = train_tokenizer(tokenizer_corpus(0, 200), 400, 128)
    config = tiny_deepseek_v3_config(len(tokenizer), layers=3, context=128, bos=1, eos=2, pad=0)
    torch.manual_seed(0)
    model = DeepseekV3ForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight[2] = 0.0           # <eos> scores 0, below the best token: answers run to the cap
    return LanguageModel(model, tokenizer, torch.device("cpu"))


def test_stream_yields_a_growing_answer_and_records_experts_per_token(tiny_lm):
    stats = GenerationStats()
    texts = list(tiny_lm.stream([{"role": "user", "content": "hello"}], GenerationSettings(max_new_tokens=12), stats))
    assert len(texts) >= 2 and all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
    assert stats.answer_tokens == 12 and len(stats.experts) == 12
    assert tiny_lm.moe_layers == [1, 2]
    for per_token in stats.experts:
        assert len(per_token) == 2 and all(len(ids) == 2 and set(ids) <= {0, 1, 2, 3} for ids in per_token)
    assert stats.prompt_tokens > 2 and stats.ttft_s > 0 and stats.ms_per_token > 0


def test_stop_halts_generation_at_once(tiny_lm):
    """At most one more token after the stop. Counted in tokens, not in texts streamed: a random model's byte tokens
    may stream no text until a character is whole."""
    stop, stats, written_at_stop = threading.Event(), GenerationStats(), None
    for k, _ in enumerate(tiny_lm.stream([{"role": "user", "content": "hello"}],
                                         GenerationSettings(max_new_tokens=50), stats, stop=stop)):
        if k == 2:
            stop.set()
            written_at_stop = len(stats.tokens)
    assert stats.stopped and written_at_stop is not None and stats.answer_tokens <= written_at_stop + 1


def test_an_answer_cut_inside_a_character_still_streams_its_last_tokens(tiny_lm, monkeypatch):
    """The token cap can fall between the bytes of one character ("一" is three byte tokens here): the words before
    it must not be lost, and the last text streamed is the whole answer as written."""
    tokenizer = tiny_lm.tokenizer
    written = tokenizer.encode("ok", add_special_tokens=False) + [tokenizer.convert_tokens_to_ids("ä")]   # ä: 0xE4
    script = iter(written)
    monkeypatch.setattr("modules.language_model.sample_next", lambda logits, settings, generator: next(script))
    stats = GenerationStats()
    texts = list(tiny_lm.stream([{"role": "user", "content": "hello"}], GenerationSettings(max_new_tokens=3), stats))
    assert texts[-1] == "ok\ufffd" == tokenizer.decode(written) and stats.answer_tokens == 3


def test_media_prefix_changes_the_answer(tiny_lm):
    hidden = tiny_lm.model.config.hidden_size
    answers = []
    for seed in (0, 1):
        prefix = torch.randn(4, hidden, generator=torch.Generator().manual_seed(seed)) * 5
        answers.append(list(tiny_lm.stream([{"role": "user", "content": "<|image|>describe"}],
                                           GenerationSettings(max_new_tokens=8), GenerationStats(), "image",
                                           prefix))[-1])
    assert answers[0] != answers[1]


def test_seeded_sampling_repeats_and_greedy_takes_the_top_token():
    logits = torch.tensor([0.1, 3.0, 0.2, 2.9])
    assert sample_next(logits, GenerationSettings(temperature=0), None) == 1
    draw = lambda: [sample_next(logits, GenerationSettings(temperature=1.0, top_p=1.0),
                                torch.Generator().manual_seed(5)) for _ in range(3)]
    assert draw() == draw()
    assert sample_next(logits, GenerationSettings(temperature=1.0, top_p=0.01), torch.Generator()) == 1


def test_parameter_counts_separate_total_and_active(tiny_lm):
    total, active = tiny_lm.parameter_counts()
    experts = sum(p.numel() for i in tiny_lm.moe_layers for p in tiny_lm.model.model.layers[i].mlp.experts.parameters())
    assert total == sum(p.numel() for p in tiny_lm.model.parameters())
    assert active == total - experts // 2                     # 2 of 4 routed experts active


def test_balancing_bias_rises_for_idle_experts_and_falls_for_busy_ones(tiny_lm):
    recorder = ExpertRecorder(tiny_lm.model)
    gate = recorder.gates[1]
    before = gate.e_score_correction_bias.clone()
    recorder.calls[1] = [torch.tensor([[0, 1]] * 10)]         # experts 0 and 1 took every token
    recorder.calls[2] = [torch.tensor([[2, 3]] * 10)]
    update_balancing_bias(recorder, 4, rate=0.01)
    change = gate.e_score_correction_bias - before
    assert change[0] < 0 and change[1] < 0 and change[2] > 0 and change[3] > 0
    gate.e_score_correction_bias.copy_(before)


def test_balancing_counts_only_the_tokens_the_mask_keeps(tiny_lm):
    """Padding is routed too; with the attention mask as token_mask it no longer moves the biases."""
    recorder = ExpertRecorder(tiny_lm.model)
    gate = recorder.gates[1]
    before = gate.e_score_correction_bias.clone()
    real, padding = [[2, 3]] * 4, [[0, 1]] * 12                # padding alone would make 0 and 1 look busy
    recorder.calls[1] = [torch.tensor(real + padding)]
    recorder.calls[2] = [torch.tensor(real + padding)]
    mask = torch.tensor([True] * 4 + [False] * 12)
    assert recorder.load(4, mask)[0].tolist() == [0, 0, 4, 4]
    update_balancing_bias(recorder, 4, rate=0.01, token_mask=mask)
    change = gate.e_score_correction_bias - before
    assert change[0] > 0 and change[1] > 0 and change[2] < 0 and change[3] < 0
    gate.e_score_correction_bias.copy_(before)
