"""The router: attachments first, then requests to draw, then chat; each decision says why."""
import pytest

from modules.router import route


@pytest.mark.parametrize("text", ["draw a red circle", "Please draw a small blue star on the left",
                                  "can you paint a green square?", "make a picture of a red star",
                                  "画一个红色的圆形", "请帮我画一个蓝色的星形", "生成一张红色圆形的图片"])
def test_requests_to_draw_go_to_the_image_decoder(text):
    decision = route(text, 0, 0)
    assert decision.name == "draw" and "draw" in decision.reason


@pytest.mark.parametrize("text", ["hello", "what is a mixture of experts?", "你好", "what did you draw last time",
                                  "tell me about drawings"])
def test_other_text_is_chat(text):
    assert route(text, 0, 0).name == "chat"


@pytest.mark.parametrize("text", ["Can you draw?", "can you draw pictures", "Hi, can you paint?", "what can you draw?",
                                  "are you able to draw pictures?", "你会画画吗？", "你能画图吗", "你好，你会不会画图？",
                                  "你能画什么？"])
def test_asking_whether_the_studio_draws_is_chat_not_a_drawing(text):
    decision = route(text, 0, 0)
    assert decision.name == "chat" and "whether the studio draws" in decision.reason


@pytest.mark.parametrize("text", ["图上画了什么？", "下面画的是什么？", "画面里有几个物体？", "这幅图画里有红色的东西吗？", "图里画着什么",
                                  "打扰一下，中央画的是什么"])
def test_a_question_about_what_a_picture_shows_is_not_a_request_to_draw(text):
    assert route(text, 0, 0).name == "chat"


@pytest.mark.parametrize("text", ["can you draw a red circle?", "你能画一个红色的圆吗？", "could you draw me a blue star",
                                  "你可以画左边一个绿色的三角形吗？"])
def test_asking_for_a_named_drawing_still_draws(text):
    assert route(text, 0, 0).name == "draw"


def test_attachments_decide_first():
    assert route("draw a red circle", 1, 0).name == "describe_image"
    assert route("what is this?", 0, 1).name == "describe_audio"
    assert "picture" in route("", 2, 0).reason
