"""The BentoML service: /predict, /predict_orders, /explain over the registered LES forecaster.

Run: `les serve [--port P] [--workers N]` or `bentoml serve serving.service:LesService --port P`.
BentoML adds /healthz, /livez, /readyz, /metrics and the OpenAPI document at /docs.json (served
corrected by serving.openapi: BentoML's own does not describe the guard or the real 400s).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import bentoml
from starlette.responses import JSONResponse, Response

from features.catalogue import load_catalogue
from features.rulebook import load_rulebook
from serving import loading, scoring
from serving.config import config_from_env
from serving.console.app import STATE as CONSOLE
from serving.console.app import console_app
from serving.http import OPEN_PATHS, GuardMiddleware, ModelHeaders, quiet_client_errors
from serving.live_signals import LiveSignals
from serving.offloop import freeze_startup_heap, parsed_in_a_thread, serialized
from serving.openapi import DocumentMiddleware, truthful_document
from serving.responses import ExplainResponse, OrdersResponse, PredictResponse
from serving.schema import build_api_models
from serving.traffic import cancel_request_timers
from training.tracking import process_alive

CONFIG = config_from_env()
CATALOGUE = load_catalogue()
API = build_api_models(CATALOGUE, CONFIG)
MODEL_HEADERS = ModelHeaders()
quiet_client_errors()
cancel_request_timers()
LOGGER = logging.getLogger("les.serving")


def run_dir(supervisor_pid: int) -> Path:
    """The folder where one server's workers record their pids: keyed by the supervisor, the
    process that spawns every worker (and respawns a dead one under the same index)."""
    return Path(tempfile.gettempdir()) / f"les-serve-{supervisor_pid}"


def record_worker_start(directory: Path, index: int, pid: int) -> int | None:
    """Record worker `index` as process `pid`; return its predecessor's pid if that one is gone.

    BentoML's supervisor (a circus arbiter) respawns a killed worker silently, so the replacement
    is the first to know: it finds the previous holder of its index recorded and dead."""
    record = directory / f"worker-{index}.pid"
    previous = int(record.read_text()) if record.is_file() else None
    partial = record.with_suffix(f".{pid}.tmp")
    partial.write_text(str(pid))
    partial.replace(record)
    if previous is None or previous == pid or process_alive(previous):
        return None
    return previous


@bentoml.service(
    name="les",
    description=__doc__,
    workers=CONFIG.workers,
    # One OpenMP thread per worker: LightGBM's default (all cores) makes a one-row prediction
    # wait on thread wake-ups, and the workers already use every core.
    envs=[{"name": "OMP_NUM_THREADS", "value": "1"}],
    traffic={"timeout": 60},
    logging={"access": {"enabled": CONFIG.access_log}},
)
class LesService:
    def __init__(self) -> None:
        try:
            self.served = loading.load_served_model(
                CONFIG, CATALOGUE, load_rulebook(), loading.worker_model_uri(CONFIG)
            )
        except loading.StartupError as exc:
            print(f"les serving cannot start: {exc}", file=sys.stderr, flush=True)
            loading.stop_supervisor()
            raise
        info = self.served.info
        MODEL_HEADERS.set(info.name, info.version, info.rulebook_version)
        from prometheus_client import Counter

        self.forecasts_total = Counter(
            "les_forecasts",
            "Merchant forecasts served, by endpoint.",
            ["endpoint"],
        )
        self.worker_restarts_total = Counter(
            "les_worker_restarts", "Workers started in place of one whose process died."
        )
        self._note_restart()
        self.signals = LiveSignals(self.served.model, CONFIG.ledger, CONFIG.ledger_url)
        CONSOLE.attach(self.served, CATALOGUE, CONFIG)
        freeze_startup_heap()

    def _note_restart(self) -> None:
        """A WARNING line and a count on /metrics when this worker replaces a dead one."""
        from bentoml._internal.context import server_context

        directory = run_dir(os.getppid())
        if not directory.is_dir():
            return
        index = server_context.worker_index or 1
        previous = record_worker_start(directory, index, os.getpid())
        if previous is not None:
            LOGGER.warning("worker %d restarted (previous pid %d gone)", index, previous)
            self.worker_restarts_total.inc()

    @bentoml.on_deployment
    def check_model() -> None:
        """Once, in the supervisor, before any worker: a missing registry, alias or artifact
        stops `bentoml serve` here with one message instead of respawning failing workers.
        Then the run folder where workers record themselves, so a respawned one is noticed."""
        try:
            loading.preflight(CONFIG, CATALOGUE, load_rulebook())
        except loading.StartupError as exc:
            print(f"les serving cannot start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        directory = run_dir(os.getpid())
        shutil.rmtree(directory, ignore_errors=True)  # a previous server's, if the pid is reused
        directory.mkdir()
        atexit.register(shutil.rmtree, directory, True)

    @bentoml.api(
        route="/predict",
        input_spec=parsed_in_a_thread(API.predict_request),
        output_spec=PredictResponse,
    )
    def predict(self, merchants: list[Any]) -> Response:
        """Forecast tier, tier probabilities and LES score for a batch of merchants' features.

        Sync on purpose, like every API here: BentoML runs sync APIs in its worker thread, so a
        big batch never holds the event loop that answers /livez and /readyz."""
        response = scoring.predict(self.served, merchants, self.signals)
        self.forecasts_total.labels("predict").inc(len(merchants))
        return serialized(response)

    @bentoml.api(
        route="/predict_orders",
        input_spec=parsed_in_a_thread(API.orders_request),
        output_spec=OrdersResponse,
    )
    def predict_orders(
        self, snapshot_at: datetime, include_features: bool, orders: list[Any]
    ) -> Response:
        """Build features from raw order events (the training code) and forecast each merchant.

        Orders that break the contract are answered with 400 and every rejected row's reasons."""
        try:
            response = scoring.predict_orders(
                self.served, orders, snapshot_at, include_features, CONFIG.max_batch, self.signals
            )
        except scoring.RequestRejected as exc:
            return JSONResponse(exc.body(), status_code=400)
        self.forecasts_total.labels("predict_orders").inc(len(response.forecasts))
        return serialized(response)

    @bentoml.api(
        route="/explain",
        input_spec=parsed_in_a_thread(API.explain_request),
        output_spec=ExplainResponse,
    )
    def explain(self, merchants: list[Any]) -> Response:
        """The forecast plus score points per fulfilment stage (base + stages + bounds = score)
        and ranked what-if advice, each re-scored by the model."""
        response = scoring.explain(self.served, merchants, CONFIG.max_advice, self.signals)
        self.forecasts_total.labels("explain").inc(len(merchants))
        return serialized(response)


API_ROUTES = frozenset(api.route for api in LesService.apis.values())
LesService.mount_asgi_app(console_app(), path="/ui")  # the merchant console (serving/console)
LesService.add_asgi_middleware(
    GuardMiddleware,
    token=CONFIG.api_token,
    max_body_bytes=CONFIG.max_body_bytes,
    model_headers=MODEL_HEADERS,
    json_routes=API_ROUTES,
)


def served_document() -> dict[str, Any]:
    """BentoML's OpenAPI document, made to match what this configuration answers."""
    return truthful_document(
        LesService.openapi_spec.asdict(),
        API_ROUTES,
        authenticated=CONFIG.api_token is not None,
        open_paths=OPEN_PATHS,
    )


# After the guard, so the document needs the token like every other closed route.
LesService.add_asgi_middleware(DocumentMiddleware, build=served_document)
