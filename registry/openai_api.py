"""An OpenAI-compatible HTTP API over the engines of stored artifacts (`zoo serve`).

`GET /v1/models`, `POST /v1/chat/completions` and `POST /v1/completions`, as the official clients
speak them: `stream: true` answers as server-sent events ending in `data: [DONE]`, errors in
OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`) with the matching status. A
request is untrusted input: its body must announce its length and stay under MAX_BODY_BYTES,
its messages under MAX_MESSAGES, and every field is checked before an engine sees it. With an API
key, every request must carry it (`Authorization: Bearer KEY`, compared in constant time); the key
is never logged.
"""

from __future__ import annotations

import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .engines import EngineBusy, EngineFailed, EnginePool

MAX_BODY_BYTES = 1 << 20
MAX_MESSAGES = 256
MAX_STOPS = 4
ROLES = ("system", "user", "assistant")


class ApiError(Exception):
    """A request zoo answers with an error: the status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


# ------------------------------------------------------------------ what a request asks for


def completion_request(body: dict, kind: str, contexts: dict[str, int]) -> dict:
    """The engine request a chat or completion body asks for, every field checked (ApiError otherwise)."""
    model = body.get("model")
    if not isinstance(model, str) or model not in contexts:
        raise ApiError(404, f"The model {str(model)[:100]!r} does not exist here; GET /v1/models lists those served.",
                       "invalid_request_error", "model", "model_not_found")
    if body.get("n", 1) != 1:
        raise ApiError(400, "Only n = 1 is supported.", param="n")
    request: dict[str, Any] = {"kind": kind, "stream": _boolean(body, "stream")}
    if kind == "chat":
        request["messages"] = _messages(body.get("messages"))
    else:
        request["prompt"] = _prompt(body.get("prompt"))
    context = contexts[model]
    wanted = body.get("max_completion_tokens", body.get("max_tokens"))
    request["max_tokens"] = min(256, context) if wanted is None else _number(wanted, "max_tokens", int, 1, context)
    request["temperature"] = _optional(body, "temperature", float, 0.0, 2.0)
    request["top_p"] = _optional(body, "top_p", float, 0.0, 1.0)
    request["top_k"] = _optional(body, "top_k", int, 1, 1000)
    request["seed"] = _optional(body, "seed", int, 0, 2**31 - 1)
    request["stop"] = _stops(body.get("stop"))
    return {"model": model, **request}


def _messages(messages: Any) -> list[dict]:
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        raise ApiError(400, f"messages must be a list of 1 to {MAX_MESSAGES} messages.", param="messages")
    out = []
    for number, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ApiError(400, f"messages[{number}] needs a role: one of {', '.join(ROLES)}.", param=f"messages[{number}]")
        out.append({"role": message["role"], "content": _content(message.get("content"), number)})
    if out[-1]["role"] != "user":
        raise ApiError(400, "The last message must be the user's: that is what the model answers.", param="messages")
    return out


def _content(content: Any, number: int) -> str:
    """A message's text: a string, or a list of text parts (other parts, images say, are refused)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ApiError(400, f"messages[{number}].content must be text (a string, or a list of text parts).",
                   param=f"messages[{number}].content")


def _prompt(prompt: Any) -> str:
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "prompt must be one non-empty string.", param="prompt")
    return prompt


def _stops(stop: Any) -> list[str]:
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(isinstance(s, str) and 0 < len(s) <= 64
                                                                         for s in stops):
        raise ApiError(400, f"stop must be a string or up to {MAX_STOPS} strings of 1 to 64 characters.", param="stop")
    return stops


def _boolean(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false.", param=name)
    return value


def _optional(body: dict, name: str, kind: type, low: float, high: float):
    value = body.get(name)
    return None if value is None else _number(value, name, kind, low, high)


def _number(value: Any, name: str, kind: type, low: float, high: float):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ApiError(400, f"{name} must be a{'n integer' if kind is int else ' number'}.", param=name)
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low:g} and {high:g}; it is {value}.", param=name)
    return kind(value)


# ------------------------------------------------------------------ answers in OpenAI's shapes


def answer_body(request: dict, answer_id: str, text: str, done: dict, created: int) -> dict:
    usage = None
    if done.get("prompt_tokens") is not None:
        usage = {"prompt_tokens": done["prompt_tokens"], "completion_tokens": done["completion_tokens"],
                 "total_tokens": done["prompt_tokens"] + done["completion_tokens"]}
    if request["kind"] == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": done["finish_reason"]}
        return {"id": f"chatcmpl-{answer_id}", "object": "chat.completion", "created": created,
                "model": request["model"], "choices": [choice], "usage": usage}
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": done["finish_reason"]}
    return {"id": f"cmpl-{answer_id}", "object": "text_completion", "created": created, "model": request["model"],
            "choices": [choice], "usage": usage}


