"""The cold-start stage: traces written from each multi-step item's own content that its check accepts, in its
language, from train items only; supervised steps on a tiny DeepSeek-V3 that make a trace and its </think> likelier;
and `mini train --stage coldstart --quick` on a copy of the built-in suite, logged and resumable."""
import dataclasses
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, DeepseekV3ForCausalLM

from modules.reasoning import THINK_END, THINKING_OPENER
from modules.training import train_coldstart as coldstart
from modules.training.corpus import split_of
from modules.training.grpo import reply_log_probs
from modules.training.grpo_rewards import score_reply
from modules.training.suite_config import ColdStartStage, RewardWeights, SuiteConfig, ThinkStage
from modules.training.think_prompts import Perception, question_prompt
from modules.training.think_traces import trace_for
from modules.world.multistep import KINDS, multistep_items, split_of_item
from modules.world.multistep_answers import Number

from tests.tiny_checkpoints import tiny_deepseek_v3_config

ROOT = Path(__file__).resolve().parents[1]
FORMS = {form for forms in KINDS.values() for form in forms}


@pytest.fixture(scope="module")
def mini_tokenizer():
    return AutoTokenizer.from_pretrained(str(ROOT / "assets" / "mini" / "language_model"))


def items_of_every_kind(lang: str, per_kind: int = 40, seed: int = 0):
    return [item for kind in KINDS for item in multistep_items("train", per_kind, seed, lang=lang, kinds=(kind,))]


# ---- traces -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_trace_earns_every_reward_of_the_think_stage(lang):
    """Each form, en and zh: the reply the trace teaches is well formed, its answer passes the item's check, and
    all of it (thinking included) is in the question's language, as the think stage's rewards judge it."""
    items = items_of_every_kind(lang)
    assert {item.form for item in items} == FORMS
    for n, item in enumerate(items):
        trace = trace_for(item, random.Random(n))
        scored = score_reply(THINKING_OPENER + trace.reply(), item.check, lang, RewardWeights())
        assert (scored.formatted, scored.correct, scored.in_language) == (True, True, True), (item.form,
                                                                                              trace.reply())
        assert THINK_END not in trace.thinking and item.check(trace.answer)


def test_a_wrong_fact_would_fail_the_check():
    """The check is not met by any answer: the trace of an item with a different count says that count, which the
    first item's check refuses."""
    counts = [i for i in multistep_items("train", 80, 3, lang="en", kinds=("count with a condition",))]
    a, b = next((a, b) for a in counts for b in counts
                if a.form == b.form and a.expected.value != b.expected.value)
    assert not a.check(trace_for(b, random.Random(0)).answer)


def test_a_trace_is_written_from_the_item_s_content_not_from_its_question():
    for item in items_of_every_kind("en", 6) + items_of_every_kind("zh", 6):
        reworded = dataclasses.replace(item, question="?")
        assert trace_for(reworded, random.Random(5)) == trace_for(item, random.Random(5))
    counted = next(i for i in multistep_items("train", 40, 1, lang="en", kinds=("count with a condition",))
                   if len(i.scenes[0].objects) > 1)
    thinking = trace_for(counted, random.Random(0)).thinking
    for obj in counted.scenes[0].objects:                       # every object of the picture is looked at
        assert f"{obj.color} {obj.shape}" in thinking
    assert f"{counted.expected.value}" in thinking              # and counted


def test_traces_come_in_several_phrasings():
    for item in items_of_every_kind("en", 2) + items_of_every_kind("zh", 2):
        if item.form == "what changed":                          # one phrasing of the change itself
            continue
        written = {trace_for(item, random.Random(seed)).reply() for seed in range(12)}
        assert len(written) >= 2, item.form


def test_traces_fit_within_the_think_stage_s_reply_limit(mini_tokenizer):
    """A trace cut at the think stage's max_reply_tokens would never close </think>."""
    limit = ThinkStage().max_reply_tokens
    for lang in ("en", "zh"):
        for n, item in enumerate(items_of_every_kind(lang, 60, seed=4)):
            ids = mini_tokenizer.encode(trace_for(item, random.Random(n)).reply(), add_special_tokens=False)
            assert len(ids) + 1 <= limit, (item.form, len(ids))


