"""The UI's pure parts: input checks, chat history conversion, PNG metadata, Inspector views, stop switches, chat turns."""
import threading

import pytest
from PIL import Image

from modules.config import Limits
from modules.contracts import ChatEvent, DrawnPicture, InputError
from modules.ui.charts import ON, OFF, expert_heatmap, expert_load_table, stats_markdown
from modules.ui.chat_tab import STOPPED, ChatHandlers
from modules.ui.checks import EMPTY_MESSAGE, check_message, draw_settings, generation_settings
from modules.ui.history import pipeline_history, split_last_turn, turn_as_input, user_messages
from modules.ui.pictures import save_picture
from modules.ui.session import StopSwitches
from modules.ui.texts import LANGUAGES, TEXTS, Relabeler

LIMITS = Limits(max_text_chars=50, max_new_tokens=64, max_draw_steps=20, max_draw_count=2)


class Session:                                  # what gr.Request offers the stop switches
    def __init__(self, name):
        self.session_hash = name


# ---- checks


@pytest.mark.parametrize("values, words", [
    ((2.5, 0.9, 10, -1), ["Temperature", "0..2", "2.5"]),
    ((0.5, 0.01, 10, -1), ["Top-p", "0.05..1", "0.01"]),
    ((0.5, 0.9, 65, -1), ["Max new tokens", "1..64", "65"]),
    ((0.5, 0.9, 10, 1.5), ["Seed", "1.5"]),
    ((0.5, 0.9, 10, -7), ["Seed", "-7"]),
])
def test_settings_out_of_range_are_refused_by_name(values, words):
    with pytest.raises(InputError) as caught:
        generation_settings(*values, LIMITS)
    assert all(w in str(caught.value) for w in words), str(caught.value)


def test_settings_in_range_pass_unchanged_and_minus_one_is_random():
    settings = generation_settings(2.0, 0.05, 64, -1, LIMITS)
    assert (settings.temperature, settings.top_p, settings.max_new_tokens, settings.seed) == (2.0, 0.05, 64, None)
    assert generation_settings(0, 1, 1, 7, LIMITS).seed == 7


def test_draw_settings_refuse_counts_and_steps_over_the_limits():
    assert draw_settings(20, 0, None, 2, LIMITS).seed is None
    with pytest.raises(InputError, match=r"Number of pictures must be a whole number in 1\.\.2; got 3"):
        draw_settings(10, 3, -1, 3, LIMITS)
    with pytest.raises(InputError, match=r"Steps .* 1\.\.20; got 21"):
        draw_settings(21, 3, -1, 1, LIMITS)


def test_message_checks():
    with pytest.raises(InputError, match=EMPTY_MESSAGE):
        check_message({"text": " \n ", "files": []}, LIMITS)
    with pytest.raises(InputError, match="51 characters long; the limit is 50"):
        check_message({"text": "x" * 51, "files": []}, LIMITS)
    assert check_message({"text": "", "files": ["/a.png"]}, LIMITS) == ("", ["/a.png"])


# ---- history


