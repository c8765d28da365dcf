"""A reply's thinking and answer, split as they stream: no tag fragment ever shows, and nothing is lost."""
from modules.reasoning import join_reply, split_reply

WRITTEN = "<think>A large red star on the left, on a black background.</think>The star is red."


def test_a_finished_reply_splits_into_thinking_and_answer():
    reply = split_reply(WRITTEN, final=True)
    assert reply.thinking == "A large red star on the left, on a black background."
    assert reply.answer == "The star is red." and reply.thinking_done


def test_every_streamed_prefix_shows_a_prefix_of_the_final_thinking_and_answer_without_tag_pieces():
    final = split_reply(WRITTEN, final=True)
    for end in range(1, len(WRITTEN) + 1):
        shown = split_reply(WRITTEN[:end])
        assert final.thinking.startswith(shown.thinking.strip()), WRITTEN[:end]
        assert final.answer.startswith(shown.answer), WRITTEN[:end]
        assert "<" not in shown.thinking + shown.answer, WRITTEN[:end]
        assert shown.thinking_done == (end >= WRITTEN.index("</think>") + len("</think>"))


def test_a_reply_without_thinking_is_all_answer_even_if_it_mentions_the_tag_later():
    assert split_reply("Hello! <think> is a tag.", final=True).answer == "Hello! <think> is a tag."
    assert split_reply("<", final=True).answer == "<"           # a finished "<" is an answer, not a tag begun


def test_thinking_cut_off_before_it_closed_is_kept_as_thinking_with_no_answer():
    reply = split_reply("<think>A large red st", final=True)
    assert reply.thinking == "A large red st" and reply.answer == ""


def test_thinking_and_answer_streamed_apart_join_back_into_the_same_reply():
    final = split_reply(WRITTEN, final=True)
    assert join_reply(final.thinking, final.answer) == WRITTEN
    assert split_reply(join_reply("A large red", "")).thinking == "A large red"
    assert join_reply("", "The star is red.") == "The star is red."