def chunk_body(request: dict, answer_id: str, created: int, text: str | None, finish_reason: str | None,
               first: bool = False) -> dict:
    if request["kind"] == "chat":
        delta: dict[str, str] = {"role": "assistant", "content": ""} if first else {}
        if text is not None:
            delta["content"] = text
        return {"id": f"chatcmpl-{answer_id}", "object": "chat.completion.chunk", "created": created,
                "model": request["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
    return {"id": f"cmpl-{answer_id}", "object": "text_completion", "created": created, "model": request["model"],
            "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}]}


# ------------------------------------------------------------------ the server


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], pool: EnginePool, models: list[dict], api_key: str | None,
                 on_request: Callable[[str], None]) -> None:
        super().__init__(address, ApiHandler)
        self.pool, self.models, self.api_key, self.on_request = pool, models, api_key, on_request
        self.contexts = {m["id"]: pool.servables[m["id"]].context for m in models}


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # each request is reported once, by _report, without its headers

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._post)

    def _handle(self, action: Callable[[], int]) -> None:
        started = time.monotonic()
        status = 500
        try:
            self._authorize()
            status = action()
        except ApiError as error:
            status = error.status
            self._send_json(error.status, error.body())
        except (BrokenPipeError, ConnectionResetError):
            status = 499  # the client went away
        except Exception as exc:  # noqa: BLE001 - a bug here must still answer, not drop the connection
            status = 500
            self.close_connection = True
            try:
                self._send_json(500, ApiError(500, f"zoo serve failed on this request ({type(exc).__name__}); the "
                                              "server goes on. Please report it.", "server_error").body())
            except OSError:
                pass
        self._report(status, time.monotonic() - started)

    def _authorize(self) -> None:
        key = self.server.api_key
        if key is None:
            return
        given = self.headers.get("Authorization", "")
        token = given[7:] if given.startswith("Bearer ") else ""
        if not hmac.compare_digest(token.encode(), key.encode()):
            raise ApiError(401, "A valid API key is required: send it as `Authorization: Bearer KEY`.",
                           "authentication_error", code="invalid_api_key")

    def _get(self) -> int:
        path = self.path.split("?", 1)[0].rstrip("/")
        models = {m["id"]: m for m in self.server.models}
        if path == "/v1/models":
            self._send_json(200, {"object": "list", "data": self.server.models})
        elif path.startswith("/v1/models/") and path[len("/v1/models/"):] in models:
            self._send_json(200, models[path[len("/v1/models/"):]])
        elif path.startswith("/v1/models/"):
            raise ApiError(404, "No such model is served here.", code="model_not_found")
        else:
            raise ApiError(404, f"Unknown path {path[:100]}: zoo serves /v1/models, /v1/chat/completions and "
                           "/v1/completions.", code="not_found")
        return 200

    def _post(self) -> int:
        path = self.path.split("?", 1)[0].rstrip("/")
        kinds = {"/v1/chat/completions": "chat", "/v1/completions": "completion"}
        if path not in kinds:
            raise ApiError(404, f"Unknown path {path[:100]}: POST /v1/chat/completions or /v1/completions.",
                           code="not_found")
        request = completion_request(self._read_json(), kinds[path], self.server.contexts)
        request["id"] = self.server.pool.next_id()
        request["context"] = self.server.contexts[request["model"]]
        events = self.server.pool.answer(request["model"], request)
        return self._stream(request, events) if request["stream"] else self._whole(request, events)

    def _read_json(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ApiError(411, "The request must say its length (Content-Length).")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the body is left unread
            raise ApiError(413, f"The request body has {length} bytes; zoo takes at most {MAX_BODY_BYTES}.")
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "The request body is not JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def _whole(self, request: dict, events) -> int:
        pieces, done = [], {}
        try:
            for event in events:
                if event["event"] == "text":
                    pieces.append(str(event.get("text", "")))
                else:
                    done = event
        except (EngineBusy, EngineFailed) as failure:
            raise _api_error(failure) from None
        self._send_json(200, answer_body(request, request["id"], "".join(pieces), done, int(time.time())))
        return 200

    def _stream(self, request: dict, events) -> int:
        """Server-sent events: the headers go once the engine's first word (or failure) is known, so a
        refused request still gets its status."""
        created = int(time.time())
        try:
            first = next(events)
        except (EngineBusy, EngineFailed) as failure:
            raise _api_error(failure) from None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self._event(chunk_body(request, request["id"], created, None, None, first=True))
            for event in _chain(first, events):
                if event["event"] == "text":
                    self._event(chunk_body(request, request["id"], created, str(event.get("text", "")), None))
                else:
                    self._event(chunk_body(request, request["id"], created, None, event["finish_reason"]))
        except (EngineBusy, EngineFailed) as failure:
            self._event(_api_error(failure).body())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        return 200

    def _event(self, data: dict) -> None:
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, data: dict) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _report(self, status: int, seconds: float) -> None:
        self.server.on_request(f"{self.command} {self.path.split('?', 1)[0][:100]} {status} {seconds:.2f} s")


def _chain(first, rest):
    yield first
    yield from rest


def _api_error(failure: Exception) -> ApiError:
    message = f"{failure.message} {failure.fix or ''}".strip()
    if isinstance(failure, EngineBusy):
        return ApiError(503, message, "server_error", code="engine_busy")
    if getattr(failure, "invalid_request", False):
        return ApiError(400, message)
    return ApiError(500, message, "server_error", code="engine_failed")
