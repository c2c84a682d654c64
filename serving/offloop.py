"""What keeps a worker's event loop, the one that answers /livez and /readyz, free during big batches.

BentoML validates a JSON body and serializes the answer on that loop: for a 2,000-merchant /explain
tens of milliseconds each way, and requests that arrive together queue their parses back to back,
so a probe behind them waits for all. Here both run in threads instead. And a full garbage
collection holds the GIL for every thread: see `freeze_startup_heap`.
"""

from __future__ import annotations

import gc
from typing import Any

import anyio
import anyio.to_thread
from _bentoml_sdk.io_models import IOMixin  # BentoML's request-model base: no public name
from pydantic import BaseModel, create_model
from starlette.requests import Request
from starlette.responses import Response

# One parse at a time per worker: parses in parallel would only share the GIL with each other,
# the scoring thread and the event loop.
_PARSING = anyio.CapacityLimiter(1)


class _ParsedInAThread(IOMixin):
    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> Any:
        """The body as this model, validated in a thread (the body is JSON: the guard refuses
        any other Content-Type on an API route)."""
        body = await request.body()
        validate = cls.model_validate_json  # type: ignore[attr-defined]
        return await anyio.to_thread.run_sync(validate, body or b"{}", limiter=_PARSING)


def parsed_in_a_thread(model: type[BaseModel]) -> type[BaseModel]:
    """`model` as a BentoML input spec whose validation runs in a thread. Named as BentoML names
    the spec it derives itself, so the OpenAPI document does not change."""
    return create_model(f"{model.__name__}IODescriptor", __base__=(_ParsedInAThread, model))


def serialized(answer: BaseModel) -> Response:
    """The answer as JSON bytes, made in the API's worker thread rather than by BentoML on the
    event loop."""
    return Response(answer.model_dump_json(), media_type="application/json")


def freeze_startup_heap() -> None:
    """Exempt everything alive after start-up (MLflow, BentoML, pandas, the model) from the cyclic
    garbage collector. A big /explain allocates enough to start a full collection, which walked
    that whole heap with the GIL held: 0.35-0.45 s without an answer to any probe, measured; with
    the start-up heap frozen, under 0.11 s. The frozen objects live as long as the worker anyway."""
    gc.collect()
    gc.freeze()
