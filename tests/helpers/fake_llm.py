"""A real local HTTP server that speaks enough of the OpenAI chat API for LLM-search tests.

It serves `POST /v1/chat/completions` from a script of canned replies, one per request, then
from `default` (a function of the request's body) once the script runs out, and `GET
/v1/models`. Every request body is kept in `requests`, so a test can read the prompts.

    with FakeLlm([Reply.status(500), Reply.text("not json"), Reply.proposal({...})]) as llm:
        settings = llm.settings()   # an LlmSettings pointing at it, fast retries
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.sweeps.endpoint import LlmSettings

MODEL = "fake-model"


@dataclass(frozen=True)
class Reply:
    """One canned reply: an HTTP status with a body, after an optional delay."""

    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0

    @staticmethod
    def text(content: str, delay_s: float = 0.0) -> Reply:
        """A completion whose assistant message is `content`."""
        return Reply(200, json.dumps(completion(content)).encode(), delay_s)

    @staticmethod
    def proposal(values: dict[str, Any], reason: str = "a canned proposal") -> Reply:
        return Reply.text(json.dumps({**values, "reason": reason}))

    @staticmethod
    def error(status: int) -> Reply:
        return Reply(status, json.dumps({"error": {"message": f"canned {status}"}}).encode())

    @staticmethod
    def slow(seconds: float, values: dict[str, Any]) -> Reply:
        """A valid proposal that comes after `seconds` (longer than the client's timeout)."""
        return Reply(200, Reply.proposal(values).body, seconds)


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


class FakeLlm:
    """The server, on 127.0.0.1 and a free port, for the duration of a `with` block."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        default: Callable[[dict[str, Any]], Reply] | None = None,
        *,
        serve_models: bool = True,
    ) -> None:
        self.script = list(script)
        self.default = default
        self.serve_models = serve_models
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def settings(self, **changes: Any) -> LlmSettings:
        """Settings for this server: short timeout, three retries with a tiny backoff."""
        values = {"base_url": self.base_url, "model": MODEL, "timeout_s": 2.0, "backoff_s": 0.01}
        return LlmSettings(**{**values, **changes})

    def chats(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("path", "").endswith("/chat/completions")]

    def __enter__(self) -> FakeLlm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        if self.default is None:
            return Reply.error(503)
        return self.default(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet in test output
                pass

            def do_GET(self) -> None:
                fake.requests.append({"path": self.path, "method": "GET"})
                if self.path.rstrip("/").endswith("/models") and fake.serve_models:
                    self._send(200, json.dumps({"data": [{"id": MODEL}]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                body["path"] = self.path
                body["authorization"] = self.headers.get("Authorization")
                fake.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, b'{"error": "not found"}')
                    return
                reply = fake._next_reply(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(reply.status, reply.body)

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        return Handler


def prompt_of(body: dict[str, Any]) -> str:
    """The text of a chat request's messages."""
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def trial_number(body: dict[str, Any]) -> int:
    """The trial (1-based) a chat request asks for ("Propose trial N.")."""
    text = prompt_of(body)
    marker = "Propose trial "
    start = text.rfind(marker) + len(marker)
    return int(text[start:].split(".", 1)[0])


def cycling(proposals: list[dict[str, Any]]) -> Callable[[dict[str, Any]], Reply]:
    """A default that answers trial N with proposals[(N - 1) % len]."""

    def answer(body: dict[str, Any]) -> Reply:
        return Reply.proposal(proposals[(trial_number(body) - 1) % len(proposals)])

    return answer
