"""Real sellers out of time, through the commands a user runs: the check the held-out sellers get.

On ../shared/data/olist_real: `les ingest olist`, `les build-dataset` with the Olist recipe, then at
three cuts (the test starts of the default backtest's folds): `les train` on the rows whose label
window closed before the cut, `les promote 1`, `les score` the snapshots of the next 90 days. The
served tiers, probabilities and scores are read from `les score`'s output and compared, on the same
rows, with persistence and with the migration matrix and climatology fitted on the training rows.
Each cut gets its own working folder and embedded MLflow store; nothing is written to the project.
The pooled figures should equal the package backtest's (`benchmarks/forecast_quality.py`): the
same rows, the same fits, but through the logged model, its recipe and the batch scorer.
Run: .venv/bin/python benchmarks/out_of_time_cli.py [--olist DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from _cli import les, rows_where
from forecast_quality import OLIST_MIN_ORDERS, OLIST_RECIPE, REAL_DIR

from features.rulebook import TIER_CODES
from training.backtest import CLIMATOLOGY, MIGRATION, trainable_rows
from training.baselines import (
    NaiveBaselines,
    most_likely_tiers,
    persistence_scores,
    persistence_tiers,
)
from training.forecaster_model import proba_column
from training.metrics import proba_columns, score_metrics, tier_metrics
from training.splits import Fold, fold_masks, plan_folds

RECIPE = (  # the README's Olist recipe, as `les build-dataset` flags
    *("--window-days", str(OLIST_RECIPE.window_days)),
    *("--horizon-days", str(OLIST_RECIPE.horizon_days)),
    *("--cadence-days", str(OLIST_RECIPE.cadence_days)),
    *("--min-orders", str(OLIST_MIN_ORDERS)),
)
HORIZON_DAYS = OLIST_RECIPE.horizon_days
N_CUTS = 3
TRAIN, TEST = 0, 1  # the two masks of `fold_masks`


def in_fold(fold: Fold, part: int) -> Callable[[pd.DataFrame], np.ndarray]:
    """Selects a dataset's rows of one fold: its training (TRAIN) or test (TEST) snapshots."""
    return lambda frame: fold_masks(frame["snapshot_at"], fold)[part]


def served_rows(scored: pd.DataFrame, test: pd.DataFrame, naive: NaiveBaselines) -> pd.DataFrame:
    """The test rows with the served forecast and every baseline's, keyed as the dataset."""
    keys = ["merchant_id", "snapshot_at"]
    scored = scored.assign(merchant_id=scored["merchant_id"].astype(str))
    test = test.assign(merchant_id=test["merchant_id"].astype(str))
    rows = test.merge(scored, on=keys, how="left", validate="one_to_one")
    if rows["predicted_tier"].isna().any():
        raise SystemExit(f"les score left {int(rows['predicted_tier'].isna().sum())} rows unscored")
    rows["served_tier_code"] = rows["predicted_tier"].map(TIER_CODES)
    rows["persistence_tier"] = persistence_tiers(rows, naive.fallback)
    rows["persistence_score"] = persistence_scores(rows, naive.fallback)
    baselines = {
        MIGRATION: naive.migration_proba(rows),
        CLIMATOLOGY: naive.climatology_proba(len(rows)),
    }
    for name, proba in baselines.items():
        rows[proba_columns(name)] = proba
    return rows


def figures(rows: pd.DataFrame) -> dict[str, float]:
    """The backtest's own metric definitions (`training.metrics`) on the scored rows."""
    y = rows["label_tier_code"].to_numpy(int)
    label = rows["label_score"].to_numpy(float)
    by_code = sorted(TIER_CODES, key=TIER_CODES.get)
    proba = rows[[proba_column(t) for t in by_code]].to_numpy(float)
    served = tier_metrics(y, rows["served_tier_code"].to_numpy(int), proba)
    served |= score_metrics(label, rows["predicted_score"].to_numpy(float))
    naive = tier_metrics(y, rows["persistence_tier"].to_numpy(int), None)
    naive |= score_metrics(label, rows["persistence_score"].to_numpy(float))
    rps = {}
    for name in (MIGRATION, CLIMATOLOGY):
        baseline = rows[proba_columns(name)].to_numpy()
        rps[name] = tier_metrics(y, most_likely_tiers(baseline), baseline)["rps"]
    return {
        "rows": len(rows),
        "served macro-F1": served["macro_f1"],
        "persistence macro-F1": naive["macro_f1"],
        "served QWK": served["qwk"],
        "persistence QWK": naive["qwk"],
        "model RPS": served["rps"],
        "migration RPS": rps[MIGRATION],
        "climatology RPS": rps[CLIMATOLOGY],
        "model ECE": served["ece"],
        "model score MAE": served["score_mae"],
        "persistence score MAE": naive["score_mae"],
    }


def cell(value: float) -> str:
    """Counts as integers, figures to three decimals, nothing where a cut has no value."""
    if pd.isna(value):
        return ""
    return f"{value:.0f}" if float(value).is_integer() and value > 1 else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--olist", type=Path, default=REAL_DIR)
    parser.add_argument(
        "--keep", type=Path, help="work here and keep the files (default: a temp dir)"
    )
    args = parser.parse_args()
    if not args.olist.is_dir():
        raise SystemExit(f"no Olist data at {args.olist}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="les-oot-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    les("ingest", "olist", str(args.olist.resolve()), "--out", "orders.parquet", cwd=work)
    les(
        "build-dataset", "--orders", "orders.parquet", "--out", "dataset.parquet", *RECIPE, cwd=work
    )
    dataset = pd.read_parquet(work / "dataset.parquet")
    rows = trainable_rows(dataset)
    plan = plan_folds(rows["snapshot_at"], N_CUTS, HORIZON_DAYS)
    (work / "train.yaml").write_text(f"horizon_days: {HORIZON_DAYS}\n")
    per_cut, pooled = [], []
    for fold in plan.folds:
        cut = work / f"cut_{fold.test_start.date()}"
        cut.mkdir(exist_ok=True)
        source = work / "dataset.parquet"
        n_train = rows_where(source, in_fold(fold, TRAIN), cut / "train.parquet")
        rows_where(source, in_fold(fold, TEST), cut / "next.parquet")
        les("train", "--dataset", "train.parquet", "--config", "../train.yaml", cwd=cut)
        les("promote", "1", cwd=cut)
        les(
            "score",
            "--dataset",
            "next.parquet",
            "--snapshot",
            "all",
            "--out",
            "scored.parquet",
            cwd=cut,
        )
        scored = pd.read_parquet(cut / "scored.parquet")
        train_rows = trainable_rows(dataset[in_fold(fold, TRAIN)(dataset)])
        test_rows = rows[in_fold(fold, TEST)(rows)]
        served = served_rows(scored, test_rows, NaiveBaselines.of(train_rows))
        pooled.append(served)
        per_cut.append(
            {
                "cut": str(fold.test_start.date()),
                "train rows": len(train_rows),
                "train dataset rows": n_train,
                **figures(served),
            }
        )
    table = pd.DataFrame(per_cut)
    table.loc[len(table)] = {"cut": "pooled", **figures(pd.concat(pooled))}
    pd.set_option("display.width", 200)
    print(
        f"Real sellers ({args.olist.name}), out of time through les train / les score, "
        f"{plan.describe()}"
    )
    print(table.set_index("cut").T.map(cell).to_string())
    kept = f"; files in {work}" if args.keep else ""
    print(f"wall time {time.perf_counter() - started:.0f} s{kept}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
