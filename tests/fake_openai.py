"""A small OpenAI-compatible HTTP server for tests: real sockets, the wire format the official SDK reads.

Start it with the `fake_openai` fixture (tests/conftest.py) and point a client at `fake.base_url`.

    fake.on("/v1/chat/completions", handler)   # handler(request_json) -> (status, body dict | bytes)
    fake.on_chat(lambda req: {"topic": "x"})    # shortcut: returns the assistant content, wrapped for you
    fake.queue("/v1/chat/completions", status=429)          # one-shot, FIFO, served before the handler
    fake.queue("/v1/chat/completions", delay=5.0)           # slow: sleeps, then answers from the handler
    fake.queue("/v1/chat/completions", body=b"not json")    # raw bytes go out as they are
    fake.requests                                # every request: .method, .path, .json, .headers

"/v1/images/generations" (b64 PNGs of the requested size) and "/v1/moderations" (nothing flagged) work out
of the box; "/v1/chat/completions" answers 404 until a test sets a handler.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = dict[str, Any] | list[Any] | bytes
Handler = Callable[[dict[str, Any]], tuple[int, Body]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    json: Any
    headers: dict[str, str]


@dataclass
class _Scripted:
    status: int
    body: Body | None
    delay: float
    headers: dict[str, str] = field(default_factory=dict)


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """The error envelope the SDK turns into RateLimitError, InternalServerError and friends."""
    kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found", 429: "rate_limit_exceeded"}
    kind = kinds.get(status, "server_error")
    return {"error": {"message": message or f"fake error {status}", "type": kind, "param": None, "code": kind}}


def chat_completion(
    content: str | dict[str, Any] | list[Any],
    model: str = "gpt-4o",
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A chat.completion body; dict/list content is sent as its JSON text (what structured output returns)."""
    text = content if isinstance(content, str) else json.dumps(content)
    return {
        "id": f"chatcmpl-fake{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def schema_name(request_json: dict[str, Any]) -> str | None:
    """The json_schema name a structured-output request asked for, so one handler can serve several schemas."""
    fmt = request_json.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name")


def png_bytes(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def _images_handler(request_json: dict[str, Any]) -> tuple[int, Body]:
    size = str(request_json.get("size") or "1024x1024")
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        return 400, error_body(400, f"bad size {size!r}")
    n = int(request_json.get("n") or 1)
    data = []
    for i in range(n):
        color = ((40 * i + 30) % 256, (90 + 60 * i) % 256, (200 - 25 * i) % 256)
        data.append(
            {
                "b64_json": base64.b64encode(png_bytes(width, height, color)).decode("ascii"),
                "revised_prompt": request_json.get("prompt"),
            }
        )
    return 200, {"created": int(time.time()), "data": data}


def _moderations_handler(request_json: dict[str, Any]) -> tuple[int, Body]:
    inputs = request_json.get("input")
    count = len(inputs) if isinstance(inputs, list) else 1
    names = ["harassment", "hate", "self-harm", "sexual", "sexual/minors", "violence", "violence/graphic"]
    result = {
        "flagged": False,
        "categories": {name: False for name in names},
        "category_scores": {name: 0.001 for name in names},
    }
    model = request_json.get("model") or "omni-moderation-latest"
    return 200, {"id": "modr-fake", "model": model, "results": [result] * count}


def _normalise(path: str) -> str:
    path = path.split("?", 1)[0].rstrip("/")
    if not path.startswith("/"):
        path = "/" + path
    if not path.startswith("/v1/"):
        path = "/v1" + path
    return path


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._handlers: dict[str, Handler] = {
            "/v1/images/generations": _images_handler,
            "/v1/moderations": _moderations_handler,
        }
        self._queues: dict[str, deque[_Scripted]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_request_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a scripted delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on(self, path: str, handler: Handler) -> None:
        self._handlers[_normalise(path)] = handler

    def on_chat(self, responder: Callable[[dict[str, Any]], str | dict[str, Any]], **usage: Any) -> None:
        """Chat handler from a function returning just the assistant content (str, or dict sent as JSON)."""

        def handler(request_json: dict[str, Any]) -> tuple[int, Body]:
            model = request_json.get("model", "gpt-4o")
            return 200, chat_completion(responder(request_json), model=model, **usage)

        self.on("/v1/chat/completions", handler)

    def queue(
        self,
        path: str,
        status: int = 200,
        body: Body | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """One-shot response. body=None: an error envelope for status >= 400, else the path's handler answers."""
        with self._lock:
            self._queues.setdefault(_normalise(path), deque()).append(_Scripted(status, body, delay, headers or {}))

    def calls(self, path: str) -> list[RecordedRequest]:
        path = _normalise(path)
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _respond(self, method: str, path: str, request_json: Any) -> tuple[int, Body, dict[str, str], float]:
        with self._lock:
            queue = self._queues.get(path)
            scripted = queue.popleft() if queue else None
        handler = self._handlers.get(path)
        if scripted is not None:
            if scripted.body is not None:
                return scripted.status, scripted.body, scripted.headers, scripted.delay
            if scripted.status >= 400:
                return scripted.status, error_body(scripted.status), scripted.headers, scripted.delay
        if handler is None:
            delay = scripted.delay if scripted else 0.0
            return 404, error_body(404, f"fake server has no handler for {method} {path}"), {}, delay
        try:
            status, body = handler(request_json if isinstance(request_json, dict) else {})
        except Exception as exc:  # a broken test handler should show up as a server error, not a hang
            status, body = 500, error_body(500, f"handler raised {exc!r}")
        if scripted is not None:
            return status, body, scripted.headers, scripted.delay
        return status, body, {}, 0.0


def _make_request_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                request_json = json.loads(raw) if raw else None
            except ValueError:
                request_json = None
            path = _normalise(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake._lock:
                fake.requests.append(RecordedRequest(self.command, path, request_json, headers))
            status, body, extra_headers, delay = fake._respond(self.command, path, request_json)
            if delay and fake._stopping.wait(delay):
                return
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to tell it

        do_GET = _handle
        do_POST = _handle
        do_DELETE = _handle

    return RequestHandler
