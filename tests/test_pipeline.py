"""The Pipeline in-process (no server): history trimmed to fit the context, drawing from the chat, and a role that
fails to load switching off only the features that need it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modules.config import load_config
from modules.contracts import FeatureUnavailable, GenerationSettings
from tests.e2e_server import skip_unless_models, studio_argv, world_picture

TRIMMED = "left out to fit the model's context"
SHORT = GenerationSettings(max_new_tokens=48)


@pytest.fixture(scope="module")
def config():
    skip_unless_models()
    return load_config(studio_argv(), environ={})


@pytest.fixture(scope="module")
def pipeline(config):
    from modules.pipeline import Pipeline

    return Pipeline(config)


def long_history(pairs: int) -> list[dict]:
    question = "what is a mixture of experts? please explain shared experts and routed experts in detail. " * 3
    answer = ("a mixture of experts has shared experts that see every token and routed experts of which only a "
              "few are active for each token, chosen by a router. ") * 3
    return [turn for _ in range(pairs) for turn in ({"role": "user", "content": question},
                                                    {"role": "assistant", "content": answer})]


def test_a_long_history_is_trimmed_with_a_notice_and_still_answered(pipeline):
    lm = pipeline.components.get("language_model")
    history = long_history(2)
    while lm.count_tokens(history) < 2 * lm.context_length:          # well past what fits
        history += long_history(4)

    events = list(pipeline.chat("hello", None, history, SHORT))
    final = events[-1]
    assert final.done and final.text.strip(), "no answer after a long history"
    assert any(TRIMMED in notice for notice in final.notices), final.notices
    trace = pipeline.last_trace()
    assert trace["prompt_tokens"] + SHORT.max_new_tokens <= lm.context_length, trace["prompt_tokens"]
    assert trace["answer_tokens"] > 0


def test_a_short_history_is_kept_whole(pipeline):
    final = list(pipeline.chat("hello", None, long_history(1), SHORT))[-1]
    assert final.done and not any(TRIMMED in notice for notice in final.notices), final.notices


def test_each_answer_carries_its_own_trace_while_another_one_runs(pipeline):
    """An API request reads its usage after its answer ends; by then another request may have run. Each final
    event keeps its own token counts, whatever last_trace says by then."""
    long_settings = GenerationSettings(max_new_tokens=12, temperature=0.0)
    first = pipeline.chat("hello", None, [], GenerationSettings(max_new_tokens=2, temperature=0.0))
    *_, first_final = first
    *_, second_final = pipeline.chat("what is a mixture of experts?", None, long_history(1), long_settings)
    assert first_final.trace["answer_tokens"] <= 2 < second_final.trace["prompt_tokens"]
    assert first_final.trace["prompt_tokens"] < second_final.trace["prompt_tokens"]
    assert pipeline.last_trace()["prompt_tokens"] == second_final.trace["prompt_tokens"]
    assert first_final.trace["question"] == "hello"


def test_a_drawing_request_in_the_chat_returns_pictures(pipeline):
    events = list(pipeline.chat("draw a red circle", None, [], SHORT))
    final = events[-1]
    assert final.done and final.route == "draw"
    assert final.pictures, "the chat answered a drawing request without a picture"
    picture = final.pictures[0]
    assert picture.prompt == "draw a red circle" and picture.image.width >= 32 and picture.image.height >= 32
    assert not any(event.pictures for event in events[:-1]), "pictures must come with the final event only"
    assert pipeline.last_trace()["route"] == "draw" and final.trace["pictures"][0]["prompt"] == "draw a red circle"


@pytest.fixture(scope="module")
def without_decoder(config, tmp_path_factory):
    """A Pipeline whose profile names a missing folder as its image decoder; every other role as the default."""
    from modules.pipeline import Pipeline

    folder = tmp_path_factory.mktemp("profile")
    missing = folder / "no-such-decoder"
    roles = {role: {"source": source.source, **({"kind": source.kind} if source.kind else {}), **source.options}
             for role, source in config.roles.items()}
    roles["image_decoder"] = {"source": str(missing)}
    path = folder / "profiles.yaml"
    path.write_text(yaml.safe_dump({"default_profile": "broken", "profiles": {"broken": roles}}), encoding="utf-8")
    return Pipeline(load_config(["--config", str(path)], environ={})), str(missing)


def test_a_decoder_that_fails_to_load_turns_off_drawing_only(without_decoder, tmp_path):
    from modules.contracts import DrawSettings

    pipeline, missing = without_decoder
    with pytest.raises(FeatureUnavailable) as caught:
        pipeline.draw("draw a red circle", DrawSettings(steps=2))
    message = str(caught.value)
    assert "image_decoder" in message and missing in message, message

    with pytest.raises(FeatureUnavailable, match="image_decoder"):
        list(pipeline.chat("draw a red circle", None, [], SHORT))

    assert list(pipeline.chat("hello", None, [], SHORT))[-1].text.strip(), "chat stopped working"
    picture = world_picture(Path(tmp_path) / "red-circle.png")
    assert list(pipeline.describe_image(str(picture), "", SHORT))[-1].strip(), "describing stopped working"
    status = pipeline.status()
    assert status["image_decoder"].startswith("unavailable") and missing in status["image_decoder"], status
    assert status["language_model"] == "ready" and status["image_encoder"] == "ready", status
