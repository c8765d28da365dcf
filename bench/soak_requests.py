"""The soak test's requests: each kind of good or bad request it sends the studio (gradio_client, Gradio's HTTP API,
/v1), and how it tells that the studio gave what it must: an answer, or a refusal whose message names the problem."""
from __future__ import annotations

import base64
import http.client
import json
import re
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"
PICTURES = sorted(EXAMPLES.glob("*.png"))          # the pictures that ship with the studio
SOUNDS = sorted(EXAMPLES.glob("*.wav"))            # and its sounds
CJK = re.compile("[\u4e00-\u9fff]")

ENGLISH = ("hello", "what is a mixture of experts?", "what shapes do you know?", "tell me about beeps")
CHINESE = ("你好", "什么是专家混合模型？", "你知道哪些形状？", "红色的圆是什么？")
QUESTIONS = ("", "what color is the circle?", "what shapes are there?", "how many shapes are there?")
HISTORY = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "Hello! How can I help?"}]


class Refused(Exception):
    """The studio refused the request; str() is its message as the client sees it (HTTP status first for /v1)."""


@dataclass(frozen=True)
class Studio:
    """What one request needs: a gradio_client session, the studio's address, media and the answer sizes."""

    client: object                 # gradio_client.Client, one per worker (its own session)
    url: str                       # http://127.0.0.1:PORT
    corrupt_png: Path              # a file named .png that is not a picture
    max_new_tokens: int
    draw_steps: int
    request_limit: int             # --max-request-size in bytes
    wait_s: float                  # the longest a request may take before the soak calls it failed


@dataclass(frozen=True)
class Kind:
    """One kind of request: `send(studio, n)` returns the answer's text or raises Refused; a kind that must fail
    must be refused with a message matching every pattern."""

    name: str
    send: Callable[[Studio, int], str]
    must_fail: bool = False
    patterns: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------- sending


def predict(studio: Studio, api_name: str, *args, **kwargs):
    """gradio_client's answer, or Refused with the studio's message; gives up after studio.wait_s."""
    from gradio_client.exceptions import AppError

    job = studio.client.submit(*args, api_name=api_name, **kwargs)
    try:
        return job.result(timeout=studio.wait_s)
    except AppError as error:
        raise Refused(str(error)) from None
    except TimeoutError:
        job.cancel()
        raise TimeoutError(f"no answer within {studio.wait_s:g} s") from None


def message(text: str, files: list[Path] = ()) -> dict:
    from gradio_client import handle_file

    return {"text": text, "files": [handle_file(str(f)) for f in files]}


def http_connection(studio: Studio) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*_address(studio), timeout=studio.wait_s)


