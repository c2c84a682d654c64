"""A fix to BentoML's request-timeout middleware, applied once per worker process.

Kept apart from our own ASGI guard (`serving/http.py`) because it replaces BentoML code: check it
against `bentoml/_internal/server/http/traffic.py` when the pinned BentoML changes.
"""

from __future__ import annotations

import asyncio

from serving.http import Message, Receive, Scope, Send


def cancel_request_timers() -> None:
    """Make BentoML's TimeoutMiddleware cancel its per-request timer once the request is answered.

    BentoML 1.4 schedules `loop.call_later(traffic.timeout, ...)` for every request and never
    cancels it, so each answered request's timer handle, and the contextvars Context it captured
    (its OpenTelemetry span, request id), stays alive for the full timeout (60 s here): resident
    memory climbs by about 5 KB per request for one timeout, then plateaus. Same logic as
    `bentoml._internal.server.http.traffic.TimeoutMiddleware.__call__`, plus the cancel; asyncio
    drops cancelled handles from its timer heap. Idempotent, once per process."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware
    from starlette.responses import JSONResponse

    if getattr(TimeoutMiddleware, "_les_cancels_timer", False):
        return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                response = JSONResponse(
                    {"error": f"Not able to process the request in {self.timeout} seconds"},
                    status_code=504,
                )
                await response(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()

    TimeoutMiddleware.__call__ = __call__
    TimeoutMiddleware._les_cancels_timer = True
