"""The ASGI guard on its own: auth, media type, body limits and model headers."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from serving.http import (
    ClientErrorFilter,
    GuardMiddleware,
    ModelHeaders,
    bearer_token_ok,
    declared_length,
    rejection_reason,
)

LIMIT = 100
JSON_TYPE = b"application/json"
API_ROUTES = frozenset({"/predict", "/explain"})


class Recorder:
    """A downstream app that records whether it ran and what body it received."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope, receive, send) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def call(guard, path="/predict", method="POST", headers=(), chunks=(b"",), content_type=JSON_TYPE):
    """One request through `guard`; `content_type` None sends no Content-Type header."""
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    media = [(b"content-type", content_type)] if content_type is not None else []
    scope = {"type": "http", "path": path, "method": method, "headers": [*media, *headers]}
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def guard(token=None, model_headers=None):
    app = Recorder()
    headers = model_headers or ModelHeaders()
    middleware = GuardMiddleware(
        app, token=token, max_body_bytes=LIMIT, model_headers=headers, json_routes=API_ROUTES
    )
    return middleware, app


def test_without_a_token_everything_passes():
    middleware, app = guard()
    status, _, _ = call(middleware, chunks=(b'{"a": 1}',))
    assert status == 200 and app.body == b'{"a": 1}'


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), (b"Bearer nope", 401), (b"Basic tok", 401), (b"Bearer tok", 200)],
)
def test_token_required_on_api_routes(authorization, status):
    middleware, app = guard(token="tok")
    headers = [(b"authorization", authorization)] if authorization else []
    got, response_headers, _ = call(middleware, headers=headers)
    assert got == status
    assert app.called == (status == 200)
    if status == 401:
        assert response_headers[b"www-authenticate"].startswith(b"Bearer")


@pytest.mark.parametrize("probe", ["/healthz", "/livez", "/readyz"])
def test_probes_are_open(probe):
    middleware, _ = guard(token="tok")
    assert call(middleware, path=probe, method="GET")[0] == 200


def test_declared_oversize_is_refused_without_calling_the_app():
    middleware, app = guard()
    status, _, body = call(middleware, headers=[(b"content-length", b"101")])
    assert status == 413 and not app.called
    assert "LES_MAX_BODY_BYTES" in json.loads(body)["error"]


def test_chunked_oversize_is_refused():
    middleware, app = guard()
    status, _, _ = call(middleware, chunks=(b"x" * 60, b"x" * 60))
    assert status == 413 and not app.called


def test_chunked_body_within_the_limit_is_replayed():
    middleware, app = guard()
    status, _, _ = call(middleware, chunks=(b"x" * 40, b"y" * 40))
    assert status == 200 and app.body == b"x" * 40 + b"y" * 40


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        (b"application/json", 200),
        (b"application/json; charset=utf-8", 200),
        (b"multipart/form-data", 415),
        (b"application/vnd.bentoml+pickle", 415),
        (None, 415),
    ],
)
def test_only_json_bodies(content_type, status):
    """A body without Content-Type too: BentoML would read it as JSON, though the document
    says the body must be declared application/json."""
    middleware, app = guard()
    assert call(middleware, content_type=content_type)[0] == status
    assert app.called == (status == 200)


@pytest.mark.parametrize("path", ["/livez", "/metrics", "/nowhere"])
def test_a_post_off_the_api_routes_is_left_to_bentoml(path):
    """A probe or an unknown path takes no body: BentoML answers 405 or 404, not 415."""
    middleware, app = guard()
    assert call(middleware, path=path, content_type=None)[0] == 200 and app.called


MODEL_HEADER_NAMES = (b"x-les-model-name", b"x-les-model-version", b"x-les-rulebook-version")


