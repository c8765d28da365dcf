"""The studio in a real browser (Debian's chromium through Playwright): chat, a picture in the chat, a drawing, the
Inspector's memory table."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e_server import ROOT, has_chinese, studio_url, world_picture  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
FIRST_LOAD_MS = 90_000          # first page load (the studio may still be loading its models)
ANSWER_MS = 60_000              # one answer on a CPU, with margin for a busy machine

BOT = "#chatbot [data-testid='bot']"
USER = "#chatbot [data-testid='user']"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(studio_url, browser):  # noqa: F811 - the studio first: it skips while the models are missing
    context = browser.new_context(viewport={"width": 1280, "height": 960}, locale="en-US")
    context.set_default_timeout(ANSWER_MS)
    sync_api.expect.set_options(timeout=ANSWER_MS)                       # expect() has its own 5 s default
    page = context.new_page()
    page.goto(studio_url, wait_until="domcontentloaded", timeout=FIRST_LOAD_MS)
    page.locator("#chat-input textarea").wait_for(state="visible", timeout=FIRST_LOAD_MS)
    try:
        yield page
    finally:
        context.close()


def send(page, text: str) -> int:
    """Type `text` into the chat input and press Enter; returns how many bot messages there were before."""
    before = page.locator(BOT).count()
    users = page.locator(USER).count()
    box = page.locator("#chat-input textarea")
    sync_api.expect(box).to_be_editable()
    box.fill(text)
    box.press("Enter")
    sync_api.expect(page.locator(USER)).not_to_have_count(users)          # the turn is shown at once
    return before


def wait_for_answer(page, before: int) -> str:
    """The text of the bot messages that appeared after `before`, once the answer is complete."""
    page.wait_for_function("([selector, n]) => document.querySelectorAll(selector).length > n", arg=[BOT, before])
    sync_api.expect(page.locator("#chat-input textarea")).to_be_editable()   # unlocked again: the answer is done
    return "\n".join(page.locator(BOT).nth(i).inner_text() for i in range(before, page.locator(BOT).count()))


def test_hello_gets_an_answer(page):
    answer = wait_for_answer(page, send(page, "hello"))
    assert re.search(r"[A-Za-z]{2,}", answer) and not has_chinese(answer), answer


def test_a_picture_attached_in_the_chat_is_read(page, tmp_path):
    picture = world_picture(Path(tmp_path) / "red-circle.png")
    page.locator("#chat-input input[type='file']").set_input_files(str(picture))
    sync_api.expect(page.locator("#chat-input img").first).to_be_visible()   # the upload finished (its thumbnail)
    answer = wait_for_answer(page, send(page, "what color is the circle?"))
    assert "red" in answer.lower(), answer
    sync_api.expect(page.locator(f"{USER} img").last).to_be_visible()       # the picture is shown in the turn


def test_a_drawing_request_shows_a_picture_in_the_conversation(page):
    pictures = page.locator(f"{BOT} img").count()
    wait_for_answer(page, send(page, "draw a red circle"))
    drawn = page.locator(f"{BOT} img")
    sync_api.expect(drawn).not_to_have_count(pictures)
    sync_api.expect(drawn.last).to_be_visible()
    size = drawn.last.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert min(size) >= 32, f"the drawn picture did not load: {size}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "studio.png"), full_page=True)


def test_the_inspector_shows_each_roles_memory_as_soon_as_the_page_opens(studio_url, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 960}, locale="en-US")   # a page with no answer
    try:
        fresh = context.new_page()
        fresh.goto(studio_url, wait_until="domcontentloaded", timeout=FIRST_LOAD_MS)
        fresh.get_by_role("tab", name=re.compile("Inspector")).click(timeout=FIRST_LOAD_MS)
        memory = fresh.locator("#inspector-memory")
        sync_api.expect(memory).to_contain_text("language model", timeout=ANSWER_MS)   # before any ↻ Refresh
        sync_api.expect(memory).to_contain_text("image encoder")
        sync_api.expect(memory).not_to_contain_text("No model is loaded")
    finally:
        context.close()
