"""The think stage: its rule-based rewards, group advantages, a GRPO loop that learns what it is rewarded for on a
tiny DeepSeek-V3, the prompt it trains on (the studio's, thinking opened), and `mini train --stage think --quick`
end to end on a copy of the built-in suite, with its log plotted."""
import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import DeepseekV3ForCausalLM

from modules.reasoning import THINKING_OPENER
from modules.training.evaluate_thinking import Answerer, multistep_accuracy
from modules.training.grpo import GrpoSettings, Judged, Prompt, grpo_loss, grpo_step, group_advantages, reply_log_probs
from modules.training.grpo_rewards import score_reply
from modules.training.suite_config import RewardWeights
from modules.world.multistep import multistep_items
from modules.world.multistep_answers import Number

from tests.tiny_checkpoints import tiny_deepseek_v3_config

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = RewardWeights(correct=1.0, format=0.5, language=0.25)


def count_item(lang: str):
    """A multi-step question whose answer is a number (of shapes or beeps)."""
    return next(i for i in multistep_items("train", 40, 0, lang=lang) if isinstance(i.expected, Number))


def score(reply: str, item):
    return score_reply(reply, item.check, item.language, WEIGHTS)


# ---- rewards ----------------------------------------------------------------------------------------------------

def test_a_right_answer_after_thinking_earns_every_reward():
    item = count_item("en")
    n = item.expected.value
    right = score(f"<think>\nI count the shapes one by one.</think>There are {n}.", item)
    assert (right.correct, right.formatted, right.in_language, right.reward) == (True, True, True, 1.75)
    chinese = count_item("zh")
    said = score(f"<think>\n我一个一个地数。</think>{chinese.answer}", chinese)
    assert (said.correct, said.formatted, said.in_language) == (True, True, True)


def test_a_wrong_answer_keeps_only_the_format_and_language_rewards():
    item = count_item("en")
    wrong = score(f"<think>\nLet me count.</think>There are {item.expected.value + 1}.", item)
    assert (wrong.correct, wrong.formatted, wrong.in_language, wrong.reward) == (False, True, True, 0.75)
    hedged = score(f"<think>\nhmm</think>{item.expected.value} or {item.expected.value + 1}", item)
    assert not hedged.correct


@pytest.mark.parametrize("reply", [
    "{n}",                                          # no thinking at all
    "<think>\nthe answer is {n}",                   # thinking never closed: no answer to judge
    "<think>\nthe answer is {n}</think>",           # closed, with nothing after it
    "<think>\nhmm</think>{n}</think>{n}",           # two closing tags
    "<think>\nhmm<think>again</think>{n}",          # thinking opened twice
])
def test_a_malformed_reply_gets_neither_format_nor_correctness(reply):
    item = count_item("en")
    scored = score(reply.format(n=item.expected.value), item)
    assert not scored.formatted and not scored.correct
    assert scored.reward <= WEIGHTS.language


def test_a_reply_that_leaves_the_question_s_language_loses_the_language_reward():
    english, chinese = count_item("en"), count_item("zh")
    mixed = score(f"<think>\n数一数: one, two.</think>{english.expected.value}", english)
    assert mixed.correct and mixed.formatted and not mixed.in_language
    assert mixed.reward == WEIGHTS.correct + WEIGHTS.format
    english_thoughts = score(f"<think>\nI count them.</think>{chinese.answer}", chinese)
    assert english_thoughts.correct and not english_thoughts.in_language
    digits_only = score(f"<think>\n{chinese.expected.value}</think>{chinese.expected.value}", chinese)
    assert digits_only.correct and not digits_only.in_language      # nothing of it is Chinese
    names = score(f"<think>\n用 OmniMoE 数一数。</think>{chinese.answer}", chinese)
    assert names.in_language                                          # the studio's own name stays Chinese


def test_rewards_rank_right_above_wrong_above_malformed():
    item = count_item("en")
    n = item.expected.value
    right, wrong, malformed = (score(r, item).reward for r in (
        f"<think>\ncount</think>{n}", f"<think>\ncount</think>{n + 2}", f"{n}"))
    assert right > wrong > malformed


# ---- advantages and loss -----------------------------------------------------------------------------------------

def test_group_advantages_are_zero_when_every_reply_scored_alike():
    assert torch.equal(group_advantages(torch.full((3, 8), 0.75)), torch.zeros(3, 8))


def test_group_advantages_favour_the_better_replies_of_each_group():
    rewards = torch.tensor([[1.75, 0.75, 0.75, 0.0], [0.0, 0.0, 0.5, 0.0]])
    advantages = group_advantages(rewards)
    assert advantages[0, 0] > 0 and advantages[0, 3] < advantages[0, 1] < 0
    assert advantages[1, 2] > 0 and (advantages[1, [0, 1, 3]] < 0).all()
    assert torch.allclose(advantages.sum(dim=1), torch.zeros(2), atol=1e-5)
    assert torch.allclose(advantages.std(dim=1, unbiased=False), torch.ones(2), atol=1e-3)


