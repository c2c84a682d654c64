"""Request models validated off the event loop, answers serialized before they reach it."""

from __future__ import annotations

import asyncio
import gc
import json
import threading

import pytest
from pydantic import BaseModel, ValidationError, field_validator
from starlette.requests import Request

from serving.offloop import freeze_startup_heap, parsed_in_a_thread, serialized

VALIDATING_THREADS: list[int] = []


class Batch(BaseModel):
    merchants: list[str]

    @field_validator("merchants")
    @classmethod
    def _note_thread(cls, value: list[str]) -> list[str]:
        VALIDATING_THREADS.append(threading.get_ident())
        return value


def request_with(body: bytes) -> Request:
    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive)


async def parse(body: bytes) -> tuple[BaseModel, int]:
    spec = parsed_in_a_thread(Batch)
    return await spec.from_http_request(request_with(body), None), threading.get_ident()


def test_the_body_is_validated_in_another_thread_than_the_loops():
    VALIDATING_THREADS.clear()
    parsed, loop_thread = asyncio.run(parse(json.dumps({"merchants": ["a", "b"]}).encode()))
    assert parsed.merchants == ["a", "b"]
    assert isinstance(parsed, Batch)
    assert VALIDATING_THREADS and loop_thread not in VALIDATING_THREADS


def test_a_bad_body_still_raises_the_models_validation_error():
    with pytest.raises(ValidationError, match="merchants"):
        asyncio.run(parse(b'{"merchants": 3}'))


def test_the_spec_is_named_as_bentoml_names_its_own():
    assert parsed_in_a_thread(Batch).__name__ == "BatchIODescriptor"


def test_the_answer_is_the_models_json():
    response = serialized(Batch(merchants=["x"]))
    assert response.media_type == "application/json"
    assert json.loads(response.body) == {"merchants": ["x"]}


def test_the_startup_heap_leaves_the_collectors_reach():
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
