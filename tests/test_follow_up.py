"""A follow-up question without an attachment is answered about the picture or sound attached earlier in the chat:
which messages count as follow-ups, and the whole turn through the Chat tab's handler on the built-in models."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PIL import Image, ImageDraw

from modules.config import load_config
from modules.contracts import GenerationSettings
from modules.follow_up import carried_attachment, kinds_asked_about
from modules.ui.chat_tab import ChatHandlers
from modules.ui.history import user_messages
from modules.ui.session import StopSwitches
from tests.e2e_server import skip_unless_models, studio_argv
from tests.test_ui_parts import Session

EARLIER = [("image", "/uploads/cat.png"), ("audio", "/uploads/beeps.wav"), ("image", "/uploads/red.png")]


@pytest.mark.parametrize("text", ["What colour is the circle?", "what color is it", "Is there a star on the left?",
                                  "and the background?", "Which shape is in the middle?", "How many objects?",
                                  "左边是什么颜色？", "图里有几个物体", "有三角形吗？"])
def test_questions_about_what_a_picture_shows_ask_about_the_picture(text):
    assert kinds_asked_about(text) == ("image",)


@pytest.mark.parametrize("text", ["How many beeps were there?", "is the tone high or low", "What did you hear?",
                                  "一共几声蜂鸣？", "音调高吗", "这段声音是什么"])
def test_questions_about_what_a_sound_is_ask_about_the_sound(text):
    assert kinds_asked_about(text) == ("audio",)


@pytest.mark.parametrize("text", ["What is it?", "Describe it.", "How many are there?", "它是什么？", "有几个？"])
def test_a_question_about_it_asks_about_whatever_came_last(text):
    assert kinds_asked_about(text) == ("image", "audio")
    assert carried_attachment(text, EARLIER).path == "/uploads/red.png"
    assert carried_attachment(text, EARLIER[:2]).path == "/uploads/beeps.wav"


@pytest.mark.parametrize("text", ["Thanks!", "How many experts do you have?", "How do I upload a picture?",
                                  "怎么上传图片？", "你好", "What is a mixture of experts?", "See you",
                                  "That's right."])
def test_messages_that_name_nothing_of_a_picture_or_a_sound_are_not_follow_ups(text):
    assert kinds_asked_about(text) == ()
    assert carried_attachment(text, EARLIER) is None


def test_the_newest_attachment_of_the_asked_kind_is_the_one_carried():
    assert carried_attachment("What colour is it?", EARLIER).path == "/uploads/red.png"
    assert carried_attachment("How many beeps?", EARLIER).path == "/uploads/beeps.wav"
    assert carried_attachment("How many beeps?", [("image", "/uploads/red.png")]) is None


# ---- the whole turn on the built-in models --------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline():
    skip_unless_models()
    from modules.pipeline import Pipeline

    return Pipeline(load_config(studio_argv(), environ={}))


def blue_square_png(path):
    """A picture as a person draws one: a big blue square in the middle of a white 300x200 PNG."""
    image = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(image).rectangle([110, 60, 190, 140], fill=(30, 60, 230))
    image.save(path)
    return str(path)


def three_beeps_wav(path):
    """Three short 1 kHz beeps made with numpy, 22.05 kHz."""
    rate = 22_050
    t = np.arange(int(0.12 * rate)) / rate
    beep, gap = 0.5 * np.sin(2 * np.pi * 1000 * t), np.zeros(int(0.25 * rate))
    sf.write(path, np.concatenate([gap, beep, gap, beep, gap, beep, gap]).astype(np.float32), rate)
    return str(path)


def answer_turns(pipeline, turns):
    """Each (text, files) turn sent in order through the Chat tab's handler; the final (chatbot, route, notices)."""
    handlers, chatbot = ChatHandlers(pipeline.chat, pipeline.config.limits, StopSwitches()), []
    for text, files in turns:
        message = {"text": text, "files": files}
        chatbot = chatbot + user_messages(text, files)
        chatbot, route, notices, failure = list(handlers.respond(message, chatbot, 0.0, 0.9, 48, 0, Session("s")))[-1]
        assert failure is None
    return chatbot, route, notices


@pytest.mark.parametrize("question, word", [("What colour is the square?", "blue"), ("它是什么颜色？", "蓝")])
def test_a_follow_up_about_the_picture_attached_earlier_is_answered_from_the_picture(pipeline, tmp_path, question,
                                                                                      word):
    picture = blue_square_png(tmp_path / "square.png")
    chatbot, route, notices = answer_turns(pipeline, [("Describe this picture.", [picture]),
                                                       ("Thanks!", []), (question, [])])
    assert word in chatbot[-1]["content"], chatbot[-1]
    assert "describe_image" in route and "square.png" in notices


def test_a_follow_up_about_the_sound_attached_earlier_is_answered_from_the_sound(pipeline, tmp_path):
    sound = three_beeps_wav(tmp_path / "beeps.wav")
    chatbot, route, notices = answer_turns(pipeline, [("", [sound]), ("How many beeps were there?", [])])
    assert "three" in chatbot[-1]["content"].lower(), chatbot[-1]
    assert "describe_audio" in route and "beeps.wav" in notices


def test_a_question_about_the_studio_after_a_picture_is_not_about_the_picture(pipeline, tmp_path):
    picture = blue_square_png(tmp_path / "square.png")
    events = list(pipeline.chat("How many experts do you have?", [], [], GenerationSettings(temperature=0.0, seed=0),
                                earlier_files=[picture]))
    assert events[-1].route == "chat" and "blue" not in events[-1].text
