"""ServiceConfig: everything the HTTP service reads from its environment, typed and checked once.

Read at import of `serving.service` (BentoML builds the request schema and the worker count from it),
so a bad value stops `les serve` / `bentoml serve` before any worker starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from features.errors import LesError
from training.explain.registered import DEFAULT_MODEL_URI

ENV_MODEL_URI = "LES_MODEL_URI"
ENV_API_TOKEN = "LES_API_TOKEN"
ENV_WORKERS = "LES_WORKERS"
ENV_MAX_BATCH = "LES_MAX_BATCH"
ENV_MAX_ORDERS = "LES_MAX_ORDERS"
ENV_MAX_BODY_BYTES = "LES_MAX_BODY_BYTES"
ENV_MAX_ADVICE = "LES_MAX_ADVICE"
ENV_ACCESS_LOG = "LES_ACCESS_LOG"
ENV_LEDGER = "LES_LEDGER"
ENV_LEDGER_URL = "LES_LEDGER_URL"
ENV_CONSOLE_DATASET = "LES_CONSOLE_DATASET"
ENV_CONSOLE_FORECASTS = "LES_CONSOLE_FORECASTS"


class ServiceConfigError(LesError, ValueError):
    """An environment variable of the service holds an unusable value; the message names it."""


@dataclass(frozen=True)
class ServiceConfig:
    model_uri: str = DEFAULT_MODEL_URI
    api_token: str | None = None
    workers: int = 1
    max_batch: int = 1000  # merchants per /predict or /explain request, and per /predict_orders
    max_orders: int = 100_000  # order rows per /predict_orders request
    max_body_bytes: int = 64 * 2**20  # about 100,000 order rows as JSON
    max_advice: int = 3
    access_log: bool = True
    ledger: bool = False  # record every HTTP forecast in the forecast ledger
    ledger_url: str | None = None  # any SQLAlchemy URL; None: ledger.db beside the MLflow store
    console_dataset: str | None = None  # a `les build-dataset` output the console at /ui shows
    console_forecasts: str | None = None  # its overview from "ledger" or a `les score` output

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_token)


def config_from_env(env: Mapping[str, str] | None = None) -> ServiceConfig:
    """LES_* variables over the defaults; MLFLOW_TRACKING_URI is read where the model is loaded."""
    env = os.environ if env is None else env
    defaults = ServiceConfig()
    return ServiceConfig(
        model_uri=env.get(ENV_MODEL_URI) or defaults.model_uri,
        api_token=env.get(ENV_API_TOKEN) or None,
        workers=_positive_int(env, ENV_WORKERS, defaults.workers),
        max_batch=_positive_int(env, ENV_MAX_BATCH, defaults.max_batch),
        max_orders=_positive_int(env, ENV_MAX_ORDERS, defaults.max_orders),
        max_body_bytes=_positive_int(env, ENV_MAX_BODY_BYTES, defaults.max_body_bytes),
        max_advice=_positive_int(env, ENV_MAX_ADVICE, defaults.max_advice),
        access_log=_flag(env, ENV_ACCESS_LOG, defaults.access_log),
        ledger=_flag(env, ENV_LEDGER, defaults.ledger),
        ledger_url=env.get(ENV_LEDGER_URL) or None,
        console_dataset=env.get(ENV_CONSOLE_DATASET) or None,
        console_forecasts=env.get(ENV_CONSOLE_FORECASTS) or None,
    )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServiceConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ServiceConfigError(f"{name}={raw!r} must be at least 1")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ServiceConfigError(f"{name}={raw!r} is not one of 1/0, true/false, yes/no, on/off")
