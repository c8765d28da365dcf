"""Stub servers on 127.0.0.1 for tests, started and stopped inside a test: a SearXNG-compatible search engine with
pages to fetch, and an OpenAI-compatible engine that records what it is sent. Not a test module itself."""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

Route = Callable[[BaseHTTPRequestHandler, dict], tuple[int, str, bytes] | None]


@contextmanager
def serve(route: Route) -> Iterator[tuple[str, list[dict]]]:
    """(base URL, requests seen: {"method", "path", "query", "body"}) of a server answering with `route`, which
    returns (status, content type, body) or writes the answer itself and returns None."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, method: str):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = {"method": method, "path": parts.path, "query": parse_qs(parts.query),
                       "body": json.loads(self.rfile.read(length)) if length else None}
            seen.append(request)
            answer = route(self, request)
            if answer is not None:
                status, kind, body = answer
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def do_GET(self):
            self._answer_unless_gone("GET")

        def do_POST(self):
            self._answer_unless_gone("POST")

        def _answer_unless_gone(self, method: str):
            try:
                self._answer(method)
            except (BrokenPipeError, ConnectionResetError):
                pass                      # the client stopped waiting (a time limit under test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


# ---- a SearXNG-compatible engine and the pages it lists ----

PAGES = {
    "/pages/zebra": ("Zebra parser handbook", "<html><head><title>Zebra parser handbook</title>"
                     "<script>var secret = 'not text';</script></head><body><nav>Home</nav><h1>The zebra parser</h1>"
                     "<p>The zebra parser reads striped tables in 40 milliseconds and writes them as JSON.</p>"
                     "<p>It was written in 2019 by the Okapi team.</p></body></html>"),
    "/pages/okapi": ("Okapi team", "<html><head><title>Okapi team</title></head><body><p>The Okapi team keeps the "
                     "zebra parser and the giraffe linter.</p></body></html>"),
}
SLOW_S = 3.0


def searxng_route(results: list[str]) -> Route:
    """/search?format=json lists `results` (paths on this server) with snippets; /pages/… serve PAGES, /slow
    answers after SLOW_S seconds, /big sends 3 MB, /redirect leads to /pages/zebra, /redirect-to-file to a file:
    address."""
    def route(handler, request):
        base = f"http://127.0.0.1:{handler.server.server_address[1]}"
        if request["path"] == "/search":
            if request["query"].get("format") != ["json"]:
                return 403, "text/plain", b"json format is not enabled"
            listed = [{"url": base + path, "title": PAGES.get(path, ("", ""))[0] or path.strip("/"),
                       "content": f"snippet of {path}"} for path in results]
            return 200, "application/json", json.dumps({"query": request["query"]["q"][0],
                                                        "results": listed}).encode()
        if request["path"] in PAGES:
            return 200, "text/html; charset=utf-8", PAGES[request["path"]][1].encode()
        if request["path"] == "/slow":
            time.sleep(SLOW_S)
            return 200, "text/html", b"<p>zebra parser, too late</p>"
        if request["path"] == "/big":
            return 200, "text/plain", b"zebra " * 500_000
        if request["path"].startswith("/redirect"):
            target = "file:///etc/passwd" if request["path"] == "/redirect-to-file" else base + "/pages/zebra"
            handler.send_response(302)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        return 404, "text/plain", b"no such page"
    return route


# ---- an OpenAI-compatible engine ----

def openai_engine_route(reply: Callable[[dict], str], model: str = "stub-model") -> Route:
    """/v1/models lists `model`; /v1/chat/completions streams reply(request body) in a few pieces."""
    def route(handler, request):
        if request["path"] == "/v1/models":
            return 200, "application/json", json.dumps({"object": "list", "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": "tests", "max_model_len": 8192}]}).encode()
        if request["path"] != "/v1/chat/completions":
            return 404, "application/json", b'{"error": {"message": "no such route"}}'
        text = reply(request["body"])
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        pieces = [text[k:k + 7] for k in range(0, len(text), 7)]
        for piece in pieces:
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
                 "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}}
        handler.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        return None
    return route
