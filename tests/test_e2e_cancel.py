"""End to end through gradio_client: a cancelled request stops computing at once. The launched studio's CPU time
is read from /proc before and after the cancel; a studio that kept working would use about a core."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e_server import skip_unless_models, start_studio, stop_studio, studio_client

SETTLE_S = 2.0          # a cancelled request must be over by then
WINDOW_S = 2.0          # CPU time is measured over this long after SETTLE_S
IDLE_SHARE = 0.15       # an idle studio (heartbeats) uses about 5 % of a core; a working one close to 100 %
TURN = "the router sends each token to two of the experts, and the shared expert sees all of them. " * 11


@pytest.fixture(scope="module")
def studio():
    """(pid, gradio_client Client) of a studio launched for this module."""
    skip_unless_models()
    if not Path("/proc/self/stat").is_file():
        pytest.skip("needs /proc to read the studio's CPU time")
    with tempfile.TemporaryDirectory(prefix="omnimoe-cancel-") as folder:
        process, url = start_studio(Path(folder) / "studio.log")
        try:
            client = studio_client(url)
            client.predict(message={"text": "hello", "files": []}, max_new_tokens=4, api_name="/chat")  # loaded
            yield process.pid, client
        finally:
            stop_studio(process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_until(pid: int, seconds: float, timeout: float = 60.0) -> None:
    """Wait until the studio has used `seconds` of CPU time since now: the request is running."""
    start, deadline = cpu_seconds(pid), time.monotonic() + timeout
    while cpu_seconds(pid) - start < seconds:
        assert time.monotonic() < deadline, "the request did not start working"
        time.sleep(0.05)


def cpu_share_after_cancel(pid: int, job) -> float:
    """Cancel the job; the share of a core the studio uses over WINDOW_S, SETTLE_S after the cancel returned."""
    job.cancel()
    time.sleep(SETTLE_S)
    before = cpu_seconds(pid)
    time.sleep(WINDOW_S)
    return (cpu_seconds(pid) - before) / WINDOW_S


def test_a_cancelled_drawing_stops_at_its_next_step(studio):
    pid, client = studio
    job = client.submit(prompt="a red circle", steps=50, count=4, seed=1, api_name="/generate_image")  # ~200 steps
    busy_until(pid, 0.5)
    share = cpu_share_after_cancel(pid, job)
    assert share < IDLE_SHARE, f"the studio used {share:.0%} of a core {SETTLE_S:g} s after the drawing was cancelled"
    answer = client.predict(message={"text": "hello", "files": []}, max_new_tokens=4, api_name="/chat")["text"]
    assert answer.strip(), "the studio does not answer after the cancel"


def test_a_cancelled_5000_turn_chat_leaves_the_studio_idle(studio):
    pid, client = studio
    history = [{"role": "user" if k % 2 == 0 else "assistant", "content": f"{k} {TURN}"} for k in range(5000)]
    job = client.submit(message={"text": "tell me about the experts", "files": []}, history=history,
                        max_new_tokens=256, api_name="/chat")
    busy_until(pid, 0.5)
    share = cpu_share_after_cancel(pid, job)
    assert share < IDLE_SHARE, f"the studio used {share:.0%} of a core {SETTLE_S:g} s after the chat was cancelled"
    answer = client.predict(message={"text": "hello", "files": []}, max_new_tokens=4, api_name="/chat")["text"]
    assert answer.strip(), "the studio does not answer after the cancel"
