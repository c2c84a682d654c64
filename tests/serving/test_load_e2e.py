"""Bounded load on loopback: 32 concurrent clients for LES_LOAD_TEST_SECONDS (default 60 s) against
two workers, mixing /predict (1 and 20 merchants) and /explain. Zero errors, and the server's
resident memory (supervisor plus workers) grows by less than MEMORY_GROWTH_BOUND_MB between the
end of a warm-up and the end of the run.

The bound catches memory kept per request. One such case was BentoML's TimeoutMiddleware: it never
cancelled its per-request `traffic.timeout` timer, so every answered request's context (its
OpenTelemetry span) lived on for the 60 s timeout, +100 MB at this load before it plateaued;
`serving.traffic.cancel_request_timers` fixes it. RSS is sampled during the run and printed, so a
failure shows whether memory climbs steadily (kept per request) or levelled off (allocator)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import httpx
import psutil
import pytest

from tests.serving.conftest import MAX_BATCH

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
CLIENTS = 32
SECONDS = float(os.environ.get("LES_LOAD_TEST_SECONDS", "60"))
WARM_UP_SECONDS = 3.0
MEMORY_GROWTH_BOUND_MB = 50.0
RSS_SAMPLE_SECONDS = 10.0
FEATURES = {
    "late_dispatch_rate": 0.08,
    "on_time_delivery_rate": 0.93,
    "pick_pack_hours_p90": 30.0,
    "transit_hours_p50": 50.0,
}


def _body(merchants: int) -> bytes:
    return json.dumps(
        {"merchants": [{"merchant_id": f"m{i}", "features": FEATURES} for i in range(merchants)]}
    ).encode()


REQUESTS = [
    ("/predict", _body(1)),
    ("/predict", _body(MAX_BATCH)),
    ("/explain", _body(1)),
]


def server_rss_mb(pid: int) -> float:
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


async def _client(base: str, deadline: float, statuses: Counter, offset: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        i = offset
        while time.monotonic() < deadline:
            route, body = REQUESTS[i % len(REQUESTS)]
            i += 1
            try:
                response = await client.post(
                    route, content=body, headers={"Content-Type": "application/json"}
                )
                statuses[response.status_code] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1


async def _sample_rss(pid: int, deadline: float, samples: list[float]) -> None:
    while (left := deadline - time.monotonic()) > RSS_SAMPLE_SECONDS / 2:
        await asyncio.sleep(min(RSS_SAMPLE_SECONDS, left))
        samples.append(server_rss_mb(pid))


async def _load(base: str, seconds: float, pid: int, samples: list[float]) -> Counter:
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        _sample_rss(pid, deadline, samples),
        *(_client(base, deadline, statuses, i) for i in range(CLIENTS)),
    )
    return statuses


def test_sustained_load_has_no_errors_and_bounded_memory(server):
    pid = server.process.pid
    warm = asyncio.run(_load(server.url, WARM_UP_SECONDS, pid, []))
    before = server_rss_mb(pid)
    samples: list[float] = []
    statuses = asyncio.run(_load(server.url, SECONDS, pid, samples))
    after = server_rss_mb(pid)
    total = sum(statuses.values())
    profile = " ".join(f"{rss - before:+.0f}" for rss in [*samples, after])
    print(
        f"\nload: {CLIENTS} clients x {SECONDS:.0f} s: {total} requests "
        f"({total / SECONDS:.0f}/s), statuses {dict(statuses)}; "
        f"server RSS {before:.0f} -> {after:.0f} MB (MB every {RSS_SAMPLE_SECONDS:.0f} s: {profile})"
    )
    assert set(warm) == {200}
    assert set(statuses) == {200}, statuses
    assert total > CLIENTS
    assert after - before < MEMORY_GROWTH_BOUND_MB
