"""The OpenAPI document at /docs.json, corrected to say what the service really answers.

BentoML documents every API with its generic errors: a 400 whose `detail` is a string (it is
the list of pydantic errors, or the rejected rows), an optional request body (an empty one is a
400), and nothing of what the guard (serving.http) answers before BentoML sees the request:
401, 413 and 415. A client generated from that document, or a conformance fuzzer, is misled, so
the document is rewritten once per worker and served in BentoML's place.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from serving.http import Receive, Scope, Send

DOCUMENT_PATH = "/docs.json"
SCHEMA_REF = "#/components/schemas/{}"

# Every 4xx body carries `error`; a 400 from schema or contract validation adds `detail`, one
# object per problem (pydantic's {type, loc, msg, url}, or a rejected order row's reasons).
BAD_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "BadRequest",
    "description": "The body is not valid JSON, breaks the request schema or the order contract.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "title": "Message"},
        "detail": {
            "type": "array",
            "title": "Error Detail",
            "items": {"type": "object"},
            "description": "One entry per problem, naming where it is (loc, row, field).",
        },
    },
}
GUARD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Refused",
    "description": "Refused before the body is read.",
    "required": ["error"],
    "properties": {"error": {"type": "string", "title": "Message"}},
}
BEARER_SCHEME = "bearer"


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": SCHEMA_REF.format(schema)}}},
    }


UNAUTHORISED = _response("Missing or wrong bearer token (LES_API_TOKEN).", "Refused")
# What the guard answers on every POST, before BentoML reads the body.
GUARD_RESPONSES = {
    "413": _response("Body over LES_MAX_BODY_BYTES.", "Refused"),
    "415": _response("Content-Type missing or not application/json.", "Refused"),
}


def truthful_document(
    spec: dict[str, Any],
    api_routes: frozenset[str],
    *,
    authenticated: bool,
    open_paths: frozenset[str],
) -> dict[str, Any]:
    """`spec` (BentoML's document) with the API routes' body required, their errors as the
    service answers them, and 401 plus the bearer scheme on closed routes when a token is set."""
    document = copy.deepcopy(spec)
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        {"BadRequest": BAD_REQUEST_SCHEMA, "Refused": GUARD_ERROR_SCHEMA}
    )
    if authenticated:
        components["securitySchemes"] = {BEARER_SCHEME: {"type": "http", "scheme": "bearer"}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            # BentoML keys responses by int (HTTPStatus): one key type, or JSON gets "400" twice.
            responses = {
                str(code): answer for code, answer in operation.get("responses", {}).items()
            }
            operation["responses"] = responses
            if authenticated and path not in open_paths:
                responses["401"] = UNAUTHORISED
                operation["security"] = [{BEARER_SCHEME: []}]
            if path in api_routes and method == "post":
                operation["requestBody"]["required"] = True
                responses.pop("404", None)  # no API route answers it
                responses["400"] = _response("Invalid request.", "BadRequest")
                responses.update(GUARD_RESPONSES)
    return document


class DocumentMiddleware:
    """Answers GET /docs.json with `build()`'s document, built on first request (BentoML's own
    spec needs the whole service defined) and kept: it cannot change while the worker runs."""

    def __init__(self, app: Callable[..., Any], *, build: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.build = build
        self.body: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != DOCUMENT_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if self.body is None:
            self.body = json.dumps(self.build()).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
