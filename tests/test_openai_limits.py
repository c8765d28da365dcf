"""The /v1 routes refuse what they cannot honour before it costs anything: a body over --max-request-size (413,
before it is read), an unknown parameter, text that is not valid; a client that hangs up stops its answer, and an
answer past its deadline ends with 504. A stand-in pipeline served by uvicorn on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from modules.contracts import ChatEvent
from modules.interrupt import RequestTimedOut
from tests.tiny_checkpoints import write_profiles

LIMIT = 64 * 1024
HELLO = {"messages": [{"role": "user", "content": "hi"}]}


class StandIn:
    """pipeline.chat: answers "fine", or (for "wait") holds its first step until its stop is set."""

    def __init__(self):
        self.stopped, self.asked = threading.Event(), []

    def chat(self, text, files, history, settings, stop=None):
        self.asked.append(text)
        if text == "wait" and stop.wait(30):
            self.stopped.set()
        if text == "slow":
            raise RequestTimedOut("The answer took longer than 3 s and was stopped; (the limit is --request-timeout)")
        yield ChatEvent(text="fine", route="chat", done=True, trace={"prompt_tokens": 1, "answer_tokens": 1})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(port, stand-in pipeline) of a FastAPI app with the /v1 routes, served by uvicorn in a thread."""
    import uvicorn
    from fastapi import FastAPI

    from modules.api import mount_api
    from modules.config import load_config

    path = write_profiles(tmp_path_factory.mktemp("limits") / "p.yaml", {"p": {"language_model": {"source": "org/lm"}}})
    pipeline, app = StandIn(), FastAPI()
    mount_api(app, pipeline, load_config(["--config", str(path), "--max-request-size", f"{LIMIT}b"], {}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield port, pipeline
    server.should_exit = True
    thread.join(10)


def post(port: int, body: bytes, headers: str = "", timeout: float = 30.0) -> tuple[int, dict]:
    """(status, JSON body) of a POST to /v1/chat/completions written by hand over one socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: studio\r\nContent-Type: application/json\r\n"
                           + headers.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() * (not headers)
                           + (b"" if headers else body))
        if headers:
            connection.sendall(body)
        return read_response(connection)


def read_response(connection: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < content_length(data):
        piece = connection.recv(65536)
        if not piece:
            break
        data += piece
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_body_that_says_it_is_too_large_is_refused_before_it_is_sent(served):
    port, _ = served
    status, answer = post(port, b'{"messages": [', headers="Content-Length: 52428800\r\n\r\n")   # 50 MB announced
    assert status == 413, answer
    message = answer["error"]["message"]
    assert "52,428,800 bytes" in message and f"{LIMIT:,} bytes" in message and "--max-request-size" in message


def test_a_chunked_body_is_refused_once_it_passes_the_limit(served):
    port, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: studio\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 16384
        for _ in range(LIMIT // len(chunk) + 2):                # a little past the limit, then no end is sent
            connection.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, answer = read_response(connection)
    assert status == 413 and f"larger than the limit of {LIMIT:,} bytes" in answer["error"]["message"], answer


def test_a_body_under_the_limit_is_answered(served):
    port, _ = served
    status, answer = post(port, json.dumps({**HELLO, "user": "someone", "presence_penalty": 0}).encode())
    assert status == 200 and answer["choices"][0]["message"]["content"] == "fine", answer


@pytest.mark.parametrize("extra, words", [
    ({"temprature": 0.5}, ["unknown parameter 'temprature'", "temperature", "max_tokens", "stream_options"]),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, ["tools is not supported", "tools=[]"]),
    ({"frequency_penalty": 1.5}, ["frequency_penalty is not supported", "frequency_penalty=0", "1.5"]),
])
def test_a_parameter_the_studio_does_not_honour_is_refused_by_name(served, extra, words):
    port, pipeline = served
    asked = len(pipeline.asked)
    status, answer = post(port, json.dumps({**HELLO, **extra}).encode())
    assert status == 400 and answer["error"]["param"] == next(iter(extra)), answer
    assert all(word in answer["error"]["message"] for word in words), answer["error"]["message"]
    assert len(pipeline.asked) == asked, "the pipeline was asked anyway"


@pytest.mark.parametrize("messages, where", [
    ([{"role": "user", "content": "hi \ud800"}], "messages[0] content"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "\udfffb"},
      {"role": "user", "content": [{"type": "text", "text": "c"}]}], "messages[1] content"),
])
def test_a_lone_surrogate_is_refused_with_400_naming_where_it_is(served, messages, where):
    port, _ = served
    status, answer = post(port, json.dumps({"messages": messages}, ensure_ascii=True).encode())
    assert status == 400, answer
    assert answer["error"]["message"].startswith(f"The {where} contains characters that are not valid text (a lone "
                                                 "surrogate"), answer


def test_a_client_that_hangs_up_stops_its_answer(served):
    port, pipeline = served
    body = json.dumps({"messages": [{"role": "user", "content": "wait"}]}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: studio\r\nContent-Type: application/json\r\n"
                           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        while "wait" not in pipeline.asked:
            time.sleep(0.02)
    assert pipeline.stopped.wait(10), "the answer's stop was not set after its client hung up"


def test_an_answer_past_its_deadline_ends_with_504_and_says_so(served):
    port, _ = served
    status, answer = post(port, json.dumps({"messages": [{"role": "user", "content": "slow"}]}).encode())
    assert status == 504 and "took longer than 3 s" in answer["error"]["message"], answer
