"""Worker health an orchestrator and an operator can see (issue 13, items 3 and 15).

An orchestrator kills a pod whose /livez or /readyz does not answer within its timeout, so a worker
busy with large /explain batches must still answer its probes promptly: the scoring has to run off
the event loop. And a worker that dies is respawned by BentoML's supervisor without a word, so the
replacement must say so in the log and count it on /metrics.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pandas as pd
import psutil
import pytest

from tests.serving.conftest import Server, Store, running_server
from tests.serving.test_service_e2e import JSON, merchant

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
BIG_BATCH = 2_000  # merchants per /explain: over a second each on two cores
CONCURRENT_EXPLAINS = 6
MIN_EXPLAIN_S = 1.0
PROBE_MEDIAN_BOUND_S = 0.2
PROBE_MAX_BOUND_S = 1.0  # generous: a CI machine may run another test worker on the same cores
PROBE_INTERVAL_S = 0.05
MIN_PROBES_IN_FLIGHT = 10
RESPAWN_TIMEOUT_S = 90.0
INITIALIZED = "Service les initialized"
RESTARTS = re.compile(r"^les_worker_restarts_total (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Probe:
    route: str
    started: float
    seconds: float
    status: int


@pytest.fixture(scope="module")
def big_batch_server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker, so every request and probe meets the same event loop; BIG_BATCH merchants."""
    directory = tmp_path_factory.mktemp("probes")
    with running_server(store, directory, workers=1, LES_MAX_BATCH=str(BIG_BATCH)) as server:
        yield server


def big_explain_body(offline_rows: pd.DataFrame) -> bytes:
    """BIG_BATCH realistic merchants (the parity rows, repeated under distinct ids)."""
    rows = offline_rows.set_index("merchant_id")
    merchants = [
        merchant(f"{merchant_id}-{i}", row)
        for i in range(-(-BIG_BATCH // len(rows)))
        for merchant_id, row in rows.iterrows()
    ][:BIG_BATCH]
    return json.dumps({"merchants": merchants}).encode()


def explain_load(url: str, body: bytes, concurrent: int) -> list[tuple[float, float, int]]:
    """`concurrent` simultaneous /explain calls, each (started, ended, status) on the monotonic
    clock. Run in a process of its own: six clients reading 16 MB answers would otherwise hold the
    GIL of the process that times the probes, and the test would time its own client."""

    def explain() -> tuple[float, float, int]:
        with httpx.Client(base_url=url, timeout=60.0) as client:
            started = time.monotonic()
            status = client.post("/explain", content=body, headers=JSON).status_code
            return started, time.monotonic(), status

    with ThreadPoolExecutor(concurrent) as pool:
        return list(pool.map(lambda _: explain(), range(concurrent)))


def test_probes_answer_promptly_while_big_explains_run(big_batch_server, offline_rows):
    body = big_explain_body(offline_rows)
    probes: list[Probe] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        load = pool.submit(explain_load, big_batch_server.url, body, CONCURRENT_EXPLAINS)
        with big_batch_server.client() as client:
            i = 0
            while not load.done():
                route = ("/livez", "/readyz")[i % 2]
                i += 1
                started = time.monotonic()
                status = client.get(route).status_code
                probes.append(Probe(route, started, time.monotonic() - started, status))
                time.sleep(PROBE_INTERVAL_S)
        explain_spans = load.result()

    assert [status for *_, status in explain_spans] == [200] * CONCURRENT_EXPLAINS
    assert max(end - start for start, end, _ in explain_spans) > MIN_EXPLAIN_S, "load too light"
    first_sent = min(start for start, _, _ in explain_spans)
    last_done = max(end for _, end, _ in explain_spans)
    in_flight = [p for p in probes if first_sent <= p.started and p.started + p.seconds < last_done]
    seconds = [p.seconds for p in in_flight]
    slowest = sorted((round(p.seconds, 3), round(p.started - first_sent, 1)) for p in in_flight)
    print(
        f"{CONCURRENT_EXPLAINS} x {BIG_BATCH}-merchant /explain: {last_done - first_sent:.1f} s; "
        f"{len(in_flight)} probes in flight: median {statistics.median(seconds or [0]) * 1e3:.1f} "
        f"ms, slowest (s, at s) {slowest[-3:]}"
    )
    assert all(p.status == 200 for p in probes)
    assert len(in_flight) >= MIN_PROBES_IN_FLIGHT, [p.seconds for p in probes]
    assert statistics.median(seconds) < PROBE_MEDIAN_BOUND_S
    assert max(seconds) < PROBE_MAX_BOUND_S


def worker_processes(supervisor_pid: int) -> list[psutil.Process]:
    children = psutil.Process(supervisor_pid).children(recursive=True)
    return [p for p in children if "_bentoml_impl.worker" in " ".join(p.cmdline())]


def worker_restarts(server: Server) -> float:
    with server.client() as client:
        found = RESTARTS.search(client.get("/metrics").text)
    assert found, "les_worker_restarts_total missing from /metrics"
    return float(found.group(1))


def test_a_killed_worker_is_logged_and_counted(store: Store, tmp_path):
    with running_server(store, tmp_path, workers=2) as server:
        deadline = time.monotonic() + RESPAWN_TIMEOUT_S
        while server.log_text().count(INITIALIZED) < 2 and time.monotonic() < deadline:
            time.sleep(0.25)  # ready means one worker is; both must have recorded themselves
        workers = worker_processes(server.process.pid)
        assert len(workers) == 2, workers
        assert worker_restarts(server) == 0
        victim = workers[0]
        victim.kill()
        message = f"restarted (previous pid {victim.pid} gone)"
        while message not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert re.search(
            rf"WARNING.*worker \d restarted \(previous pid {victim.pid} gone\)", server.log_text()
        ), server.log_text()[-3000:]
        assert worker_restarts(server) == 1
        assert server.log_text().count("restarted (previous pid") == 1
