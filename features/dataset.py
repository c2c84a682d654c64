"""(merchant, snapshot) rows: point-in-time stage features, the current LES, and the next window's label.

Features at snapshot T use events in [T - window, T); the label is the rulebook over [T, T + horizon).
A row whose label window runs past the data is kept (scoreable) but marked label_complete = False.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import reduce

import numpy as np
import pandas as pd

from features.catalogue import FULFILMENT_STAGES, load_catalogue
from features.dataset_config import (
    DAY,
    DataBounds,
    DatasetConfig,
    data_bounds,
    day_to_ts,
    snapshot_grid,
)
from features.events import NO_DAY, NS_PER_DAY, OrderEvents, order_event_parts, order_events
from features.rulebook import INSUFFICIENT, MAX_POINTS, TIER_CODES, Rulebook
from features.rulebook_scoring import rulebook_inputs, score_les
from features.snapshots import midnight_utc
from features.window_grid import WindowRequest
from features.windows import WindowConfig, window_feature_arrays

MIN_ORDERS_PER_THREAD = 250_000
HISTORY_SUFFIX = "_history"
CURRENT_POINTS_PREFIX = "current_les_points_"
HISTORY_POINTS_PREFIX = "history_les_points_"


def _feature_requests(
    snapshots: pd.DatetimeIndex, cfg: DatasetConfig, rules: Rulebook
) -> list[WindowRequest]:
    """The current window, the previous one (for trends and growth), the history window the
    rulebook is scored on for the `*_history` features and, when the rulebook's window differs
    from the feature window, the window the current LES is scored on."""
    requests = [
        WindowRequest(snapshots, cfg.window_days),
        WindowRequest(
            snapshots - cfg.window_days * DAY,
            cfg.window_days,
            (*load_catalogue().trends.values(), "orders_in_window"),
        ),
        WindowRequest(snapshots, cfg.history_window_days, rulebook_inputs(rules)),
    ]
    if rules.window_days != cfg.window_days:
        requests.append(WindowRequest(snapshots, rules.window_days, rulebook_inputs(rules)))
    return requests


def _stage_points(les: pd.DataFrame, rules: Rulebook, prefix: str) -> dict[str, np.ndarray]:
    """The LES split by fulfilment stage: each counted metric's weight x points over the counted
    weight, summed per stage, so the stages add up to the score (NaN where it is unscored). The
    merchant's current state enters the model by stage, and its attribution stays by stage."""
    counted = np.zeros(len(les))
    parts: dict[str, np.ndarray] = {stage: np.zeros(len(les)) for stage in FULFILMENT_STAGES}
    for m in rules.metrics:
        points = les[f"{m.feature}_points"].to_numpy(dtype=float)
        present = ~np.isnan(points)
        counted += np.where(present, m.weight, 0.0)
        parts[m.stage] += np.where(present, points * m.weight, 0.0)
    scored = ~np.isnan(les["les_score"].to_numpy(dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        # clipped to the LES scale: one stage holding all counted weight divides to 5 + 1 ulp
        return {
            f"{prefix}{stage}": np.where(scored, np.clip(total / counted, 0.0, MAX_POINTS), np.nan)
            for stage, total in parts.items()
        }


def _label_request(
    snapshots: pd.DatetimeIndex, cfg: DatasetConfig, rules: Rulebook
) -> WindowRequest:
    """The rulebook over [T, T + horizon): a window of `horizon_days` ending at T + horizon."""
    return WindowRequest(
        snapshots + cfg.horizon_days * DAY, cfg.horizon_days, rulebook_inputs(rules)
    )


def _features_at(
    events: OrderEvents,
    snapshots: pd.DatetimeIndex,
    windows: list[dict[str, np.ndarray]],
    cfg: DatasetConfig,
    rules: Rulebook,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Every catalogue feature at each snapshot from the windows of `_feature_requests`, for
    merchants that had started by then; shared by training rows and the serving path. Also the
    mask of kept (merchant, snapshot) cells."""
    current, previous, history = dict(windows[0]), windows[1], windows[2]
    for trend, source in load_catalogue().trends.items():
        current[trend] = current[source] - previous[source]
    prev_orders = previous["orders_in_window"]
    with np.errstate(invalid="ignore", divide="ignore"):
        current["order_growth_rate"] = np.where(
            prev_orders >= cfg.min_observations,
            current["orders_in_window"] / prev_orders - 1.0,
            np.nan,
        )
    scored = windows[3] if len(windows) > 3 else current
    les = score_les(pd.DataFrame({n: scored[n] for n in rulebook_inputs(rules)}), rules)
    current["current_les_score"] = les["les_score"].to_numpy()
    current |= _stage_points(les, rules, CURRENT_POINTS_PREFIX)
    history_frame = pd.DataFrame({n: history[n] for n in rulebook_inputs(rules)})
    current |= _stage_points(score_les(history_frame, rules), rules, HISTORY_POINTS_PREFIX)
    for m in rules.metrics:
        current[m.feature + HISTORY_SUFFIX] = history[m.feature]
    tier = les["les_tier"].to_numpy()
    current["current_tier_code"] = pd.Series(tier).map(TIER_CODES).astype(float).to_numpy()
    started = _started(events, snapshots)
    codes = np.repeat(np.arange(len(events.merchant_ids)), len(snapshots))[started]
    frame = pd.DataFrame(
        {
            "merchant_id": pd.array(events.merchant_ids[codes], dtype="string"),
            "snapshot_at": pd.to_datetime(
                np.tile(snapshots.as_unit("ns").asi8, len(events.merchant_ids))[started],
                unit="ns",
                utc=True,
            ),
            **{name: current[name][started] for name in load_catalogue().names},
        }
    )
    frame["current_tier"] = tier[started]
    return frame, started


def _started(events: OrderEvents, snapshots: pd.DatetimeIndex) -> np.ndarray:
    """(merchant, snapshot) cells after the merchant's first paid day, in merchant-major order."""
    first_paid = _first_paid_day(events)
    snapshot_days = snapshots.as_unit("ns").asi8 // NS_PER_DAY
    return np.repeat(first_paid, len(snapshots)) < np.tile(snapshot_days, len(first_paid))


def _first_paid_day(events: OrderEvents) -> np.ndarray:
    paid = np.where(events.day["paid"] == NO_DAY, np.iinfo(np.int64).max, events.day["paid"])
    first = np.full(len(events.merchant_ids), np.iinfo(np.int64).max)
    np.minimum.at(first, events.merchant_code, paid)
    return first


def _labels(
    window: dict[str, np.ndarray],
    request: WindowRequest,
    cfg: DatasetConfig,
    rules: Rulebook,
    last_event_day: int,
    n_merchants: int,
) -> pd.DataFrame:
    """Label score, tier and completeness per (merchant, snapshot), in merchant-major order."""
    les = score_les(pd.DataFrame(window), rules)
    label_end = np.tile(request.ends, n_merchants)
    return pd.DataFrame(
        {
            "label_score": les["les_score"].to_numpy(),
            "label_tier": les["les_tier"].to_numpy(),
            "label_complete": label_end <= day_to_ts(last_event_day) + DAY,
        }
    )


def build_dataset(
    orders: pd.DataFrame,
    cfg: DatasetConfig,
    rules: Rulebook,
    bounds: DataBounds | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Training and backtest rows: features, current tier and the next window's label.

    `bounds` defaults to those of `orders`; a part of a larger table passes the whole table's.
    Runs of merchants are built in `threads` threads (default: one per core for large tables);
    every merchant's rows depend only on its orders and the bounds, so the result is the same."""
    parts = order_event_parts(orders, threads or default_threads(len(orders)))
    bounds = bounds or reduce(DataBounds.union, map(data_bounds, parts))
    snapshots = snapshot_grid(parts[0], cfg, bounds)
    if len(parts) == 1:
        return _dataset_rows(parts[0], snapshots, cfg, rules, bounds)
    with ThreadPoolExecutor(len(parts)) as pool:
        frames = pool.map(lambda e: _dataset_rows(e, snapshots, cfg, rules, bounds), parts)
        return pd.concat(list(frames), ignore_index=True)


def default_threads(n_orders: int) -> int:
    """One thread per usable core once a table is large enough to repay the split."""
    return max(1, min(len(os.sched_getaffinity(0)), n_orders // MIN_ORDERS_PER_THREAD))


def _dataset_rows(
    events: OrderEvents,
    snapshots: pd.DatetimeIndex,
    cfg: DatasetConfig,
    rules: Rulebook,
    bounds: DataBounds,
) -> pd.DataFrame:
    requests = [*_feature_requests(snapshots, cfg, rules), _label_request(snapshots, cfg, rules)]
    windows = window_feature_arrays(events, requests, WindowConfig(cfg.min_observations))
    features, started = _features_at(events, snapshots, windows[:-1], cfg, rules)
    labels = _labels(
        windows[-1], requests[-1], cfg, rules, bounds.last_event_day, len(events.merchant_ids)
    )
    return pd.concat([features, labels.loc[started].reset_index(drop=True)], axis=1)


def build_snapshot_features(
    orders: pd.DataFrame, snapshot_at: pd.Timestamp, cfg: DatasetConfig, rules: Rulebook
) -> pd.DataFrame:
    """One row per merchant at one snapshot, by exactly the code that builds training rows."""
    return build_features_at(orders, [snapshot_at], cfg, rules)


def build_features_at(
    orders: pd.DataFrame, snapshots_at: list, cfg: DatasetConfig, rules: Rulebook
) -> pd.DataFrame:
    """`build_snapshot_features` at several snapshots (rows of each merchant that had started),
    from one pass over the orders."""
    snapshots = pd.DatetimeIndex(
        [midnight_utc(s, "snapshot_at") for s in snapshots_at]  # ns, as training rows carry
    )
    events = order_events(orders)
    requests = _feature_requests(snapshots, cfg, rules)
    windows = window_feature_arrays(events, requests, WindowConfig(cfg.min_observations))
    return _features_at(events, snapshots, windows, cfg, rules)[0]


def dataset_summary(dataset: pd.DataFrame) -> dict[str, object]:
    """The figures `les build-dataset` prints: size, label mix, trainable and insufficient rows."""
    trainable = dataset["label_complete"] & (dataset["label_tier"] != INSUFFICIENT)
    return {
        "rows": len(dataset),
        "merchants": dataset["merchant_id"].nunique(),
        "snapshots": dataset["snapshot_at"].nunique(),
        "label_distribution": dataset.loc[dataset["label_complete"], "label_tier"]
        .value_counts()
        .to_dict(),
        "trainable_rows": int(trainable.sum()),
        "insufficient_label_rows": int(
            (dataset["label_complete"] & (dataset["label_tier"] == INSUFFICIENT)).sum()
        ),
        "incomplete_label_rows": int((~dataset["label_complete"]).sum()),
    }
