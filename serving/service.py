"""The BentoML service: /predict, /predict_orders, /explain over the registered LES forecaster.

Run: `les serve [--port P] [--workers N]` or `bentoml serve serving.service:LesService --port P`.
BentoML adds /healthz, /livez, /readyz, /metrics and the OpenAPI document at /docs.json.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import bentoml
from starlette.responses import JSONResponse

from features.catalogue import load_catalogue
from features.rulebook import load_rulebook
from serving import loading, scoring
from serving.config import config_from_env
from serving.http import GuardMiddleware, ModelHeaders, quiet_client_errors
from serving.schema import ExplainResponse, OrdersResponse, PredictResponse, build_api_models

CONFIG = config_from_env()
CATALOGUE = load_catalogue()
API = build_api_models(CATALOGUE, CONFIG)
MODEL_HEADERS = ModelHeaders()
quiet_client_errors()


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

    @bentoml.on_deployment
    def check_model() -> None:
        """Once, in the supervisor, before any worker: a missing registry, alias or artifact
        stops `bentoml serve` here with one message instead of respawning failing workers."""
        try:
            loading.preflight(CONFIG, CATALOGUE, load_rulebook())
        except loading.StartupError as exc:
            print(f"les serving cannot start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    @bentoml.api(route="/predict", input_spec=API.predict_request, output_spec=PredictResponse)
    async def predict(self, merchants: list[Any]) -> PredictResponse:
        """Forecast tier, tier probabilities and LES score for a batch of merchants' features."""
        response = scoring.predict(self.served, merchants)
        self.forecasts_total.labels("predict").inc(len(merchants))
        return response

    @bentoml.api(route="/predict_orders", input_spec=API.orders_request, output_spec=OrdersResponse)
    def predict_orders(
        self, snapshot_at: datetime, include_features: bool, orders: list[Any]
    ) -> OrdersResponse | JSONResponse:
        """Build features from raw order events (the training code) and forecast each merchant.

        Orders that break the contract are answered with 400 and every rejected row's reasons."""
        try:
            response = scoring.predict_orders(
                self.served, orders, snapshot_at, include_features, CONFIG.max_batch
            )
        except scoring.RequestRejected as exc:
            return JSONResponse(exc.body(), status_code=400)
        self.forecasts_total.labels("predict_orders").inc(len(response.forecasts))
        return response

    @bentoml.api(route="/explain", input_spec=API.explain_request, output_spec=ExplainResponse)
    async def explain(self, merchants: list[Any]) -> ExplainResponse:
        """The forecast plus score points per fulfilment stage (base + stages + bounds = score)
        and ranked what-if advice, each re-scored by the model."""
        response = scoring.explain(self.served, merchants, CONFIG.max_advice)
        self.forecasts_total.labels("explain").inc(len(merchants))
        return response


LesService.add_asgi_middleware(
    GuardMiddleware,
    token=CONFIG.api_token,
    max_body_bytes=CONFIG.max_body_bytes,
    model_headers=MODEL_HEADERS,
)