def test_model_headers_on_every_authenticated_response_once_loaded():
    model_headers = ModelHeaders()
    middleware, _ = guard(token="tok", model_headers=model_headers)
    authorised = [(b"authorization", b"Bearer tok")]
    assert b"x-les-model-version" not in call(middleware, headers=authorised)[1]
    model_headers.set("les-forecaster", "7", 2)
    _, headers, _ = call(middleware, headers=authorised)
    assert headers[b"x-les-model-name"] == b"les-forecaster"
    assert headers[b"x-les-model-version"] == b"7"
    assert headers[b"x-les-rulebook-version"] == b"2"
    status, headers, _ = call(middleware, headers=authorised, content_type=b"text/csv")
    assert status == 415 and headers[b"x-les-model-version"] == b"7"


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [
        ("/predict", None, 401),
        ("/explain", b"Bearer nope", 401),
        ("/docs.json", b"Basic tok", 401),
        ("/readyz", None, 200),
    ],
)
def test_unauthenticated_responses_do_not_name_the_model(path, authorization, status):
    """Which model and version is deployed is for clients holding the token."""
    model_headers = ModelHeaders()
    model_headers.set("les-forecaster", "7", 2)
    middleware, _ = guard(token="tok", model_headers=model_headers)
    headers = [(b"authorization", authorization)] if authorization else []
    got, response_headers, _ = call(middleware, path=path, headers=headers)
    assert got == status
    assert not set(MODEL_HEADER_NAMES) & set(response_headers)


def test_without_a_token_every_response_names_the_model():
    model_headers = ModelHeaders()
    model_headers.set("les-forecaster", "7", 2)
    middleware, _ = guard(model_headers=model_headers)
    assert call(middleware)[1][b"x-les-model-version"] == b"7"


class Rejecting:
    """A downstream app answering 400 the way BentoML answers a body that fails the schema."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": self.body[:10], "more_body": True})
        await send({"type": "http.response.body", "body": self.body[10:]})


def test_a_rejected_request_is_one_warning_line_with_its_reason(caplog):
    answer = {
        "error": "1 validation error for PredictRequest",
        "detail": [
            {"loc": ["merchants", 0, "merchant_id"], "msg": "Input should be a valid string"}
        ],
    }
    middleware = GuardMiddleware(
        Rejecting(json.dumps(answer).encode()),
        token=None,
        max_body_bytes=LIMIT,
        model_headers=ModelHeaders(),
        json_routes=API_ROUTES,
    )
    with caplog.at_level(logging.INFO):
        assert call(middleware)[0] == 400
    assert [(r.name, r.levelno, r.exc_info) for r in caplog.records] == [
        ("les.serving", logging.WARNING, None)
    ]
    assert caplog.records[0].getMessage() == (
        "rejected POST /predict: 400 1 validation error for PredictRequest: "
        "merchants.0.merchant_id: Input should be a valid string"
    )


def test_the_guard_logs_its_own_refusals(caplog):
    middleware, _ = guard(token="tok")
    with caplog.at_level(logging.INFO):
        call(middleware)
        call(middleware, path="/livez", method="GET")
    assert [r.getMessage()[:27] for r in caplog.records] == ["rejected POST /predict: 401"]


def test_the_reason_is_printable_and_short():
    """A field name is the client's text: a newline in it must not forge a second log line."""
    hostile = json.dumps({"error": "unknown feature names ['a\nFAKE [ERROR] b" + "x" * 999 + "']"})
    reason = rejection_reason(hostile.encode())
    assert reason.startswith("unknown feature names ['a\\nFAKE [ERROR] bxxx")
    assert reason.isprintable() and len(reason) == 303 and reason.endswith("...")
    assert rejection_reason(b"not json\x00") == "not json\\x00"
    assert rejection_reason(b'[{"error": "pickle not allowed"}]') == "pickle not allowed"


def _record(error: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "bentoml._internal.server.http_app",
        logging.ERROR,
        __file__,
        1,
        "Exception on /predict [POST]",
        (),
        (type(error), error, None),
    )


def test_bentoml_client_errors_are_dropped_server_errors_kept():
    from bentoml.exceptions import BadInput, InternalServerError
    from pydantic import BaseModel, ValidationError

    class Body(BaseModel):
        n: int

    try:
        Body.model_validate({"n": "x"})
    except ValidationError as error:
        invalid = error
    keep = ClientErrorFilter().filter
    assert not keep(_record(invalid))
    assert not keep(_record(BadInput("bad")))
    assert keep(_record(InternalServerError("boom")))
    assert keep(_record(RuntimeError("bug")))


def test_header_parsing():
    assert declared_length([(b"Content-Length", b"12")]) == 12
    assert declared_length([(b"content-length", b"twelve")]) == -1
    assert declared_length([]) is None
    assert bearer_token_ok([(b"Authorization", b"bearer tok")], b"tok")
    assert not bearer_token_ok([(b"authorization", b"Bearer tok2")], b"tok")
