"""Search in the chat, end to end: a question with Search on is looked up in a local SearXNG-compatible stub and
in an uploaded document, the model is given the sources numbered, and the answer lists them with working links;
on the hub-format tiny checkpoints, through `backend: openai` with an engine that cites, and on the built-in
model, whose Search looks in the studio's own documentation."""
from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import pytest

from modules.config import load_config
from modules.contracts import GenerationSettings
from tests.e2e_server import skip_unless_models
from tests.stub_servers import openai_engine_route, searxng_route, serve
from tests.tiny_checkpoints import tiny_suite, write_profiles

SHORT = GenerationSettings(max_new_tokens=8)
QUESTION = "Who keeps the zebra parser, and what does it read?"


def answer_text(event) -> str:
    from modules.ui.chat_tab import answer_text as shown
    return shown(event)


@pytest.fixture(scope="module")
def searxng():
    with serve(searxng_route(["/pages/zebra", "/pages/okapi"])) as running:
        yield running


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "report.md"
    path.write_text("# Maintainers\n\nThe zebra parser is kept by Ada Okapi since March.\n\n# Lunch\n\n"
                    "Soup is served at noon.\n", encoding="utf-8")
    return path


def search_profile(searxng_url: str) -> dict:
    return {"url": searxng_url, "allow_private": True, "timeout_s": 2, "results": 3}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, searxng):
    """The hub-format tiny checkpoints (DeepSeek-V3 LM, CoCa, …), searching the stub."""
    from modules.pipeline import Pipeline

    suite = tiny_suite(tmp_path_factory.getbasetemp() / "tiny-hub-suite")
    profiles = write_profiles(tmp_path_factory.mktemp("hub") / "spaces.yaml", {"hub-cpu": {
        **{role: {"source": str(folder)} for role, folder in suite.items()}, "bridge": {"kind": "text"},
        "device": "cpu", "search": search_profile(searxng[0])}})
    return Pipeline(load_config(["--config", str(profiles)], {}))


def test_the_model_is_given_the_sources_numbered_and_the_answer_lists_them(hub, searxng, report, monkeypatch):
    base, seen = searxng
    lm, turns = hub.components.get("language_model"), []
    stream = lm.stream
    monkeypatch.setattr(lm, "stream", lambda messages, *a, **k: turns.append(messages[-1]["content"]) or
                        stream(messages, *a, **k))
    events = list(hub.chat(QUESTION, [str(report)], [], SHORT, search=True))
    final = events[-1]
    assert [(s.number, s.title) for s in final.sources] == [
        (1, "report.md — Maintainers"), (2, "Zebra parser handbook"), (3, "Okapi team")]
    assert all(e.sources == final.sources for e in events)          # listed while the answer streams too
    turn = turns[-1]
    assert "[1] report.md — Maintainers: The zebra parser is kept by Ada Okapi since March." in turn
    assert f"[2] Zebra parser handbook ({base}/pages/zebra): The zebra parser reads striped tables" in turn
    assert turn.endswith("[end of search results]\n\n" + QUESTION) and "Soup" not in turn
    shown = answer_text(final)
    assert shown.startswith(final.text) and "**Sources**" in shown
    assert "[1] **report.md — Maintainers** — “The zebra parser is kept by Ada Okapi since March.”" in shown
    link = re.search(r"\[2\] \[Zebra parser handbook\]\(<([^>]+)>\)", shown).group(1)
    with urllib.request.urlopen(link, timeout=5) as page:            # the citation leads to the page
        assert b"striped tables" in page.read()
    assert final.trace["search"]["query"] == "keeps zebra parser read"
    assert [s["address"] for s in final.trace["search"]["sources"]] == ["", f"{base}/pages/zebra",
                                                                         f"{base}/pages/okapi"]


def test_without_the_switch_only_the_uploaded_document_is_searched(hub, searxng, report):
    asked = len(searxng[1])
    final = list(hub.chat(QUESTION, [str(report)], [], SHORT))[-1]
    assert [s.title for s in final.sources] == ["report.md — Maintainers"] and len(searxng[1]) == asked
    plain = list(hub.chat(QUESTION, [], [], SHORT))[-1]
    assert plain.sources == [] and answer_text(plain) == plain.text and "search" not in plain.trace


