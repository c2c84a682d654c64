"""`les monitor` and `les retrain`: watch a deployed model and refresh it through the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from features.console import Command, console, counts_table, task_progress
from training.explain.registered import DEFAULT_MODEL_URI

ALERT_EXIT_CODE = 3  # a scheduler acts on it: 0 healthy, 3 an alert fired, 2 bad input
MONITOR_EXPERIMENT = "les-monitor"
TIER_COLUMNS = ("predicted_tier",)  # `les score` names the served tier so


def monitor(
    orders: Annotated[Path, typer.Option(help="Order events up to now (CSV, parquet or folder).")],
    model: Annotated[
        str, typer.Option(help="MLflow model URI (default: the registered champion).")
    ] = DEFAULT_MODEL_URI,
    out: Annotated[Path, typer.Option(help="Folder for monitor.html and monitor.json.")] = Path(
        "out/monitor"
    ),
    config: Annotated[
        Path | None, typer.Option(help="Alert thresholds YAML over training/monitor/alerts.yaml.")
    ] = None,
    forecasts: Annotated[
        Path | None,
        typer.Option(help="A `les score` output to judge instead of the forecast ledger."),
    ] = None,
) -> None:
    """Live accuracy of the model's past forecasts whose window has closed, input and prediction
    drift at the newest snapshot, alerts. Exit 0: healthy; 3: an alert fired; 2: bad input."""
    from features.io import atomic_path, read_orders
    from features.rulebook import load_rulebook
    from training.explain.registered import load_model
    from training.monitor.alerts import load_thresholds
    from training.monitor.monitor import run_monitor
    from training.reports.monitor_page import monitor_html

    thresholds = load_thresholds(config)
    loaded = load_model(model)
    checked = read_orders(orders)
    if checked.reason_counts:
        console.print(
            counts_table(
                "Order rows the contract rejects (not used)", checked.reason_counts, "reason"
            )
        )
    past = _forecasts(loaded, forecasts)
    with console.status("monitoring: features at the newest snapshot, realized outcomes"):
        result = run_monitor(
            loaded, checked.valid, past, _backtest(loaded), load_rulebook(), thresholds
        )
    report = result.to_dict()
    page = monitor_html(
        report, loaded.drift_reference.tier_mix, thresholds.feature_psi, thresholds.stage_psi
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("monitor.json", json.dumps(report, indent=2)), ("monitor.html", page)):
        with atomic_path(out / name) as tmp:
            tmp.write_text(text)
    _log_run(result, out)
    _print(result)
    console.print(f"-> {out / 'monitor.html'}, {out / 'monitor.json'}")
    if not result.healthy:
        raise typer.Exit(ALERT_EXIT_CODE)


def _forecasts(model, path: Path | None) -> pd.DataFrame:
    """This model version's past forecasts: the ledger's, or a `les score` output."""
    if path is None:
        from training.ledger import forecasts_of

        return forecasts_of(model.model_name, model.model_version)
    from features.io import read_table

    frame = read_table(path)
    frame = frame.rename(columns={c: "tier" for c in TIER_COLUMNS if c in frame})
    if "model_version" in frame:
        frame = frame[frame["model_version"].astype(str) == model.model_version]
    return frame


def _backtest(model) -> dict[str, dict[str, float]]:
    """The pooled backtest figures the model was promoted on (model and persistence)."""
    from training.backtest import MODEL, PERSISTENCE
    from training.tracking import activate, pooled_backtest_metrics, resolve_tracking

    table = pooled_backtest_metrics(activate(resolve_tracking(create=False)), model.run_id)
    return {
        key: {k: float(v) for k, v in table.loc[name].items() if pd.notna(v)}
        for key, name in (("model", MODEL), ("persistence", PERSISTENCE))
        if name in table.index
    }


def _log_run(result, out: Path) -> None:
    """One MLflow run per pass, tagged with the model version, in its own experiment."""
    import mlflow

    from training.tracking import activate, ensure_experiment, resolve_tracking

    tracking = resolve_tracking()
    experiment = ensure_experiment(activate(tracking), MONITOR_EXPERIMENT, tracking)
    tags = {"model_name": result.model_name, "model_version": result.model_version}
    with mlflow.start_run(experiment_id=experiment, tags=tags):
        metrics = {f"realized.{k}": v for k, v in result.realized.model.items()}
        metrics |= {f"realized.persistence.{k}": v for k, v in result.realized.persistence.items()}
        metrics |= {f"drift.stage.{k}": v for k, v in result.drift.stages.items()}
        metrics |= {"drift.tier_mix_psi": result.drift.tier_mix_psi, "alerts": len(result.alerts)}
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if pd.notna(v)})
        mlflow.log_param("snapshot_at", result.snapshot.isoformat())
        mlflow.log_artifact(str(out / "monitor.json"))
        mlflow.log_artifact(str(out / "monitor.html"))


def _print(result) -> None:
    r = result.realized
    if r.rows:
        table = Table(title=f"Live accuracy on {r.rows:,} closed forecasts ({r.pending:,} pending)")
        for column in ("", *r.model):
            table.add_column(column)
        table.add_row("model", *[f"{v:.3f}" for v in r.model.values()])
        table.add_row(
            "persistence", *[f"{r.persistence.get(k, float('nan')):.3f}" for k in r.model]
        )
        console.print(table)
    else:
        console.print(
            f"live accuracy: no closed forecast of this model yet ({r.pending:,} pending)"
        )
    stages = ", ".join(f"{k} {v:.3f}" for k, v in result.drift.stages.items())
    console.print(
        f"drift at {result.snapshot:%Y-%m-%d} ({result.drift.rows:,} merchants): PSI of stage points {stages}; tier mix {result.drift.tier_mix_psi:.3f}"
    )
    if result.alerts:
        table = Table(title=f"ALERTS ({len(result.alerts)})")
        for column in ("kind", "name", "value", "threshold"):
            table.add_column(column)
        for a in result.alerts:
            table.add_row(a.kind, a.name, f"{a.value:.3f}", f"{a.threshold:.3f}")
        console.print(table)
    else:
        console.print("healthy: no alert")


def retrain(
    orders: Annotated[Path, typer.Option(help="Order events including the newest data.")],
    model: Annotated[
        str, typer.Option(help="The champion to beat (default: the registered champion).")
    ] = DEFAULT_MODEL_URI,
    config: Annotated[
        Path | None, typer.Option(help="Training config YAML (see training/config.py).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Train the challenger only on snapshots from this day (UTC), e.g. the day a "
            "drift alert first fired; default: every snapshot."
        ),
    ] = None,
) -> None:
    """Train a challenger on the newest data, score champion and challenger on the most recent
    closed window neither trained on, log both, and move `champion` only through the gate."""
    from features.catalogue import load_catalogue
    from features.dataset import build_dataset
    from features.io import read_orders
    from features.rulebook import load_rulebook
    from features.snapshots import midnight_utc
    from training.config import load_train_config
    from training.explain.registered import load_model
    from training.monitor.retrain import retrain as run_retrain
    from training.tracking import resolve_tracking
    from training.train_console import decision_panel

    first = None if since is None else midnight_utc(since, "--since")
    champion = load_model(model)
    rules = champion.rulebook(load_rulebook())
    train_config = load_train_config(config, horizon_days=champion.dataset_config.horizon_days)
    checked = read_orders(orders)
    with console.status("building features and labels with the champion's recipe"):
        dataset = build_dataset(checked.valid, champion.dataset_config, rules)
    tracking = resolve_tracking()
    with task_progress() as advance:
        result = run_retrain(
            dataset, champion, _trained_until(champion), train_config, rules, load_catalogue(),
            tracking, champion.recipe, advance, first,
        )  # fmt: skip
    table = Table(
        title=f"Holdout: {len(result.split.holdout):,} rows from "
        f"{result.split.holdout_start:%Y-%m-%d} (challenger trained on {len(result.split.train):,})"
    )
    shown = ("macro_f1", "qwk", "rps", "score_mae")
    for column in ("", *shown):
        table.add_column(column)
    for name in ("lightgbm", "champion", "persistence", "migration_matrix"):
        if name in result.holdout:
            label = "challenger" if name == "lightgbm" else name
            row = result.holdout[name]
            table.add_row(label, *["-" if k not in row else f"{row[k]:.3f}" for k in shown])
    console.print(table)
    console.print(decision_panel(result.registered))


def _trained_until(model) -> pd.Timestamp | None:
    """The newest snapshot of the rows the model was trained on (its run's fingerprint)."""
    from training.tracking import activate, resolve_tracking

    if model.run_id is None:
        return None
    params = activate(resolve_tracking(create=False)).get_run(model.run_id).data.params
    last = params.get("last")
    return None if last in (None, "None") else pd.Timestamp(last)


COMMANDS: tuple[Command, ...] = (
    Command("monitor", monitor),
    Command("retrain", retrain),
)
