"""MLflow store resolution, model registry and the promotion gate.

Embedded default: SQLite at mlruns/mlflow.db with artifacts under mlruns/artifacts. MLFLOW_TRACKING_URI
(a remote server, another database) overrides it and is used unchanged.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.errors import LesError
from training.metrics import PERSISTENCE_MODEL, POOLED, SERVED_MODEL, metric_key

CHAMPION = "champion"
CHALLENGER = "challenger"
# The headline metrics the gate reads, +1 where higher is better, -1 where lower is.
GATED_METRICS: dict[str, int] = {"macro_f1": 1, "qwk": 1, "rps": -1, "score_mae": -1}


class RegistryError(LesError, RuntimeError):
    """The registry does not hold what was asked for (model, version or alias)."""


@dataclass(frozen=True)
class TrackingConfig:
    tracking_uri: str
    artifact_location: str | None  # set for a SQLite store (beside its database); a server decides


SQLITE_PREFIX = "sqlite:///"


def resolve_tracking(store_dir: Path | None = None, *, create: bool = True) -> TrackingConfig:
    """MLFLOW_TRACKING_URI when set, else the embedded SQLite store under `store_dir` (./mlruns
    of the current folder). A SQLite store keeps its artifacts in `artifacts/` beside the database.
    Commands that only read (`create=False`: serve, explain, report, models, promote) never create a
    store: a missing SQLite database is a RegistryError naming the path."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri and not uri.startswith(SQLITE_PREFIX):
        return TrackingConfig(uri, None)
    database = (
        Path(uri[len(SQLITE_PREFIX) :])
        if uri
        else (store_dir or Path.cwd() / "mlruns") / "mlflow.db"
    )
    database = database.resolve()
    if not create and not database.is_file():
        where = "MLFLOW_TRACKING_URI" if uri else f"the embedded store of {Path.cwd()}"
        raise RegistryError(
            f"no MLflow store at {database} ({where}); train a model first (`les demo` or "
            "`les train`) or point MLFLOW_TRACKING_URI at an existing store"
        )
    if create:
        database.parent.mkdir(parents=True, exist_ok=True)
    return TrackingConfig(f"{SQLITE_PREFIX}{database}", (database.parent / "artifacts").as_uri())


def activate(tracking: TrackingConfig) -> MlflowClient:
    """Point the fluent API and a client at the store (call sites only, never at import)."""
    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.tracking_uri)
    return MlflowClient(tracking.tracking_uri, registry_uri=tracking.tracking_uri)


def ensure_experiment(client: MlflowClient, name: str, tracking: TrackingConfig) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=tracking.artifact_location)


@dataclass(frozen=True)
class GateDecision:
    alias: str
    reasons: tuple[str, ...]

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def decide_alias(
    model: dict[str, float],
    baselines: dict[str, dict[str, float]],
    champion: dict[str, float] | None,
    tolerance: float,
) -> GateDecision:
    """Champion only if, on every gated metric, it beats the best of the naive baselines that
    report the metric and is not worse than the current champion by more than `tolerance`."""
    reasons = []
    for metric, sign in GATED_METRICS.items():
        scored = {name: m[metric] for name, m in baselines.items() if _finite(m.get(metric))}
        if scored:
            best = max(scored, key=lambda name: sign * scored[name])
            if not sign * model[metric] > sign * scored[best]:
                reasons.append(
                    f"{metric} {model[metric]:.3f} does not beat {best} {scored[best]:.3f}"
                )
        if (
            champion is not None
            and _finite(champion.get(metric))
            and sign * model[metric] < sign * champion[metric] - tolerance
        ):
            reasons.append(
                f"{metric} {model[metric]:.3f} is worse than the champion's "
                f"{champion[metric]:.3f} by more than {tolerance}"
            )
    return GateDecision(CHALLENGER if reasons else CHAMPION, tuple(reasons))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def champion_metrics(client: MlflowClient, model_name: str) -> dict[str, float] | None:
    """The pooled backtest metrics logged by the run behind the current champion, if any."""
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    run = client.get_run(version.run_id)
    keys = {m: metric_key(POOLED, SERVED_MODEL, m) for m in GATED_METRICS}
    return {m: run.data.metrics[key] for m, key in keys.items() if key in run.data.metrics}


OWNER_HOST_TAG = "les.host"
OWNER_PID_TAG = "les.pid"


def owner_tags() -> dict[str, str]:
    """Who runs a training run, so a later run can tell a dead one from one still going."""
    return {OWNER_HOST_TAG: socket.gethostname(), OWNER_PID_TAG: str(os.getpid())}


def fail_abandoned_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark FAILED the RUNNING runs of this host whose process is gone (killed mid-training), so
    the store never shows a dead run as still running; runs of other hosts are left alone."""
    host = socket.gethostname().replace("'", "")
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{OWNER_HOST_TAG}` = '{host}'",
    )
    failed = []
    for run in runs:
        pid = run.data.tags.get(OWNER_PID_TAG, "")
        if pid.isdigit() and not process_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="FAILED")
            failed.append(run.info.run_id)
    return failed


def process_alive(pid: int) -> bool:
    """Whether a process of this host still runs (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def set_alias(client: MlflowClient, model_name: str, alias: str, version: str) -> None:
    try:
        client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"model {model_name!r} has no version {version}") from exc
    client.set_registered_model_alias(model_name, alias, str(version))


def list_versions(client: MlflowClient, model_name: str) -> list[dict[str, object]]:
    """Versions newest first with aliases and headline metrics, for `les models`."""
    try:
        model = client.get_registered_model(model_name)
    except MlflowException as exc:
        raise RegistryError(f"no registered model {model_name!r} in this tracking store") from exc
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name='{model_name}'"):
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        rows.append(
            {
                "version": int(mv.version),
                "aliases": ", ".join(sorted(aliases.get(str(mv.version), []))),
                "created": mv.creation_timestamp,
                "macro_f1": metrics.get(metric_key(POOLED, SERVED_MODEL, "macro_f1")),
                "qwk": metrics.get(metric_key(POOLED, SERVED_MODEL, "qwk")),
                "persistence_macro_f1": metrics.get(
                    metric_key(POOLED, PERSISTENCE_MODEL, "macro_f1")
                ),
                "fingerprint": (mv.tags or {}).get("fingerprint", ""),
            }
        )
    return sorted(rows, key=lambda r: -r["version"])


def pooled_backtest_metrics(client: MlflowClient, run_id: str | None) -> pd.DataFrame:
    """model x metric table from the `pooled.<model>.<metric>` metrics a training run logged."""
    if run_id is None:
        return pd.DataFrame()
    metrics = client.get_run(run_id).data.metrics
    rows: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == POOLED:
            rows.setdefault(parts[1], {})[parts[2]] = value
    return pd.DataFrame.from_dict(rows, orient="index").sort_index(axis=1)
