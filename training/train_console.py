"""What `les train` and `les demo` print of a training run: the backtest table, the gate's decision
and where to browse the run."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from rich.panel import Panel
from rich.table import Table

from features.console import console, task_progress
from training.checks import TrainingError
from training.config import TrainConfig

TABLE_METRICS = ("macro_f1", "qwk", "rps", "ece", "score_mae")


def train_and_report(
    frame: Any,
    train_config: TrainConfig,
    recipe: Any,
    train: Callable[..., Any] | None = None,
) -> Any:
    """Train, register and gate with `train` (`train_and_register` for a pandas frame, a bound
    `train_and_register_dask` for a Dask collection), then print the metrics and the decision.
    The dataset's `recipe` must match the config's horizon and this code's rulebook."""
    from features.catalogue import load_catalogue
    from features.recipe import RecipeError
    from features.rulebook import load_rulebook
    from training.checks import check_horizon
    from training.pipeline import train_and_register
    from training.splits import SplitError
    from training.tracking import resolve_tracking

    try:
        check_horizon(train_config, recipe)
        rules = recipe.rulebook(load_rulebook())
    except RecipeError as exc:
        raise TrainingError(f"cannot train: the dataset was {exc}; rebuild it") from exc
    except TrainingError as exc:
        raise TrainingError(f"cannot train: {exc}") from exc
    tracking = resolve_tracking()
    try:
        with task_progress() as advance:
            result = (train or partial(train_and_register, recipe=recipe))(
                frame, train_config, rules, load_catalogue(), tracking, advance
            )
    except (SplitError, TrainingError) as exc:
        raise TrainingError(f"cannot train: {exc}") from exc
    console.print(metrics_table(result))
    if getattr(result, "edges", None) is not None:
        console.print(edges_table(result.edges))
    if getattr(result, "ece_noise_floor", None) is not None:
        console.print(calibration_line(result))
    console.print(decision_panel(result))
    console.print(
        f"MLflow run {result.run_id}; browse with:\n  mlflow ui --backend-store-uri "
        f"{tracking.tracking_uri}"
    )
    return result


def decision_panel(result: Any) -> Panel:
    """Green when the version became champion, else red with the gate's reasons."""
    if result.decision.promoted:
        return Panel(
            f"{result.model_name} v{result.model_version} is [bold green]champion"
            f"[/] ({result.model_uri})",
            style="green",
        )
    reasons = "\n".join(f"- {r}" for r in result.decision.reasons)
    return Panel(
        f"[bold]NOT PROMOTED[/]: v{result.model_version} stays "
        f"[bold]{result.decision.alias}[/]\n{reasons}",
        style="bold red",
    )


def metrics_table(result: Any) -> Table:
    """One row per model (served forecast, its decision diagnostics, the baselines) and the
    headline metrics (80 columns wide); every metric is in the MLflow run."""
    pooled = result.backtest.pooled_metrics
    table = Table(
        title=f"Pooled rolling-origin backtest: {result.backtest.plan.describe()}; "
        f"{int(pooled['rows'].iloc[0]):,} test rows"
    )
    table.add_column("model", no_wrap=True)
    metrics = [m for m in TABLE_METRICS if m in pooled.columns]
    for metric in metrics:
        table.add_column(metric, justify="right")
    for model in pooled.index:
        table.add_row(model, *[fmt(pooled.loc[model, metric]) for metric in metrics])
    return table


def edges_table(edges: Any) -> Table:
    """The served model's edge over each baseline with its merchant-bootstrap interval, and
    whether the interval clears zero: on a few hundred sellers a small edge is often noise."""
    from training.uncertainty import DEFAULT_LEVEL

    table = Table(
        title=f"The model's edge (positive: better), {DEFAULT_LEVEL:.0%} merchant-bootstrap interval"
    )
    for column in ("metric", "over", "edge", "interval", "verdict"):
        table.add_column(column, justify="right" if column in ("edge", "interval") else "left")
    for row in edges.itertuples(index=False):
        if row.low > 0:
            verdict = "[green]better[/]"
        elif row.high < 0:
            verdict = "[red]worse[/]"
        else:
            verdict = "within noise"
        interval = f"{row.low:+.3f} .. {row.high:+.3f}"
        table.add_row(row.metric, row.baseline, f"{row.edge:+.3f}", interval, verdict)
    return table


def calibration_line(result: Any) -> str:
    """The served probabilities' pooled ECE beside what chance alone gives a perfectly calibrated
    forecast on the same test rows, drawn independently (a floor: rows of one merchant move
    together); below a few thousand rows an ECE target can sit inside it."""
    from training.backtest import MODEL
    from training.uncertainty import DEFAULT_LEVEL

    mean, high = result.ece_noise_floor
    ece = result.backtest.pooled(MODEL, "ece")
    verdict = "within" if ece <= high else "above"
    return (
        f"Calibration: ECE {ece:.3f}; a perfectly calibrated forecast shows {mean:.3f} on these "
        f"rows by chance, drawn independently ({DEFAULT_LEVEL:.0%} of draws at most {high:.3f}); "
        f"this ECE is {verdict} that"
    )


def fmt(value: object) -> str:
    """A table cell: floats to 3 places, missing as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
