"""How much of the synthetic world's next tier is forecastable at all, and where les falls short.

The world's latent paths (each merchant's IT and logistics quality and demand, day by day, with
every change event) are drawn once; its orders are then drawn again K times from those same paths
with other seeds. The mean of a row's K label scores is what a forecaster that knew the latent
paths (including any change still to come in the label window) would predict: a clairvoyant
oracle, cut at thresholds fitted on the test rows themselves. It estimates the ceiling on the
backtest's test rows; it is no strict bound (its K draws leave it some noise, it does not know
the livestream schedule, and its foreknowledge of changes to come is more than any forecaster
has). The tables compare it with the served model and persistence, then split the rows by the
change event nearest the snapshot, to show where the model loses and what each group is worth.

`--nowcast` adds a second, foreknowledge-free oracle: the same backtest with the merchant's true
latent state at the snapshot (its level and its change over the last 14 days) added to the
features, one latent at a time and with the logistics quality blurred by noise. It says which
latent the forecaster lacks and how precisely it would have to know it; a regressor trained on
the latent itself then says how precisely the catalogue's features reveal it.

Run: .venv/bin/python benchmarks/forecast_ceiling.py [--draws 8] [--nowcast]
     (about 3 minutes; --nowcast adds about 7)
"""

from __future__ import annotations

import argparse
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from forecast_quality import edge_over_persistence
from sklearn.model_selection import GroupKFold, cross_val_predict

from features.catalogue import load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook
from features.world import (
    draw_changes,
    draw_merchants,
    generate_world,
    mean_daily_demand_orders,
    merchant_paths,
)
from features.world_orders import simulate_orders
from features.world_params import WORKING_HOURS, MerchantPaths, WorldConfig
from training.backtest import MODEL, PERSISTENCE, run_backtest, trainable_rows
from training.config import TrainConfig, load_train_config
from training.decision import confusion, fit_tier_cuts, macro_f1_from_confusion, qwk_from_confusion
from training.forecaster_model import tiers_from_cuts
from training.pipeline import model_feature_names

KEYS = ["merchant_id", "snapshot_at"]
ORACLE = "clairvoyant oracle"
RECIPE = DatasetConfig()  # the default recipe of les demo
# Before the snapshot, a change event is "recent" within one feature window, "earlier" within
# three; "to come" when it takes effect inside the label window.
RECENT_DAYS, EARLIER_DAYS, TO_COME_DAYS = (
    RECIPE.window_days,
    3 * RECIPE.window_days,
    RECIPE.horizon_days,
)


LATENT_CHANGE_DAYS = 14
# Noise (standard deviations, in quality units 0..1) blurring the known logistics quality.
LOGISTICS_NOISE = (0.02, 0.04)


def world_paths(cfg: WorldConfig, changes: pd.DataFrame) -> MerchantPaths:
    """The world's latent paths, rebuilt as `generate_world` draws them; `changes` (the world's)
    proves they are the same."""
    rng = np.random.default_rng(cfg.seed)
    merchants = draw_merchants(cfg, rng)
    rebuilt = draw_changes(cfg, merchants, rng)
    pd.testing.assert_frame_equal(
        rebuilt.drop(columns="merchant_index").reset_index(drop=True),
        changes.reset_index(drop=True),
    )
    return merchant_paths(cfg, merchants, rebuilt)


def redrawn_label_scores(cfg: WorldConfig, paths: MerchantPaths, draws: int) -> pd.DataFrame:
    """Per (merchant, snapshot): the label score of `draws` order tables drawn from the world's own
    latent paths with other seeds, one column each."""
    rules, frames = load_rulebook(), []
    for k in range(draws):
        orders = simulate_orders(cfg, paths, np.random.default_rng([cfg.seed, 1_000 + k]))
        labels = build_dataset(orders, RECIPE, rules)[[*KEYS, "label_score"]]
        frames.append(labels.rename(columns={"label_score": f"draw_{k}"}).set_index(KEYS))
    return pd.concat(frames, axis=1)


def latent_state(cfg: WorldConfig, paths: MerchantPaths, rows: pd.DataFrame) -> pd.DataFrame:
    """Per row: each latent on the last day before the snapshot (what a perfect nowcast knows, no
    foreknowledge), its change over the LATENT_CHANGE_DAYS before, and the pick & pack load (mean
    daily demand with livestreams over the day's packing capacity)."""
    static = paths.static
    merchant = pd.Index(static["merchant_id"]).get_indexer(rows["merchant_id"])
    snapshot_day = (
        pd.to_datetime(rows["snapshot_at"]) - pd.Timestamp(cfg.start, tz="UTC")
    ).dt.days.to_numpy() - 1

    def on(path: np.ndarray, days_before: int = 0) -> np.ndarray:
        return path[merchant, np.clip(snapshot_day - days_before, 0, cfg.days - 1)]

    latent = {}
    for name, path in (
        ("logistics_quality", paths.logistics_quality),
        ("it_quality", paths.it_quality),
        ("demand_multiplier", paths.demand_multiplier),
    ):
        latent[f"latent_{name}"] = on(path)
        latent[f"latent_{name}_change_{LATENT_CHANGE_DAYS}d"] = on(path) - on(
            path, LATENT_CHANGE_DAYS
        )
    mean_daily_demand = mean_daily_demand_orders(
        static["base_orders_per_day"],
        static["livestreams_per_week"],
        static["livestream_hours"],
        static["burst_multiplier"],
    )
    daily_capacity = static["pack_capacity_per_hour"] * WORKING_HOURS.sum()
    latent["latent_pack_load"] = (mean_daily_demand / daily_capacity).to_numpy()[merchant] * latent[
        "latent_demand_multiplier"
    ]
    return pd.DataFrame(latent, index=rows.index)