def test_only_train_items_are_traced():
    validation = multistep_items("validation", 5, 0)
    with pytest.raises(ValueError, match="train items only"):
        trace_for(validation[0], random.Random(0))
    suite = dataclasses.replace(SuiteConfig(), coldstart=ColdStartStage(train_questions=300, one_step_scenes=50,
                                                                        one_step_sounds=10))
    data = coldstart.ColdStartData.of(suite)
    assert {item.split for item in data.items} == {"train"}
    assert {split_of_item(item.key) for item in data.items} == {"train"}
    held = {i.key for split in ("validation", "test") for i in multistep_items(split, 300, 0)}
    assert not held & {item.key for item in data.items}
    assert data.items == multistep_items("train", 300, suite.seed, wordings="train")   # trained wordings only
    assert {split_of(scene.content_key()) for scene in data.scenes} == {"train"}


# ---- rows and supervised steps on a tiny model -------------------------------------------------------------------

class RandomPerception(Perception):
    """The studio's prompts with random prefixes in place of the encoders' (hidden 64, the tiny model's)."""

    def __init__(self):
        super().__init__(None, None, None)
        self.generator = torch.Generator().manual_seed(0)

    def media_of(self, scenes, sounds):
        return {"image": [torch.randn(17, 64, generator=self.generator) for _ in scenes],
                "audio": [torch.randn(52, 64, generator=self.generator) for _ in sounds]}


def tiny_model(tokenizer) -> DeepseekV3ForCausalLM:
    torch.manual_seed(0)
    return DeepseekV3ForCausalLM(tiny_deepseek_v3_config(len(tokenizer), layers=2, context=512,
                                                         bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id,
                                                         pad=tokenizer.pad_token_id))


def test_a_trace_row_is_the_think_stage_s_prompt_and_a_one_step_row_the_plain_one(mini_tokenizer):
    perception = RandomPerception()
    item = next(i for i in multistep_items("train", 20, 0, lang="zh") if i.scenes)
    row = coldstart.trace_row(mini_tokenizer, perception, item, random.Random(0))
    again = perception.prompt(mini_tokenizer, item, thinking=True)
    assert row.prompt.ids.tolist() == again.ids.tolist()                 # what GRPO samples after
    opener = mini_tokenizer.encode(THINKING_OPENER, add_special_tokens=False)
    assert row.prompt.ids.tolist()[-len(opener):] == opener
    assert mini_tokenizer.decode(row.target, skip_special_tokens=True) == trace_for(item, random.Random(0)).reply()
    assert row.target[-1] == mini_tokenizer.eos_token_id
    turn = coldstart.OneStepTurn("How many circles are there?", "Two.", scenes=item.scenes[:1])
    plain = coldstart.one_step_row(mini_tokenizer, perception, turn)
    studio = question_prompt(mini_tokenizer, turn.question, perception.media_of(item.scenes[:1], ()), False)
    assert plain.prompt.ids.tolist() == studio.ids.tolist()
    assert plain.prompt.ids.tolist()[-len(opener):] != opener


def target_log_probs(model, row) -> torch.Tensor:
    with torch.no_grad():
        return reply_log_probs(model.eval(), row.prompt, torch.tensor([row.target]))[0]      # (L,)


def think_end_positions(tokenizer, row) -> list[int]:
    """Where the reply's </think> tokens are, among its target ids."""
    end = tokenizer.encode("\n" + THINK_END, add_special_tokens=False)
    at = next(i for i in range(len(row.target)) if row.target[i:i + len(end)] == end)
    return list(range(at, at + len(end)))


def trained_rows(tokenizer, negate: bool, monkeypatch):
    if negate:                                                  # the loss with its sign flipped
        loss = coldstart.sft_loss
        monkeypatch.setattr(coldstart, "sft_loss", lambda model, batch: -loss(model, batch))
    perception = RandomPerception()
    items = [i for i in multistep_items("train", 12, 2) if isinstance(i.expected, Number)][:3]
    rows = [coldstart.trace_row(tokenizer, perception, item, random.Random(n)) for n, item in enumerate(items)]
    model = tiny_model(tokenizer)
    before = [target_log_probs(model, row) for row in rows]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    markers = {tokenizer.convert_tokens_to_ids(m) for m in ("<|image|>", "<|audio|>")}
    for _ in range(8):
        _, batch = coldstart.sft_step(model, optimizer, rows, markers, 1.0)
    after = [target_log_probs(model, row) for row in rows]
    return rows, before, after, batch