def test_the_kl_term_is_zero_where_the_policy_is_the_reference():
    logp = torch.log(torch.tensor([[0.5, 0.25, 0.1]]))
    loss, kl = grpo_loss(logp, logp, logp, torch.tensor([0.0]), torch.ones(1, 3), 0.2, 0.04)
    assert kl == 0 and loss == 0
    _, drifted = grpo_loss(logp, logp, logp + 0.3, torch.tensor([0.0]), torch.ones(1, 3), 0.2, 0.04)
    assert drifted > 0


# ---- the loop on a tiny model --------------------------------------------------------------------------------------

def tiny_policy() -> DeepseekV3ForCausalLM:
    torch.manual_seed(0)
    return DeepseekV3ForCausalLM(tiny_deepseek_v3_config(12, layers=2, context=64, bos=1, eos=2, pad=0))


def first_token_probability(model, prompt: Prompt, token: int) -> float:
    with torch.no_grad():
        return reply_log_probs(model, prompt, torch.tensor([[token]])).exp().item()


def test_grpo_steps_raise_the_probability_of_the_rewarded_first_token():
    """Reward 1 for a reply that starts with a given token: a few GRPO steps make that token likelier (with the
    loss's sign flipped they would make it rarer), and the first step's KL to the reference is zero."""
    policy = tiny_policy()
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    prompt = Prompt(torch.tensor([1, 5, 6, 7]))
    target = 9
    judge = lambda item, ids: Judged(float(ids[:1] == [target]), {"hit": float(ids[:1] == [target])})
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    settings = GrpoSettings(group_size=16, max_reply_tokens=3, kl_weight=0.01)
    generator = torch.Generator().manual_seed(0)
    before = first_token_probability(policy, prompt, target)
    logs = [grpo_step(policy, reference, optimizer, [prompt], judge, settings, [2], 0, generator) for _ in range(6)]
    after = first_token_probability(policy, prompt, target)
    assert after > 2 * before, (before, after, logs)
    assert logs[0]["kl"] == pytest.approx(0.0, abs=1e-6) and logs[-1]["kl"] > 1e-4
    assert first_token_probability(reference, prompt, target) == pytest.approx(before)   # the reference stays


def routed_share(model, ids: list[int], expert: int) -> float:
    """Share of the tokens of `ids` that the MoE layers send to `expert` (among their top-k)."""
    from modules.moe_trace import ExpertRecorder
    recorder = ExpertRecorder(model)
    with recorder, torch.no_grad():
        model(input_ids=torch.tensor([ids]))
    chosen = torch.cat([torch.cat(calls) for calls in recorder.calls.values()])          # (tokens * layers, k)
    return (chosen == expert).any(dim=-1).float().mean().item()


def skewed_policy() -> DeepseekV3ForCausalLM:
    """The tiny policy with every router's balancing bias set so that expert 0 takes every token."""
    policy = tiny_policy()
    from modules.moe_trace import moe_gates
    for gate in moe_gates(policy).values():
        gate.e_score_correction_bias[0] = 1.0
    return policy


def test_grpo_updates_even_out_the_experts_the_replies_crowd():
    """With the balancing bias on, a few GRPO steps move the routers away from an expert that takes every token
    (as the language stages do); with it off the biases stay as they were."""
    from modules.moe_trace import moe_gates
    prompt, judge = Prompt(torch.tensor([1, 5, 6, 7])), lambda item, ids: Judged(float(ids[:1] == [9]))
    text = [1, 5, 6, 7, 8, 9, 10, 11, 3, 4]
    shares = {}
    for rate in (0.0, 0.15):
        policy = skewed_policy()
        assert routed_share(policy, text, 0) == 1.0
        reference = copy.deepcopy(policy).eval().requires_grad_(False)
        optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3)
        settings = GrpoSettings(group_size=4, max_reply_tokens=3, bias_update_rate=rate)
        generator = torch.Generator().manual_seed(0)
        for _ in range(8):
            grpo_step(policy, reference, optimizer, [prompt], judge, settings, [2], 0, generator)
        shares[rate] = routed_share(policy, text, 0)
        biases = torch.stack([g.e_score_correction_bias for g in moe_gates(policy).values()])   # (layers, E)
        if rate == 0:
            assert torch.equal(biases, torch.stack([g.e_score_correction_bias
                                                    for g in moe_gates(reference).values()]))
        else:
            assert (biases[:, 0] < 1.0).all() and (biases[:, 1:] > 0).any()
    assert shares[0.0] == 1.0 and shares[0.15] < 1.0, (shares, biases)