def nowcast_variants(latent: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """The latent columns each variant adds to the features."""
    rng = np.random.default_rng(seed)
    logistics = [
        "latent_logistics_quality",
        f"latent_logistics_quality_change_{LATENT_CHANGE_DAYS}d",
    ]
    variants = {
        "every latent": latent,
        "logistics quality": latent[logistics],
        "logistics quality, level only": latent[logistics[:1]],
        "IT quality": latent.filter(like="latent_it_quality"),
        "demand and pick & pack load": latent.filter(regex="demand|pack_load"),
    }
    for noise in LOGISTICS_NOISE:
        blurred = latent["latent_logistics_quality"] + rng.normal(0.0, noise, len(latent))
        variants[f"logistics quality level +- {noise:.2f}"] = blurred.to_frame(
            f"latent_logistics_quality_noise_{noise:.2f}"
        )
    return variants


def nowcast_table(
    rows: pd.DataFrame,
    names: tuple[str, ...],
    settings: TrainConfig,
    latent: pd.DataFrame,
    served: dict[str, float],
) -> pd.DataFrame:
    """The served tier's edge over persistence with each variant's latent columns added to the
    features, on the same folds; `served` is the backtest without them."""
    table = {"catalogue features only (served)": served}
    for name, columns in nowcast_variants(latent, settings.seed).items():
        result = run_backtest(
            rows.join(columns), (*names, *columns.columns), settings, load_rulebook()
        )
        table[name] = edge_over_persistence(result.pooled_metrics)
    return pd.DataFrame(table).T


def logistics_quality_recovered(
    rows: pd.DataFrame, names: tuple[str, ...], latent: pd.DataFrame, seed: int
) -> float:
    """Standard deviation of the error of a regressor that reads the catalogue's features and is
    trained on the true logistics quality (which no real forecaster has), out of merchant (5
    merchant-grouped folds): how precisely the features reveal it."""
    truth = latent["latent_logistics_quality"]
    estimate = cross_val_predict(
        lgb.LGBMRegressor(
            n_estimators=400, learning_rate=0.05, num_leaves=15, random_state=seed, verbose=-1
        ),
        rows[list(names)],
        truth,
        groups=rows["merchant_id"],
        cv=GroupKFold(5),
    )
    return float(np.std(estimate - truth))


def tier_figures(label_tiers: np.ndarray, tiers: np.ndarray) -> dict[str, float]:
    """QWK and macro-F1 of served tiers, by the decision rule's own confusion arithmetic."""
    matrix = confusion(label_tiers, tiers)
    return {"qwk": qwk_from_confusion(matrix), "macro_f1": macro_f1_from_confusion(matrix)}


def change_near(rows: pd.DataFrame, changes: pd.DataFrame) -> pd.Series:
    """The change event nearest each row's snapshot, as 'kind, when': taking effect inside the
    label window ('to come'), within RECENT_DAYS before the snapshot ('recent') or within
    EARLIER_DAYS ('earlier'); 'none' when no event is that near. An event on day d first moves
    the latent paths on day d + 1 (`features.world.merchant_paths`), so that is its day here."""
    pairs = rows[KEYS].reset_index(names="row").merge(changes, on="merchant_id")
    effect = pairs["change_at"] + pd.Timedelta(days=1)
    days = (effect - pd.to_datetime(pairs["snapshot_at"])).dt.days
    near = (days >= -EARLIER_DAYS) & (days < TO_COME_DAYS)
    pairs, days = pairs.loc[near], days.loc[near]
    when = np.where(days >= 0, "to come", np.where(days >= -RECENT_DAYS, "recent", "earlier"))
    pairs = pairs.assign(cause=pairs["kind"] + ", " + when, distance=days.abs())
    nearest = pairs.sort_values(["distance", "cause"], kind="stable").drop_duplicates("row")
    return nearest.set_index("row")["cause"].reindex(rows.index).fillna("none")


def group_worth(test: pd.DataFrame, served: np.ndarray, oracle: np.ndarray) -> pd.Series:
    """Per group: QWK when that group's rows get the oracle's tier and every other row keeps its
    served tier, minus the served QWK: what closing that group's gap would buy."""
    label_tiers = test["label_tier_code"].to_numpy(int)
    base = tier_figures(label_tiers, served)["qwk"]
    groups = {cause: (test["cause"] == cause).to_numpy() for cause in test["cause"].unique()}
    begun = ~test["cause"].str.endswith("to come") & (test["cause"] != "none")
    groups["every event already begun"] = begun.to_numpy()
    return pd.Series(
        {
            name: tier_figures(label_tiers, np.where(rows, oracle, served))["qwk"] - base
            for name, rows in groups.items()
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--nowcast", action="store_true", help="add the nowcast oracle's table")
    args = parser.parse_args()
    start = time.perf_counter()
    cfg, rules = WorldConfig(), load_rulebook()
    world = generate_world(cfg)
    rows = trainable_rows(build_dataset(world.orders, RECIPE, rules))
    settings = load_train_config(horizon_days=RECIPE.horizon_days)
    names = model_feature_names(load_catalogue(), settings)
    result = run_backtest(rows, names, settings, rules)
    test = result.predictions.set_index(KEYS)
    paths = world_paths(cfg, world.changes)
    redrawn = redrawn_label_scores(cfg, paths, args.draws).reindex(test.index)
    test[ORACLE] = redrawn.mean(axis=1).to_numpy()
    test = test.dropna(subset=[ORACLE]).reset_index()
    label_tiers = test["label_tier_code"].to_numpy(int)
    oracle_cuts = fit_tier_cuts(test[ORACLE].to_numpy(), label_tiers)
    served = {
        PERSISTENCE: test[f"{PERSISTENCE}_tier"].to_numpy(int),
        MODEL: test[f"{MODEL}_tier"].to_numpy(int),
        ORACLE: tiers_from_cuts(test[ORACLE].to_numpy(), oracle_cuts),
    }
    scores = {PERSISTENCE: f"{PERSISTENCE}_score", MODEL: f"{MODEL}_score", ORACLE: ORACLE}
    table = pd.DataFrame(
        {
            name: {
                **tier_figures(label_tiers, tiers),
                "score_mae": float(np.mean(np.abs(test[scores[name]] - test["label_score"]))),
            }
            for name, tiers in served.items()
        }
    ).T
    table["qwk_edge_over_persistence"] = table["qwk"] - table.loc[PERSISTENCE, "qwk"]
    table["macro_f1_edge_over_persistence"] = table["macro_f1"] - table.loc[PERSISTENCE, "macro_f1"]
    print(
        f"## Synthetic world (les demo), {len(test):,} backtest test rows "
        f"({result.plan.describe()}); oracle from {args.draws} redrawn order tables"
    )
    print(table.to_string(float_format=lambda v: f"{v:+.3f}" if v < 0 else f"{v:.3f}"))
    test["cause"] = change_near(test, world.changes)
    errors = pd.DataFrame(
        {
            "cause": test["cause"],
            "model_sq": (test[f"{MODEL}_score"] - test["label_score"]) ** 2,
            "oracle_sq": (test[ORACLE] - test["label_score"]) ** 2,
            "model_abs": (test[f"{MODEL}_score"] - test["label_score"]).abs(),
            "oracle_abs": (test[ORACLE] - test["label_score"]).abs(),
        }
    )
    excess = errors["model_sq"].sum() - errors["oracle_sq"].sum()
    by_cause = errors.groupby("cause").agg(
        rows=("model_sq", "size"),
        model_mae=("model_abs", "mean"),
        oracle_mae=("oracle_abs", "mean"),
        model_sq=("model_sq", "sum"),
        oracle_sq=("oracle_sq", "sum"),
    )
    by_cause["share_of_excess_sq_error"] = (by_cause["model_sq"] - by_cause["oracle_sq"]) / excess
    worth = group_worth(test, served[MODEL], served[ORACLE])
    by_cause["qwk_gain_if_oracle_here"] = worth.reindex(by_cause.index)
    print(
        "\nWhere the model's score loses to the oracle: rows by the change event nearest the "
        "snapshot\n(share_of_excess_sq_error: that group's part of the model's squared error "
        "above the oracle's)"
    )
    print(
        by_cause.drop(columns=["model_sq", "oracle_sq"])
        .sort_values("share_of_excess_sq_error", ascending=False)
        .to_string(float_format=lambda v: f"{v:.3f}")
    )
    print(
        "\nqwk_gain_if_oracle_here: QWK with that group's rows given the oracle's tier, minus the "
        f"served QWK; every event already begun together: {worth['every event already begun']:+.3f}"
    )
    if args.nowcast:
        latent = latent_state(cfg, paths, rows)
        print(
            "\nNowcast oracle: the served tier's edge over persistence with the true latent state "
            f"at the snapshot\n(level, and change over {LATENT_CHANGE_DAYS} days) added to the "
            "features; noise is drawn per row"
        )
        table = nowcast_table(
            rows, names, settings, latent, edge_over_persistence(result.pooled_metrics)
        )
        print(table.to_string(float_format=lambda v: f"{v:+.3f}"))
        recovered = logistics_quality_recovered(rows, names, latent, settings.seed)
        print(
            "logistics quality as the catalogue's features reveal it (a regressor trained on the "
            f"true value, out of merchant): error sd {recovered:.3f}"
        )
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