def post_v1(studio: Studio, body: dict) -> dict:
    """The JSON answer of POST /v1/chat/completions; Refused('HTTP status: message') on an error."""
    connection = http_connection(studio)
    try:
        connection.request("POST", "/v1/chat/completions", json.dumps(body, ensure_ascii=True).encode(),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
    finally:
        connection.close()
    if response.status != 200:
        raise Refused(f"HTTP {response.status}: {payload.get('error', {}).get('message', payload)}")
    return payload


def stream_v1(studio: Studio, body: dict) -> str:
    """The content of a streamed /v1 answer, put together from its chunks; Refused on an error status or event."""
    connection = http_connection(studio)
    try:
        connection.request("POST", "/v1/chat/completions", json.dumps({**body, "stream": True}).encode(),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            payload = json.loads(response.read() or b"{}")
            raise Refused(f"HTTP {response.status}: {payload.get('error', {}).get('message', payload)}")
        content, done = [], False
        for line in response:
            data = line.decode().strip().removeprefix("data: ")
            if data == "[DONE]":
                done = True
            elif data.startswith("{"):
                event = json.loads(data)
                if "error" in event:
                    raise Refused(f"stream error: {event['error'].get('message')}")
                content += [c["delta"].get("content") or "" for c in event.get("choices", [])]
    finally:
        connection.close()
    if not done:
        raise RuntimeError("the stream ended without data: [DONE]")
    return "".join(content)


def call_escaped(studio: Studio, api_name: str, data: list) -> str:
    """Gradio's HTTP API with the JSON written by hand (\\uD800 escapes, which gradio_client cannot send): the
    answer's data, or Refused with the error event's message."""
    connection = http_connection(studio)
    try:
        connection.request("POST", f"/gradio_api/call/{api_name}",
                           json.dumps({"data": data}, ensure_ascii=True).encode(), {"Content-Type": "application/json"})
        event_id = json.loads(connection.getresponse().read())["event_id"]
        connection.request("GET", f"/gradio_api/call/{api_name}/{event_id}")
        events = re.findall(r"event: (\w+)\ndata: (.*)", connection.getresponse().read().decode())
    finally:
        connection.close()
    if not events:
        raise RuntimeError(f"no events from /gradio_api/call/{api_name}")
    event, payload = events[-1]
    if event == "error":
        raise Refused(payload)
    return payload


def oversized_body(studio: Studio, chunked: bool) -> str:
    """POST /v1/chat/completions with a body 1 MiB over the limit, sent until the studio answers; its answer must be
    413. `chunked`: no Content-Length, so the studio has to count the bytes as they come."""
    size = studio.request_limit + 2**20
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: studio\r\nContent-Type: application/json\r\n"
            + (b"Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n".encode()))
    piece = b"[" + b" " * 65534 + b"]"
    with socket.create_connection(_address(studio), timeout=studio.wait_s) as connection:
        connection.sendall(head)
        sent = 0
        try:
            while sent < size and not select.select([connection], [], [], 0)[0]:
                connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass                                   # the studio stopped reading: its answer is waiting
        status, payload = _read_response(connection)
    if status == 200:
        return "accepted"
    raise Refused(f"HTTP {status}: {payload.get('error', {}).get('message', payload)}")


def _address(studio: Studio) -> tuple[str, int]:
    host, port = studio.url.removeprefix("http://").split(":")
    return host, int(port)


def _read_response(connection: socket.socket) -> tuple[int, dict]:
    """(status, JSON body) of an HTTP answer read from a raw socket."""
    data = b""
    while True:
        head, ended, payload = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if ended and length and len(payload) >= int(length.group(1)):
            break
        try:
            piece = connection.recv(65536)
        except ConnectionResetError:
            piece = b""
        if not piece:
            break
        data += piece
    if not data:
        raise RuntimeError("the connection closed without an answer")
    return int(head.split()[1]), json.loads(payload or b"{}")


def data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# ---------------------------------------------------------------------------------------------- good requests


def pick(items, n: int):
    return items[n % len(items)]


def chat_answer(studio: Studio, text: str, n: int, files=(), history=(), sampled: bool = False) -> str:
    reply = predict(studio, "/chat", message(text, list(files)), list(history), 0.8 if sampled else 0.0, 0.9,
                    studio.max_new_tokens, n, False, False)
    return reply["text"]


def chat_english(studio: Studio, n: int) -> str:
    return chat_answer(studio, pick(ENGLISH, n), n, sampled=n % 2 == 1)


def chat_chinese(studio: Studio, n: int) -> str:
    answer = chat_answer(studio, pick(CHINESE, n), n)
    if not CJK.search(answer):
        raise RuntimeError(f"a Chinese question got an answer with no Chinese in it: {answer!r}")
    return answer


def chat_with_history(studio: Studio, n: int) -> str:
    return chat_answer(studio, pick(ENGLISH, n + 1), n, history=HISTORY)


def chat_with_picture(studio: Studio, n: int) -> str:
    return chat_answer(studio, pick(QUESTIONS[1:], n), n, files=[pick(PICTURES, n)])


def describe(studio: Studio, n: int) -> str:
    return predict(studio, "/describe_image", _upload(pick(PICTURES, n)), pick(QUESTIONS, n), 0.0, 0.9,
                   studio.max_new_tokens, n)


def listen(studio: Studio, n: int) -> str:
    return predict(studio, "/describe_audio", _upload(pick(SOUNDS, n)), "", 0.0, 0.9, studio.max_new_tokens, n)


def draw(studio: Studio, n: int) -> str:
    gallery = predict(studio, "/generate_image", pick(("a red circle", "a blue star on black", "一个绿色的三角形"), n),
                      studio.draw_steps, 3.0, n, 1)
    paths = [Path(item["image"] if isinstance(item, dict) else item[0]) for item in gallery]
    bad = [p for p in paths if not p.is_file() or p.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n"]
    if not paths or bad:
        raise RuntimeError(f"the drawing did not come back as PNG files: {gallery!r}")
    for path in paths:
        path.unlink()                              # the soak keeps no pictures
    return f"{len(paths)} picture(s)"


def v1_answer(studio: Studio, n: int) -> str:
    reply = post_v1(studio, {"model": "", "messages": [{"role": "user", "content": pick(ENGLISH + CHINESE, n)}],
                             "max_tokens": studio.max_new_tokens})
    return reply["choices"][0]["message"]["content"]


def v1_stream(studio: Studio, n: int) -> str:
    return stream_v1(studio, {"messages": [{"role": "user", "content": pick(CHINESE + ENGLISH, n)}],
                              "max_tokens": studio.max_new_tokens, "stream_options": {"include_usage": True}})


def v1_picture(studio: Studio, n: int) -> str:
    parts = [{"type": "text", "text": pick(QUESTIONS[1:], n)},
             {"type": "image_url", "image_url": {"url": data_url(pick(PICTURES, n))}}]
    reply = post_v1(studio, {"messages": [{"role": "user", "content": parts}], "max_tokens": studio.max_new_tokens})
    return reply["choices"][0]["message"]["content"]


def _upload(path: Path):
    from gradio_client import handle_file

    return handle_file(str(path))


GOOD = [Kind("chat-en", chat_english), Kind("chat-zh", chat_chinese), Kind("chat-history", chat_with_history),
        Kind("chat-picture", chat_with_picture), Kind("describe", describe), Kind("listen", listen),
        Kind("draw", draw), Kind("v1", v1_answer), Kind("v1-stream", v1_stream), Kind("v1-picture", v1_picture)]


# ---------------------------------------------------------------------------------------------- bad requests

HELLO = {"text": "hello", "files": []}
CHAT_DEFAULTS = [[], 0.0, 0.9, 8, -1, False, False, False, None]   # /chat after `message`: history … voice
SURROGATE = r"not valid text \(a lone surrogate, U\+D[89A-F][0-9A-F]{2}, at position \d+\)"
TOO_LARGE = (r"^HTTP 413", r"limit of [\d,]+ bytes", r"--max-request-size")

BAD = [
    Kind("corrupt-png-describe", lambda s, n: predict(s, "/describe_image", _upload(s.corrupt_png), "", 0.0, 0.9, 8, n),
         True, (r"corrupt\.png", r"(?i)not a picture|damaged|cannot read")),
    Kind("corrupt-png-chat",
         lambda s, n: predict(s, "/chat", message("what is this?", [s.corrupt_png]), *CHAT_DEFAULTS),
         True, (r"corrupt\.png", r"(?i)not a picture|damaged|cannot read")),
    Kind("empty-message", lambda s, n: predict(s, "/chat", message("  \n "), *CHAT_DEFAULTS),
         True, (r"(?i)type a message|empty",)),
    Kind("temperature-5", lambda s, n: predict(s, "/chat", HELLO, [], 5, 0.9, 8, -1, False, False),
         True, (r"(?i)temperature", r"\b5\b", r"0\.\.2")),
    Kind("draw-steps-0", lambda s, n: predict(s, "/generate_image", "a red circle", 0, 3.0, -1, 1),
         True, (r"(?i)steps", r"\b0\b")),
    Kind("surrogate-chat", lambda s, n: call_escaped(s, "chat", [{"text": "hi \ud800 there", "files": []},
                                                                 *CHAT_DEFAULTS]),
         True, (SURROGATE,)),
    Kind("surrogate-v1", lambda s, n: post_v1(s, {"messages": [{"role": "user", "content": "hi \udfff"}]}),
         True, (r"^HTTP 400", r"messages\[0\] content", SURROGATE)),
    Kind("unknown-v1-param", lambda s, n: post_v1(s, {"messages": [{"role": "user", "content": "hi"}],
                                                      "temprature": 0.5}),
         True, (r"^HTTP 400", r"unknown parameter 'temprature'", r"\btemperature\b")),
    Kind("oversized-v1", lambda s, n: oversized_body(s, chunked=False), True, TOO_LARGE),
    Kind("oversized-v1-chunked", lambda s, n: oversized_body(s, chunked=True), True, TOO_LARGE),
]


# ---------------------------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Result:
    kind: str
    status: str        # "ok" (answered), "expected" (refused, naming the problem), "unexpected"
    seconds: float
    detail: str        # the refusal's message, or what went wrong


def run(kind: Kind, studio: Studio, n: int) -> Result:
    """Send one request of `kind` and judge what came back."""
    started = time.monotonic()
    try:
        answer = kind.send(studio, n)
    except Refused as refusal:
        seconds, text = time.monotonic() - started, str(refusal)
        if not kind.must_fail:
            return Result(kind.name, "unexpected", seconds, f"refused: {text}")
        missing = [p for p in kind.patterns if not re.search(p, text)]
        if missing:
            return Result(kind.name, "unexpected", seconds, f"refused without naming the problem ({missing}): {text}")
        return Result(kind.name, "expected", seconds, text)
    except Exception as error:  # noqa: BLE001 - any other failure is what the soak is looking for
        return Result(kind.name, "unexpected", time.monotonic() - started, f"{type(error).__name__}: {error}")
    seconds = time.monotonic() - started
    if kind.must_fail:
        return Result(kind.name, "unexpected", seconds, f"accepted, but must be refused: {str(answer)[:200]!r}")
    if not str(answer).strip():
        return Result(kind.name, "unexpected", seconds, "an empty answer")
    return Result(kind.name, "ok", seconds, str(answer)[:200])
