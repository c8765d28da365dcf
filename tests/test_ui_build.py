"""The studio builds around the real Pipeline and serves exactly the five named API endpoints, checking input first."""
from pathlib import Path

import pytest

pipeline_module = pytest.importorskip("modules.pipeline", reason="modules/pipeline.py is not written yet")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from modules.config import load_config  # noqa: E402
from modules.ui import API_ENDPOINTS  # noqa: E402
from tests.e2e_server import studio_in_process  # noqa: E402

# endpoint -> its leading parameters, in order (further parameters all have defaults)
LEADING = {
    "/chat": ["message"],
    "/describe_image": ["image", "question"],
    "/generate_image": ["prompt"],
    "/describe_audio": ["audio", "question"],
    "/inspect": [],
}
SETTINGS = ["temperature", "top_p", "max_new_tokens", "seed"]
EXAMPLE_SOUND = Path(__file__).resolve().parents[1] / "assets" / "examples" / "three-high-beeps.wav"


@pytest.fixture(scope="module")
def studio():
    """(client, config): the mini profile's real Pipeline (models load lazily, so nothing heavy happens here)."""
    config = load_config(["--profile", "mini"], environ={})
    with studio_in_process(pipeline_module.Pipeline(config)) as client:
        yield client, config


@pytest.fixture(scope="module")
def api(studio):
    return studio[0].view_api(return_format="dict", print_info=False)


def params(api, endpoint):
    return [p["parameter_name"] for p in api["named_endpoints"][endpoint]["parameters"]]


def test_exactly_the_five_endpoints_are_public(api):
    assert sorted(api["named_endpoints"]) == sorted(API_ENDPOINTS) == sorted(LEADING)
    assert not api["unnamed_endpoints"]


@pytest.mark.parametrize("endpoint", sorted(LEADING))
def test_endpoint_leading_parameter_names(api, endpoint):
    names = params(api, endpoint)
    assert names[: len(LEADING[endpoint])] == LEADING[endpoint]
    extra = api["named_endpoints"][endpoint]["parameters"][len(LEADING[endpoint]):]
    assert all(p["parameter_has_default"] for p in extra), f"{endpoint}: further parameters need defaults"


def test_question_is_optional_and_settings_are_accepted(api):
    for endpoint in ("/describe_image", "/describe_audio"):
        question = api["named_endpoints"][endpoint]["parameters"][1]
        assert question["parameter_has_default"] and question["parameter_default"] == ""
        assert params(api, endpoint)[2:] == SETTINGS + ["language"]
    assert params(api, "/chat")[2:] == SETTINGS + ["search", "thinking", "speak", "voice"]
    assert params(api, "/generate_image") == ["prompt", "steps", "guidance", "seed", "count"]


def test_empty_message_is_refused_before_the_pipeline(studio):
    client, _ = studio
    with pytest.raises(AppError, match="Type a message or attach a picture or sound"):
        client.predict({"text": "   ", "files": []}, api_name="/chat")


def test_out_of_range_setting_is_named_not_clamped(studio):
    client, _ = studio
    with pytest.raises(AppError, match=r"Temperature must be a number in 0\.\.2; got 5"):
        client.predict({"text": "hello", "files": []}, temperature=5, api_name="/chat")
    with pytest.raises(AppError, match=r"Max new tokens must be a whole number"):
        client.predict({"text": "hello", "files": []}, max_new_tokens=2.5, api_name="/chat")


def test_too_long_message_names_its_length_and_the_limit(studio):
    client, config = studio
    limit = config.limits.max_text_chars
    with pytest.raises(AppError, match=f"{limit + 1:,} characters long; the limit is {limit:,}"):
        client.predict({"text": "x" * (limit + 1), "files": []}, api_name="/chat")


def test_draw_refuses_too_many_pictures(studio):
    client, config = studio
    count = config.limits.max_draw_count + 1
    with pytest.raises(AppError, match=f"Number of pictures must be a whole number in 1..{config.limits.max_draw_count}"):
        client.predict("draw a red circle", count=count, api_name="/generate_image")


def test_an_unknown_page_language_is_refused_with_the_choices(studio):
    client, _ = studio
    with pytest.raises(AppError, match="English"):
        client.predict(handle_file(str(EXAMPLE_SOUND)), "", language="French", api_name="/describe_audio")


def test_inspect_returns_the_trace_as_a_dict(studio):
    client, _ = studio
    assert isinstance(client.predict(api_name="/inspect"), dict)
