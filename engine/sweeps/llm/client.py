"""A small client for OpenAI-compatible chat endpoints (Ollama, llama.cpp's server, vLLM, LM
Studio): one POST to `<base_url>/chat/completions`, with a timeout, retried with backoff.

Standard library only (urllib): an offline workbench should not need an SDK to talk to a
server on localhost. Errors worth retrying (HTTP 5xx, 408, 429, a timeout, a refused or reset
connection, a body that is not the JSON the API promises) are retried settings.retries times,
waiting settings.backoff_s, then twice that, and so on; the others (401, 404, ...) fail at
once with a message naming the URL and what it answered.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from engine.sweeps.endpoint import LlmSettings
from engine.sweeps.errors import SweepError

RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# An answer longer than this is not a proposal: read no more (a server gone wrong).
MAX_ANSWER_BYTES = 1 << 20
REACH_S = 10.0  # the longest a reachability check waits
POLL_S = 0.05  # how often a wait looks at the sweep's stop event
LogFn = Callable[[dict[str, Any]], None]


class LlmError(SweepError):
    """The endpoint could not be used (after retries, where retrying could help)."""


class LlmStopped(LlmError):
    """The sweep was stopped while the client waited (for an answer, or to try again)."""


class _Retry(Exception):
    """One failed attempt that another may mend."""


class ChatClient:
    """Asks one endpoint for chat completions; `log` hears every attempt and failure."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        log: LogFn | None = None,
        cancel: Any = None,
    ) -> None:
        if not settings.base_url:
            settings.require()  # SweepError saying how to set an endpoint
        self.settings = settings  # listing models needs no model; `complete` does
        self.retries, self.backoff_s = self.settings.retries, self.settings.backoff_s
        self.log = log or (lambda _event: None)
        self.cancel = cancel if cancel is not None else threading.Event()
        self.url = f"{self.settings.base_url}/chat/completions"
        self._format = 0  # the first response_format form to try (see `complete`)

    # ---- the calls -------------------------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None,
        seed: int | None = None,
        temperature: float = 0.0,
    ) -> str:
        """The assistant's text for `messages`, asked at `temperature` (0: the same prompt
        tends to get the same answer) and with `seed` for servers that take one. With
        `schema`, the server is asked for JSON matching it, in the first `response_format`
        it takes: OpenAI's `json_schema` (vLLM, LM Studio, Ollama, llama.cpp's server), then
        `json_object` with the schema (llama-cpp-python's server, which answers a
        `json_schema` with HTTP 500), then none — the prompt carries the schema too. The
        form that worked is kept for the next calls."""
        self.settings.require()
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": temperature,
            "stream": False,
        }
        if seed is not None:
            body["seed"] = seed
        formats = _response_formats(schema)[self._format :]
        for offset, response_format in enumerate(formats):
            if response_format is None:
                body.pop("response_format", None)
            else:
                body["response_format"] = response_format
            try:
                answer = self._with_retries(lambda: self._post(body))
            except _FormatRefused as refused:
                kind = response_format["type"] if response_format else "none"
                self.log({"event": "format_refused", "format": kind, "error": str(refused)})
                continue
            self._format += offset
            break
        else:  # pragma: no cover - the last form sends no response_format: never refused
            raise LlmError(f"{self.url} refused every response_format")
        try:
            return str(answer["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise LlmError(
                f"{self.url} answered without choices[0].message.content: "
                f"{_excerpt(json.dumps(answer))}"
            ) from None

    def list_models(self) -> list[str]:
        """The model ids `<base_url>/models` lists (a connection check for Preferences)."""
        url = f"{self.settings.base_url}/models"
        answer = self._with_retries(lambda: self._request(url, None))
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise LlmError(f"{url} did not list models (no `data` list in its answer)")
        return [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]

    # ---- plumbing --------------------------------------------------------------------------
    def _with_retries(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                return self._unless_stopped(call)
            except _Retry as failure:
                self.log({"event": "api_error", "attempt": attempt + 1, "error": str(failure)})
                if attempt == self.retries:
                    raise LlmError(
                        f"the LLM endpoint {self.settings.base_url} failed "
                        f"{self.retries + 1} times: {failure}"
                    ) from None
                self._wait(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _unless_stopped(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`call()` on a daemon thread, given up (LlmStopped) as soon as the sweep is
        stopped: a slow model must not keep Stop or Quit waiting for its timeout."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = call()
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=target, name="llm-request", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(POLL_S)
            if thread.is_alive() and self.cancel.is_set():
                raise LlmStopped("stopped while waiting for the LLM's answer")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.cancel.is_set():
                raise LlmStopped("stopped while waiting to ask the LLM again")
            time.sleep(min(POLL_S, left))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._request(self.url, body)

    def _request(self, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        key = self.settings.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(url, data=data, headers=headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            detail = _excerpt(_read_quietly(exc))
            if body is not None and "response_format" in body and _names_format(detail):
                raise _FormatRefused(f"HTTP {exc.code}: {detail}") from None
            if exc.code in RETRIED_STATUSES:
                raise _Retry(f"HTTP {exc.code} from {url}: {detail}") from None
            raise LlmError(_refusal(url, exc.code, detail, self.settings)) from None
        except TimeoutError:
            raise _Retry(
                f"no answer from {url} within {self.settings.timeout_s:g} s (timeout)"
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise _Retry(
                    f"no answer from {url} within {self.settings.timeout_s:g} s (timeout)"
                ) from None
            raise _Retry(f"cannot reach {url}: {reason}") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise _Retry(f"the connection to {url} failed: {type(exc).__name__}: {exc}") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise LlmError(f"{url} answered more than {MAX_ANSWER_BYTES} bytes; not a proposal")
        self.log({"event": "http_ok", "url": url, "seconds": round(time.monotonic() - started, 3)})
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Retry(f"{url} answered something that is not JSON: {_excerpt(raw)}") from None
        if not isinstance(answer, dict):
            raise _Retry(f"{url} answered JSON that is not an object: {_excerpt(raw)}")
        return answer


def check_reachable(settings: LlmSettings) -> None:
    """LlmError naming the URL when nothing answers at the endpoint (refused, no such host,
    no answer in time): checked before an LLM search is created. Any HTTP answer counts as
    reachable (a server without GET /models still serves chat)."""
    url = f"{settings.base_url}/models"
    headers = {"Accept": "application/json"}
    key = settings.api_key()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=min(settings.timeout_s, REACH_S)):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise LlmError(
            f"cannot reach the LLM endpoint {settings.base_url} ({url}: {reason}); is its "
            "server running? Set another with `trainwright llm set --url URL` or in "
            "Preferences"
        ) from None


class _FormatRefused(Exception):
    """The server does not take this `response_format`; ask again with the next form."""


def _names_format(detail: str) -> bool:
    """Whether an error's text is about the response_format field (any status: servers
    answer 400, 422 or even 500)."""
    return "response_format" in detail or "json_schema" in detail


def _response_formats(schema: dict[str, Any] | None) -> list[dict[str, Any] | None]:
    """The forms of asking for JSON matching `schema`, most widely understood first."""
    if schema is None:
        return [None]
    return [
        {
            "type": "json_schema",
            "json_schema": {"name": "proposal", "schema": schema, "strict": True},
        },
        {"type": "json_object", "schema": schema},
        None,
    ]


def _refusal(url: str, code: int, detail: str, settings: LlmSettings) -> str:
    if code in (401, 403):
        where = (
            f"the key in ${settings.api_key_env}"
            if settings.api_key_env
            else "no API key (set one's variable with `trainwright llm set --api-key-env VAR`)"
        )
        return f"{url} refused the request (HTTP {code}) with {where}: {detail}"
    if code == 404:
        return (
            f"{url} answered HTTP 404: is {settings.base_url} the server's OpenAI-compatible "
            f"base URL (often ending in /v1), and does it serve model {settings.model!r}? {detail}"
        )
    return f"{url} refused the request (HTTP {code}): {detail}"


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(4096)
    except Exception:
        return b""


def _excerpt(data: bytes | str, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["ChatClient", "LlmError", "LlmStopped", "check_reachable"]
