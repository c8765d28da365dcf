"""The README a newcomer reads first: the Spaces front matter, then what the studio is and its two commands on the
first screen; at most 200 lines, the rest in docs/; one test command everywhere; links that lead somewhere."""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
SET_UP_AND_RUN = "pip install -r requirements.txt && python app.py"
TEST = "python -m pytest"


def front_matter_and_body(text: str) -> tuple[dict, list[str]]:
    assert text.startswith("---\n"), "README.md must begin with the Spaces front matter (---)"
    head, body = text[len("---\n"):].split("\n---\n", 1)
    return yaml.safe_load(head), body.splitlines()


def test_the_readme_is_at_most_200_lines_and_docs_hold_the_rest():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md is {len(lines)} lines"
    assert {page.name for page in DOCS} >= {"training.md", "api.md", "deploy.md", "architecture.md"}


def test_the_spaces_front_matter_comes_first_and_names_the_installed_gradio():
    meta, _ = front_matter_and_body(README.read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and (REPO / meta["app_file"]).is_file()
    pinned = re.search(r"^gradio==([\d.]+)", (REPO / "requirements.txt").read_text(), re.M).group(1).rstrip(".")
    assert str(meta["sdk_version"]).startswith(pinned), (meta["sdk_version"], pinned)


def test_the_title_picture_and_both_commands_are_on_the_first_screen():
    _, body = front_matter_and_body(README.read_text(encoding="utf-8"))
    first_screen = "\n".join(body[:20])
    assert re.search(r"^# OmniMoE Studio$", first_screen, re.M)
    assert "](docs/studio.png)" in first_screen and (REPO / "docs" / "studio.png").is_file()
    commands = re.search(r"```bash\n(.*?)```", first_screen, re.S).group(1).splitlines()
    assert [c.split("#")[0].strip() for c in commands] == [SET_UP_AND_RUN,
                                                          f"pip install -r requirements-dev.txt && {TEST}"]


def test_one_test_command_everywhere():
    """The README, requirements-dev.txt and .ci/run give `python -m pytest` alone (conftest.py makes it offline)."""
    ci = [line.split("#")[0].strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert [line for line in ci if "pytest" in line] == [TEST]
    dev = (REPO / "requirements-dev.txt").read_text().splitlines()[0]
    assert f"`{TEST}`" in dev
    for text in (README.read_text(encoding="utf-8"), dev):
        assert TEST in text and "HF_HUB_OFFLINE=1 python" not in text


def test_the_test_session_is_offline():
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE and os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_readme_and_docs_leads_somewhere():
    for page in [README, *DOCS]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue                                          # http(s):, data:
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target} leads nowhere"
            if fragment and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert fragment in {anchor(h) for h in headings}, f"{page.name}: no heading for {target}"