def test_a_searxng_that_does_not_answer_leaves_a_notice_and_the_answer_comes(tmp_path):
    from modules.pipeline import Pipeline

    with socket.socket() as probe:                                   # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    suite = tiny_suite(tmp_path.parent / "tiny-hub-suite")
    profiles = write_profiles(tmp_path / "spaces.yaml", {"p": {
        "language_model": {"source": str(suite["language_model"])}, "device": "cpu",
        "search": search_profile(f"http://127.0.0.1:{port}")}})
    final = list(Pipeline(load_config(["--config", str(profiles)], {})).chat(QUESTION, [], [], SHORT,
                                                                              search=True))[-1]
    assert final.text and final.sources == []
    assert any(f"127.0.0.1:{port} did not answer" in n for n in final.notices)


def citing_engine(body: dict) -> str:
    """An engine that reads its sources: it names the one about striped tables by its number."""
    turn = body["messages"][-1]["content"]
    number = re.search(r"^\[(\d+)\] [^\n]*striped tables", turn, re.MULTILINE)
    keeper = re.search(r"^\[(\d+)\] [^\n]*kept by", turn, re.MULTILINE)
    if not number or not keeper:
        return "I found no sources."
    return f"It reads striped tables [{number.group(1)}]; Ada Okapi keeps it [{keeper.group(1)}]."


def test_an_engine_behind_the_openai_backend_cites_and_its_citations_link(tmp_path, searxng, report):
    from modules.pipeline import Pipeline

    base = searxng[0]
    with serve(openai_engine_route(citing_engine)) as (engine, _):
        profiles = write_profiles(tmp_path / "spaces.yaml", {"remote": {
            "language_model": {"backend": "openai", "base_url": f"{engine}/v1"}, "search": search_profile(base)}})
        final = list(Pipeline(load_config(["--config", str(profiles)], {})).chat(QUESTION, [str(report)], [], SHORT,
                                                                                  search=True))[-1]
    assert final.text == "It reads striped tables [2]; Ada Okapi keeps it [1]."
    assert answer_text(final).startswith(f"It reads striped tables [[2]](<{base}/pages/zebra>); Ada Okapi keeps "
                                         "it [1].\n\n**Sources**  \n[1] **report.md — Maintainers**")


@pytest.fixture(scope="module")
def built_in():
    """The built-in models (spaces.yaml's default profile); Search looks in the studio's own documentation."""
    skip_unless_models()
    from modules.pipeline import Pipeline

    return Pipeline(load_config([], {}))


def test_the_built_in_model_answers_about_the_studio_with_its_documentation_cited(built_in):
    final = list(built_in.chat("What is the Inspector tab?", [], [], GenerationSettings(), search=True))[-1]
    assert final.text and final.sources and final.sources[0].kind == "document"
    cited = [s for s in final.sources if "Inspector" in s.text]
    assert cited and cited[0].title.startswith("README.md")
    shown = answer_text(final)
    assert f"[{cited[0].number}] **{cited[0].title}** — “" in shown
    assert final.trace["search"]["searched"] == ["documents: README.md, docs"]


def test_chat_endpoint_takes_search_and_returns_the_sources(built_in):
    from tests.e2e_server import studio_in_process

    with studio_in_process(built_in) as client:
        answer = client.predict({"text": "What is the Inspector tab?", "files": []}, search=True, max_new_tokens=24,
                                api_name="/chat")["text"]
        plain = client.predict({"text": "What is the Inspector tab?", "files": []}, max_new_tokens=24,
                               api_name="/chat")["text"]
    sources = answer.split("\n\n**Sources**  \n[1] **", 1)
    assert len(sources) == 2 and "Sources" not in plain, (answer, plain)
    assert sources[1].startswith(("README.md", "docs/")) and "Inspector" in sources[1], sources[1]


@pytest.mark.parametrize("question, facts, topic", [
    ("How many experts does the built-in model have?", ("8 routed experts", "1 shared expert"), "expert"),
    ("内置模型有多少个专家？", ("8个路由专家", "1个共享专家"), "专家")], ids=["en", "zh"])
def test_the_built_in_model_answers_a_studio_question_from_its_configuration_citing_a_source(built_in, question,
                                                                                             facts, topic):
    """With Search on, the answer states the model's real configuration and cites, by number, a listed source that
    speaks of the topic."""
    final = list(built_in.chat(question, [], [], GenerationSettings(temperature=0.0), search=True))[-1]
    assert all(fact in final.text for fact in facts), final.text
    cited = [int(n) for n in re.findall(r"\[(\d+)\]", final.text)]
    numbers = {source.number: source for source in final.sources}
    assert cited and all(n in numbers for n in cited), (final.text, list(numbers))
    assert any(topic in numbers[n].text.lower() for n in cited), [numbers[n].text[:200] for n in cited]