def test_only_the_replies_own_tokens_move_the_balancing_bias():
    """The tokens counted are each reply's (its end token included), never the prompt's nor the padding."""
    from modules.training.grpo import Group, reply_token_mask
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])                               # (G, L)
    group = Group(Prompt(torch.tensor([1, 5, 6])), torch.zeros(2, 3, dtype=torch.long), mask, torch.zeros(2),
                  torch.zeros(2, 3), [])
    counted = reply_token_mask([group, group]).view(2, 2, 6)                              # (groups, G, P + L)
    assert not counted[..., :3].any()
    assert torch.equal(counted[..., 3:], mask.bool().expand(2, 2, 3))


# ---- resuming the stage ------------------------------------------------------------------------------------------

def tiny_run(policy, stage):
    """The think stage's run on the tiny policy: text prompts, a reward for a reply that starts with token 9."""
    from modules.training.train_thinking import ThinkRun
    prompts = [Prompt(torch.tensor([1, 5, 6, 7])), Prompt(torch.tensor([1, 8, 6])), Prompt(torch.tensor([1, 7, 7]))]
    judge = lambda item, ids: Judged(float(ids[:1] == [9]), {"accuracy": float(ids[:1] == [9])})
    return ThinkRun.starting(policy, stage, 0, judge, [2], 0, questions=prompts, prompt=lambda p: p,
                             heldout=lambda: first_token_probability(policy, prompts[0], 9))


def think_log(work: Path) -> list[dict]:
    return [json.loads(line) for line in (work / "think_log.jsonl").read_text().splitlines()]


