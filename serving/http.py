"""ASGI guard in front of every route: bearer-token auth, a body-size limit, model headers, and
one WARNING line per rejected request.

Plain ASGI (no framework) so it runs before BentoML reads or parses a byte of the body: an
oversized or unauthorised request costs the worker nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Probes stay open so an orchestrator needs no secret to ask whether the service is alive.
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
# The merchant console (/ui): its sign-in page and its static files need no token (they hold no
# data); its other routes also accept the token from the cookie the sign-in page sets.
CONSOLE_PREFIX = "/ui"
CONSOLE_OPEN_PATHS = frozenset({"/ui/login", "/ui/static/console.css"})
CONSOLE_COOKIE = "les_token"
JSON_MEDIA_TYPE = b"application/json"
LOGGER = logging.getLogger("les.serving")
# BentoML's own logger for exceptions raised while answering a request (`log_exception`).
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
REJECTION_BODY_BYTES = 4096  # of a 4xx body, read for the log line's reason
REASON_CHARS = 300


@dataclass
class ModelHeaders:
    """Filled once the worker has loaded its model; every response then names it."""

    items: list[tuple[bytes, bytes]] = field(default_factory=list)

    def set(self, name: str, version: str, rulebook_version: int) -> None:
        self.items = [
            (b"x-les-model-name", name.encode()),
            (b"x-les-model-version", version.encode()),
            (b"x-les-rulebook-version", str(rulebook_version).encode()),
        ]


def bearer_token_ok(headers: list[tuple[bytes, bytes]], token: bytes) -> bool:
    """Constant-time comparison of `Authorization: Bearer <token>`."""
    for key, value in headers:
        if key.lower() == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token)
    return False


def cookie_token_ok(headers: list[tuple[bytes, bytes]], token: bytes) -> bool:
    """Constant-time comparison of the console's `les_token` cookie."""
    for key, value in headers:
        if key.lower() == b"cookie":
            for part in value.split(b";"):
                name, _, credentials = part.strip().partition(b"=")
                if name == CONSOLE_COOKIE.encode():
                    return hmac.compare_digest(credentials, token)
    return False


def is_console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def media_type_ok(headers: list[tuple[bytes, bytes]]) -> bool:
    """Bodies are JSON: BentoML would hand a multipart or pickle body to other parsers, and
    reads a body without Content-Type as JSON, which the document says it must declare."""
    for key, value in headers:
        if key.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() == JSON_MEDIA_TYPE
    return False


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """Content-Length as a number; None when absent; -1 when it is not a number."""
    for key, value in headers:
        if key.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else -1
    return None


async def json_reply(
    send: Send, status: int, message: str, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        model_headers: ModelHeaders,
        json_routes: frozenset[str],
    ) -> None:
        self.app = app
        # Only the API routes take a body; a POST elsewhere gets BentoML's 404 or 405.
        self.json_routes = json_routes
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.model_headers = model_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        path = scope["path"]
        authenticated = self.token is None or bearer_token_ok(headers, self.token)
        if not authenticated and is_console(path):
            authenticated = cookie_token_ok(headers, self.token)
        send = self._responding(scope, send, authenticated)
        if not authenticated and path in CONSOLE_OPEN_PATHS:
            authenticated = True  # a page with no data: the sign-in form and its style sheet
        if not authenticated and is_console(path) and not path.startswith("/ui/api"):
            await send(
                {"type": "http.response.start", "status": 303,
                 "headers": [(b"location", b"/ui/login"), (b"content-length", b"0")]}
            )  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        if not authenticated and path not in OPEN_PATHS:
            await json_reply(
                send,
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer <LES_API_TOKEN>'",
                ((b"www-authenticate", b'Bearer realm="les"'),),
            )
            return
        if (
            scope["method"] == "POST"
            and scope["path"] in self.json_routes
            and not media_type_ok(headers)
        ):
            await json_reply(send, 415, "send the body as JSON (Content-Type: application/json)")
            return
        length = declared_length(headers)
        if length == -1:
            await json_reply(send, 400, "Content-Length is not a number")
            return
        if length is not None and length > self.max_body_bytes:
            await self._too_large(send)
            return
        if length is None:
            body, complete = await _read_at_most(receive, self.max_body_bytes)
            if not complete:
                await self._too_large(send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _too_large(self, send: Send) -> None:
        await json_reply(
            send,
            413,
            f"request body over {self.max_body_bytes} bytes (LES_MAX_BODY_BYTES); split the batch",
        )

    def _responding(self, scope: Scope, send: Send, authenticated: bool) -> Send:
        """`send` that names the model to authenticated clients only (a caller without the token
        learns nothing about what is deployed), and logs a 4xx answer as one WARNING line."""
        rejection: list[bytes] = []
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if authenticated and self.model_headers.items:
                    message["headers"] = [*message.get("headers", []), *self.model_headers.items]
            elif message["type"] == "http.response.body" and 400 <= status < 500:
                if sum(map(len, rejection)) < REJECTION_BODY_BYTES:
                    rejection.append(message.get("body", b""))
                if not message.get("more_body", False):
                    log_rejection(scope, status, b"".join(rejection))
            await send(message)

        return sending


def log_rejection(scope: Scope, status: int, body: bytes) -> None:
    """One line per rejected request: the client's mistake is not the service's error, and a
    traceback per bad request lets anyone with a fuzzer fill the disk."""
    LOGGER.warning(
        "rejected %s %s: %d %s", scope["method"], scope["path"], status, rejection_reason(body)
    )


def rejection_reason(body: bytes) -> str:
    """The answer's `error` and its first `detail` location and message, printable and short
    (field names in it are the client's text)."""
    raw = body[:REJECTION_BODY_BYTES].decode("utf-8", "replace")
    try:
        answer = json.loads(raw)
    except ValueError:
        return _printable(raw)
    if isinstance(answer, list) and answer and isinstance(answer[0], dict):
        answer = answer[0]
    if not isinstance(answer, dict):
        return _printable(raw)
    reason = str(answer.get("error", ""))
    detail = answer.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        reason = f"{reason}: {where}: {first.get('msg', '')}"
    return _printable(reason)


def _printable(text: str) -> str:
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escaped if len(escaped) <= REASON_CHARS else f"{escaped[:REASON_CHARS]}..."


class ClientErrorFilter(logging.Filter):
    """Drops BentoML's ERROR-with-traceback for a request it answers with a 4xx (a body that
    fails the schema, or a BentoML client error): the guard logs that request once instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        from bentoml.exceptions import BentoMLException
        from pydantic import ValidationError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            return False
        if isinstance(error, BentoMLException):
            return not 400 <= int(error.error_code) < 500
        return True


def quiet_client_errors() -> None:
    """Install `ClientErrorFilter` on BentoML's request logger, once per process."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
        logger.addFilter(ClientErrorFilter())


async def _read_at_most(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """A body without Content-Length (chunked), read until its end or past `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body to the app once, then fall back to the real channel."""
    sent = False

    async def receiving() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receiving