def test_history_uses_placeholders_for_files_and_merges_a_turn():
    chatbot = [  # as gr.Chatbot hands its value to a handler (normalised content lists)
        {"role": "user", "content": [{"type": "file", "file": {"path": "/up/a.png", "mime_type": "image/png"}}]},
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a red circle"}]},
        {"role": "user", "content": [{"type": "file", "file": {"path": "/up/b.wav", "mime_type": "audio/wav"}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three beeps"}]},
    ]
    assert pipeline_history(chatbot) == [
        {"role": "user", "content": "[picture]\nwhat is this?"},
        {"role": "assistant", "content": "a red circle"},
        {"role": "user", "content": "[sound]"},
        {"role": "assistant", "content": "three beeps"},
    ]
    earlier, turn = split_last_turn(chatbot)
    assert earlier == chatbot[:3] and turn_as_input(turn) == {"text": "", "files": ["/up/b.wav"]}


def test_user_turn_shows_files_then_text():
    assert user_messages("hi", ["/x.png"]) == [{"role": "user", "content": {"path": "/x.png"}},
                                              {"role": "user", "content": "hi"}]


# ---- pictures


def test_png_carries_prompt_seed_steps_guidance():
    picture = DrawnPicture(Image.new("RGB", (8, 8), "red"), "画一个红色的圆形", 1234, 12, 3.5)
    with Image.open(save_picture(picture)) as png:
        assert png.format == "PNG"
        assert {k: png.text[k] for k in ("prompt", "seed", "steps", "guidance")} == {
            "prompt": "画一个红色的圆形", "seed": "1234", "steps": "12", "guidance": "3.5"}


# ---- inspector


def trace(tokens=3):
    experts = [[[t % 4, 3], [1, 2]] for t in range(tokens)]            # token × 2 layers × top-2 of 4 experts
    return {"route": "chat", "reason": "plain text", "experts": experts, "num_experts": 4, "moe_layers": [1, 2],
            "expert_load": [[1, 1, 1, 3], [0, 3, 3, 0]], "params_total": 7e6, "params_active": 2e6,
            "ttft_s": 0.1, "ms_per_token": 5.0, "prompt_tokens": 9, "answer_tokens": tokens, "notices": []}


def test_heatmap_marks_exactly_the_experts_that_fired():
    image = expert_heatmap(trace(tokens=60))
    colors = {color for _, color in image.getcolors(maxcolors=1 << 16)}
    assert ON in colors and OFF in colors
    on = sum(n for n, c in image.getcolors(maxcolors=1 << 16) if c == ON)
    off = sum(n for n, c in image.getcolors(maxcolors=1 << 16) if c == OFF)
    # every token fires 2 of 4 experts in each layer except token t%4==3 (expert 3 twice): 3 cells of 8 vs 5 of 8
    assert 0.35 < on / (on + off) < 0.5
    assert expert_heatmap({}) is None


def test_load_table_and_stats():
    table = expert_load_table(trace())
    assert table["tokens"].sum() == 12 and set(table["layer"]) == {"layer 1", "layer 2"}
    stats = stats_markdown(trace(), "none yet")
    assert "plain text" in stats and "7.00 M total" in stats and "5.0 ms per token" in stats
    assert stats_markdown({}, "none yet") == "none yet"


# ---- stop switches and chat turns


def test_stop_reaches_only_the_same_sessions_request():
    switches = StopSwitches()
    with switches.running(Session("a"), "chat") as a, switches.running(Session("b"), "chat") as b:
        assert switches.stop(Session("a"), "chat")
        assert a.is_set() and not b.is_set()
    assert a.is_set() and b.is_set()              # finished requests are released and their threads told to stop
    assert not switches.stop(Session("a"), "chat")


def run_turn(chat, chatbot, switches=None):
    handlers = ChatHandlers(chat, LIMITS, switches or StopSwitches())
    message = {"text": "draw a red circle", "files": []}
    chatbot = chatbot + user_messages(message["text"], [])
    return list(handlers.respond(message, chatbot, 0.0, 0.9, 16, -1, Session("s")))


def test_drawn_pictures_join_the_conversation_as_png_files():
    def chat(text, files, history, settings, stop=None, earlier_files=()):
        yield ChatEvent("Drawing", "draw")
        picture = DrawnPicture(Image.new("RGB", (8, 8), "blue"), text, 7, 12, 3.0)
        yield ChatEvent("Drawing a red circle.", "draw", pictures=[picture], done=True, trace={"reason": "because"})

    chatbot, route, notices, failure = run_turn(chat, [])[-1]
    assert chatbot[-2] == {"role": "assistant", "content": "Drawing a red circle."}
    with Image.open(chatbot[-1]["content"]["path"]) as png:
        assert png.text["seed"] == "7" and png.text["prompt"] == "draw a red circle"
    assert route == "route: **draw** — because" and failure is None


def test_the_models_thinking_shows_as_a_thought_that_folds_once_it_answers_and_stays_out_of_the_next_prompt():
    histories = []

    def chat(text, files, history, settings, stop=None, earlier_files=()):
        histories.append(history)
        yield ChatEvent("", "describe_image", thinking="A large red star")
        yield ChatEvent("The star", "describe_image", thinking="A large red star on the left.")
        yield ChatEvent("The star is red.", "describe_image", thinking="A large red star on the left.", done=True)

    updates = run_turn(chat, [])
    thinking, answered = updates[0][0][-1], updates[-1][0][-2:]
    assert thinking["content"] == "A large red star" and thinking["metadata"]["status"] == "pending"
    assert answered[0]["content"] == "A large red star on the left." and answered[0]["metadata"]["status"] == "done"
    assert answered[1] == {"role": "assistant", "content": "The star is red."}
    run_turn(chat, updates[-1][0])
    assert histories[-1] == [{"role": "user", "content": "draw a red circle"},
                             {"role": "assistant", "content": "The star is red."}]


def test_a_failure_keeps_the_conversation_and_is_reported():
    def chat(text, files, history, settings, stop=None, earlier_files=()):
        yield ChatEvent("par", "chat")
        raise RuntimeError("boom")

    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    updates = run_turn(chat, earlier)
    assert updates[0][0][:2] == earlier
    assert updates[-1][3] == "Something went wrong: RuntimeError; the studio keeps running"
    with pytest.raises(Exception, match="RuntimeError"):
        ChatHandlers.report(updates[-1][3])


def test_stop_halts_the_answer_and_says_so():
    switches, started = StopSwitches(), threading.Event()

    def chat(text, files, history, settings, stop=None, earlier_files=()):
        for i in range(1000):
            if stop.is_set():
                return
            started.set()
            yield ChatEvent("word " * (i + 1), "chat")

    handlers = ChatHandlers(chat, LIMITS, switches)
    stream = handlers.respond({"text": "go", "files": []}, user_messages("go", []), 0, 0.9, 16, -1, Session("s"))
    next(stream)
    assert switches.stop(Session("s"), "chat")
    *_, (chatbot, _, notices, _) = stream
    assert STOPPED in notices and len(chatbot[-1]["content"].split()) < 10


# ---- languages


def test_every_text_has_both_languages_and_relabeling_switches_them():
    assert all(en.strip() and zh.strip() and en != zh for en, zh in TEXTS.values())
    texts = Relabeler()
    texts.add("button", value="draw_btn", label="prompt")
    assert texts.updates(LANGUAGES[1]) == [{"__type__": "update", "value": "画图", "label": "提示词"}]
    assert texts.updates(LANGUAGES[0])[0]["value"] == "Draw"