def test_supervised_steps_make_the_trace_and_its_closing_tag_likelier(mini_tokenizer, monkeypatch):
    rows, before, after, batch = trained_rows(mini_tokenizer, False, monkeypatch)
    for row, b, a in zip(rows, before, after):
        assert a.sum() > b.sum() + 5, (b.sum(), a.sum())                 # the whole reply
        ends = think_end_positions(mini_tokenizer, row)
        assert a[ends].sum() > b[ends].sum() + 1                        # </think> itself
    assert batch.attention.sum() == sum(len(r.prompt.ids) + len(r.target) for r in rows)
    markers = {mini_tokenizer.convert_tokens_to_ids(m) for m in ("<|image|>", "<|audio|>")}
    prefix_places = sum(int(t) in markers for r in rows for t in r.prompt.ids)
    assert batch.counted.sum() == batch.attention.sum() - prefix_places   # the bias counts text alone


def test_with_the_loss_sign_flipped_the_trace_would_grow_rarer(mini_tokenizer, monkeypatch):
    rows, before, after, _ = trained_rows(mini_tokenizer, True, monkeypatch)
    assert all(a.sum() < b.sum() for a, b in zip(after, before))


# ---- the stage through the command line ------------------------------------------------------------------------

def test_the_coldstart_stage_is_opt_in_and_named_before_think():
    from modules.training import mini
    assert "coldstart" not in mini.STAGES and mini.OPT_IN_STAGES.index("coldstart") < mini.OPT_IN_STAGES.index("think")
    assert mini._parse(["train", "--stage", "coldstart", "--stage", "think"]).stage == ["coldstart", "think"]
    assert mini.TRAINERS["coldstart"] == ("train_coldstart", "train_coldstart")


@pytest.fixture(scope="module")
def cold_suite(tmp_path_factory) -> Path:
    """A copy of the built-in suite after `mini train --stage coldstart --quick` (two steps of four rows)."""
    from modules.training import mini

    out = tmp_path_factory.mktemp("coldstart-suite")
    for role in ("language_model", "bridge", "image_encoder", "audio_encoder"):
        shutil.copytree(ROOT / "assets" / "mini" / role, out / role)
    tokenizer = out / ".work" / "tokenizer"
    tokenizer.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(ROOT / "assets" / "mini" / "language_model" / name, tokenizer / name)
    assert mini.main(["train", "--stage", "coldstart", "--quick", "--out", str(out)]) == 0
    return out


def log_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / ".work" / "coldstart_log.jsonl").read_text().splitlines()]


MEASURES = {"closes_think", "multistep_thinking", "multistep_plain", "one_step_plain"}


def test_the_quick_stage_measures_before_and_after_and_trains_the_language_model_alone(cold_suite):
    lines = log_lines(cold_suite)
    assert MEASURES <= set(lines[0]) and lines[0]["step"] == 0
    assert [line["step"] for line in lines[1:-1]] == [1, 2] and all(line["loss"] > 0 for line in lines[1:-1])
    assert MEASURES <= set(lines[-1]) and lines[-1]["after"]
    assert all(0 <= lines[-1][name] <= 1 for name in MEASURES)
    shipped = ROOT / "assets" / "mini"
    for role, trains in (("language_model", True), ("bridge", False), ("image_encoder", False)):
        name = "open_clip_model.safetensors" if role == "image_encoder" else "model.safetensors"
        before, after = load_file(shipped / role / name), load_file(cold_suite / role / name)
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert bool(changed) == trains, (role, changed[:5])
    shipped_lm = load_file(shipped / "language_model" / "model.safetensors")
    trained_lm = load_file(cold_suite / "language_model" / "model.safetensors")
    biases = [k for k in shipped_lm if k.endswith("e_score_correction_bias")]
    assert biases and any(not torch.equal(shipped_lm[k], trained_lm[k]) for k in biases)   # balancing kept on


def test_the_stage_resumes_from_its_checkpoint(cold_suite, capsys):
    """Asked for one step more, the stage starts from its step-2 checkpoint: only step 3 is trained and logged,
    with no second measure before it."""
    from modules.training import mini
    suite = mini.suite_for(mini._parse(["train", "--quick", "--out", str(cold_suite)]))
    suite = dataclasses.replace(suite, coldstart=dataclasses.replace(suite.coldstart, steps=3))
    mini.train_stages(suite, ["coldstart"])
    assert "resuming coldstart at step 2" in capsys.readouterr().out
    lines = log_lines(cold_suite)
    assert [line["step"] for line in lines if "loss" in line] == [1, 2, 3]
    assert sum("after" not in line and MEASURES <= set(line) for line in lines) == 1