def test_a_stopped_think_stage_resumes_where_its_checkpoint_left_off(tmp_path, monkeypatch, capsys):
    """Stopped during step 4 (its checkpoint at step 2, step 3 already logged), the stage started again goes on
    from step 2, even from a language model already trained further: the same weights, biases and log as a run that
    was never stopped, each step logged once, the curves going on from where they were."""
    from modules.training import train_thinking
    from modules.training.suite_config import ThinkStage
    from modules.training.think_plot import points, read_log
    stage = ThinkStage(steps=4, questions_per_step=2, group_size=4, max_reply_tokens=3, lr=3e-3, eval_every=2,
                       checkpoint_every=2, bias_update_rate=0.05)
    whole = tiny_policy()
    train_thinking.run_steps(tiny_run(whole, stage), stage, tmp_path / "whole")

    step = train_thinking.grpo_step
    calls = []

    def stopped_at_step_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt("stopped")
        return step(*args, **kwargs)

    monkeypatch.setattr(train_thinking, "grpo_step", stopped_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train_thinking.run_steps(tiny_run(tiny_policy(), stage), stage, tmp_path / "stopped")
    assert [line["step"] for line in think_log(tmp_path / "stopped")] == [0, 1, 2, 3]
    monkeypatch.setattr(train_thinking, "grpo_step", step)
    again = copy.deepcopy(whole)           # the saved language model may be a trained one by now
    train_thinking.run_steps(tiny_run(again, stage), stage, tmp_path / "stopped")
    assert "resuming think at step 2" in capsys.readouterr().out

    for name, value in whole.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    resumed, straight = think_log(tmp_path / "stopped"), think_log(tmp_path / "whole")
    assert [line["step"] for line in resumed] == [0, 1, 2, 3, 4]
    drop = lambda line: {k: v for k, v in line.items() if k != "seconds"}
    assert [drop(line) for line in resumed] == [drop(line) for line in straight]
    assert [s for s, _ in points(read_log(tmp_path / "stopped" / "think_log.jsonl"), "reward")] == [1, 2, 3, 4]


# ---- prompts and eval ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mini_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(ROOT / "assets" / "mini" / "language_model"))


def test_the_thinking_prompt_is_the_studio_s_prompt_opened_with_think(mini_tokenizer):
    """With one picture the prompt's ids are those the studio's LanguageModel.prompt_ids makes, and thinking only
    adds the opener the studio's tags mode sends."""
    from modules.language_model import LanguageModel
    from modules.training.think_prompts import question_prompt

    prefix = torch.randn(17, 8)                                                            # (tokens, H)
    plain = question_prompt(mini_tokenizer, "How many circles?", {"image": [prefix]}, thinking=False)
    lm = LanguageModel.__new__(LanguageModel)
    lm.tokenizer = mini_tokenizer
    studio = lm.prompt_ids([{"role": "user", "content": "<|image|>How many circles?"}], "image", 17)
    assert plain.ids.tolist() == studio
    thinking = question_prompt(mini_tokenizer, "How many circles?", {"image": [prefix]}, thinking=True)
    opener = mini_tokenizer.encode(THINKING_OPENER, add_special_tokens=False)
    assert thinking.ids.tolist() == studio + opener
    two = question_prompt(mini_tokenizer, "What changed?", {"image": [prefix, prefix + 1]}, thinking=True)
    marker = mini_tokenizer.convert_tokens_to_ids("<|image|>")
    assert (two.ids == marker).sum() == 34 and torch.equal(two.prefixes[marker][1], prefix + 1)


class ScriptedAnswerer(Answerer):
    """The eval's answerer with a scripted reply in place of the model's: right after thinking, or right with no
    thinking, as told."""

    def __init__(self, tokenizer, thinking: bool, right_when_thinking: bool):
        super().__init__(None, tokenizer, None, thinking)
        self.right_when_thinking = right_when_thinking
        self.perception = self

    def prompt(self, tokenizer, item, thinking):
        return Prompt(torch.tensor([1]), {}, item)

    def reply(self, prompt) -> str:
        item = prompt.item
        wrong = Number(item.expected.value + 1).say(item.language)
        if self.thinking:
            return f"{THINKING_OPENER}{wrong}?</think>{item.answer if self.right_when_thinking else wrong}"
        return wrong if self.right_when_thinking else item.answer


def test_the_eval_judges_the_answer_after_the_thinking(mini_tokenizer):
    items = [i for i in multistep_items("test", 30, 7, lang="en", wordings="heldout") if isinstance(i.expected, Number)]
    assert multistep_accuracy(ScriptedAnswerer(mini_tokenizer, True, True), items) == 1.0
    assert multistep_accuracy(ScriptedAnswerer(mini_tokenizer, False, True), items) == 0.0
    assert multistep_accuracy(ScriptedAnswerer(mini_tokenizer, True, False), items) == 0.0


# ---- the stage end to end ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def thought_suite(tmp_path_factory) -> Path:
    """A copy of the built-in suite (what the think stage reads) after `mini train --stage think --quick`."""
    from modules.training import mini

    out = tmp_path_factory.mktemp("think-suite")
    for role in ("language_model", "bridge", "image_encoder", "audio_encoder"):
        shutil.copytree(ROOT / "assets" / "mini" / role, out / role)
    tokenizer = out / ".work" / "tokenizer"
    tokenizer.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(ROOT / "assets" / "mini" / "language_model" / name, tokenizer / name)
    assert mini.main(["train", "--stage", "think", "--quick", "--out", str(out)]) == 0
    return out


def test_the_think_stage_is_opt_in():
    from modules.training import mini
    assert "think" not in mini.STAGES and "think" in mini.OPT_IN_STAGES
    assert mini._parse(["train", "--stage", "think"]).stage == ["think"]
    with pytest.raises(SystemExit):
        mini._parse(["train", "--stage", "thinking"])


def test_the_quick_think_stage_trains_the_language_model_alone_and_logs_every_step(thought_suite):
    lines = [json.loads(line) for line in (thought_suite / ".work" / "think_log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1, 2]
    assert "heldout_accuracy" in lines[0] and "heldout_accuracy" in lines[-1]
    for line in lines[1:]:
        assert {"reward", "accuracy", "thinking_tokens", "format", "language", "kl"} <= set(line)
        assert 0 <= line["accuracy"] <= line["format"] <= 1 and line["thinking_tokens"] >= 0
    assert lines[1]["kl"] == pytest.approx(0.0, abs=1e-5)          # the policy starts as the reference
    shipped = ROOT / "assets" / "mini"
    for role, trains in (("language_model", True), ("bridge", False), ("image_encoder", False)):
        name = "open_clip_model.safetensors" if role == "image_encoder" else "model.safetensors"
        before, after = load_file(shipped / role / name), load_file(thought_suite / role / name)
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert bool(changed) == trains, (role, changed[:5])
    reloaded = DeepseekV3ForCausalLM.from_pretrained(str(thought_suite / "language_model"))
    assert reloaded.config.model_type == "deepseek_v3"


def test_the_log_plots_reward_accuracy_and_thinking_length(thought_suite, tmp_path):
    from modules.training.think_plot import CURVES, plot_log
    png = plot_log(thought_suite / ".work" / "think_log.jsonl", tmp_path / "curves.png")
    pixels = Image.open(png).convert("RGB")
    colours = {colour for _, colour in pixels.getcolors(maxcolors=1 << 20)}
    assert all(curve.color in colours for curve in CURVES)        # each curve drawn in its panel
    with pytest.raises(ValueError, match="holds no step"):
        empty = tmp_path / "empty.jsonl"
        empty.write_text("")
        plot_log(empty, tmp_path / "none.png")
