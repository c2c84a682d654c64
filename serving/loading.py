"""Start-up: resolve and load the registered forecaster, or stop with one clear message.

The service reads the model straight from the MLflow registry (no copy in the BentoML model store:
docs/serving.md says why). `bentoml serve` runs `preflight` once in the supervisor before any
worker starts; it pins the alias to the version it resolved, so every worker serves that version.
"""

from __future__ import annotations

import os
import signal

from features.catalogue import Catalogue
from features.errors import LesError
from features.rulebook import Rulebook
from serving.config import ServiceConfig
from serving.scoring import ServedModel, model_info
from training.explain.registered import RegisteredForecaster, load_registered_forecaster
from training.tracking import RegistryError, resolve_tracking

ENV_PINNED_MODEL_URI = "LES_PINNED_MODEL_URI"
ENV_SUPERVISOR_PID = "LES_SUPERVISOR_PID"
HINT = (
    "Register a model first (`les demo` or `les train`), or point LES_MODEL_URI / "
    "MLFLOW_TRACKING_URI at one."
)


class StartupError(LesError, RuntimeError):
    """The service cannot serve: the message says what is missing and where it looked."""


def load_served_model(
    config: ServiceConfig, catalogue: Catalogue, rules: Rulebook, model_uri: str | None = None
) -> ServedModel:
    """`model_uri` (default: the configured one) loaded and checked against this code's schema.
    /predict_orders builds features by the model's own recipe (its windows, horizon, minimums and
    rulebook overrides), not by this code's defaults."""
    uri = model_uri or config.model_uri
    try:
        tracking = resolve_tracking(create=False)  # serving reads a store, never creates one
    except RegistryError as exc:
        raise StartupError(f"{exc}. {HINT}") from exc
    try:
        model = load_registered_forecaster(uri, tracking)
    except RegistryError as exc:
        raise StartupError(f"{exc} (tracking store {tracking.tracking_uri}). {HINT}") from exc
    except Exception as exc:
        raise StartupError(
            f"cannot load {uri!r} from the tracking store {tracking.tracking_uri}: "
            f"{type(exc).__name__}: {exc}. {HINT}"
        ) from exc
    check_compatible(model, catalogue, rules)
    return ServedModel(
        model,
        model_info(model, config.model_uri),
        served_rulebook(model, rules),
        model.dataset_config,
    )


def check_compatible(model: RegisteredForecaster, catalogue: Catalogue, rules: Rulebook) -> None:
    """The API schema is this code's catalogue and /predict_orders uses this code's rulebook (its
    version and, when the model recorded one, its content hash): a model trained on other
    definitions would be served features it never saw."""
    foreign = [n for n in model.forecaster.feature_names if n not in catalogue.names]
    if foreign:
        raise StartupError(
            f"model {model.model_name} version {model.model_version} uses features {foreign} "
            "that this code's feature catalogue does not declare; deploy the code it was "
            "trained with or retrain"
        )
    if model.rulebook_version != rules.version:
        raise StartupError(
            f"model {model.model_name} version {model.model_version} was trained under rulebook "
            f"version {model.rulebook_version}, this code scores with version {rules.version}; "
            "/predict_orders would build features differently from training. Retrain, or deploy "
            "the code it was trained with"
        )
    served_rulebook(model, rules)


def served_rulebook(model: RegisteredForecaster, rules: Rulebook) -> Rulebook:
    """This code's rulebook as the model's training rows were built with it, or StartupError
    when its content hash differs from the one the model recorded (same version, other rules)."""
    try:
        return model.rulebook(rules)
    except RegistryError as exc:
        raise StartupError(str(exc)) from exc


def pinned_uri(served: ServedModel, configured: str) -> str:
    """models:/NAME@ALIAS -> models:/NAME/VERSION, so workers cannot race an alias move."""
    if not configured.startswith("models:/"):
        return configured
    return f"models:/{served.model.model_name}/{served.model.model_version}"


def preflight(config: ServiceConfig, catalogue: Catalogue, rules: Rulebook) -> ServedModel:
    """In the supervisor: load once (or raise StartupError) and tell the workers what to load."""
    served = load_served_model(config, catalogue, rules)
    os.environ[ENV_PINNED_MODEL_URI] = pinned_uri(served, config.model_uri)
    os.environ[ENV_SUPERVISOR_PID] = str(os.getpid())
    return served


def worker_model_uri(config: ServiceConfig) -> str:
    return os.environ.get(ENV_PINNED_MODEL_URI) or config.model_uri


def stop_supervisor() -> None:
    """A worker that cannot load would be respawned forever behind a bound port (a half-alive
    service); it stops the supervisor that started it instead. Only that supervisor: the pid was
    recorded by `preflight` and must be this worker's parent."""
    recorded = os.environ.get(ENV_SUPERVISOR_PID)
    if recorded and recorded.isdigit() and int(recorded) == os.getppid():
        os.kill(int(recorded), signal.SIGTERM)
