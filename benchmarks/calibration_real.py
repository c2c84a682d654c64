"""Real Olist sellers beside the default synthetic world: the figures docs/calibration.md quotes.

The world's knobs are justified by what real sellers show, not by what makes the forecaster look
good, so both are measured by the same code: lateness, delivery time, seller size, reviews,
cancellations, the tier mix under the Olist dataset recipe and under the default one, and how
often a seller's late rate really changes between the halves of its history (beyond the change
that noise alone gives, measured by shuffling each seller's orders between its halves).

Run: .venv/bin/python benchmarks/calibration_real.py [--path DIR] [--merchants N --days D]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.olist import read_olist
from features.rulebook import INSUFFICIENT, TIERS, load_rulebook
from features.rulebook_scoring import compute_les
from features.validation import validate_orders
from features.world import generate_world
from features.world_params import WorldConfig

DEFAULT_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "olist_real"
CHANGE_THRESHOLD = 0.10  # a late rate that moves by 10 points between halves is a changed seller
CHANGE_MIN_DELIVERED = 20  # per half: below this a seller's late rate is mostly noise
NULL_DRAWS = 20
SELLER_RATE_MIN_DELIVERED = 50  # sellers whose own late rate is measured, not guessed
DAY = pd.Timedelta(days=1)


class Share(float):
    """A fraction, printed as a percentage."""


@dataclass(frozen=True)
class Recipe:
    """A dataset recipe: builder config plus the rulebook overrides `les build-dataset` applies."""

    name: str
    cfg: DatasetConfig
    min_orders: int | None


OLIST_RECIPE = Recipe(
    "Olist recipe (90/90/30 days, min 3 orders)",
    DatasetConfig(window_days=90, horizon_days=90, cadence_days=30),
    3,
)
DEFAULT_RECIPE = Recipe("default recipe (30/30/7 days)", DatasetConfig(), None)


def real_orders(path: Path) -> pd.DataFrame:
    """The contract-valid (order, seller) rows of the Olist folder, as `les ingest olist` writes."""
    return validate_orders(read_olist(path).orders).valid


def _delivered(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.loc[orders["status"] == "delivered"]


def delivery_figures(orders: pd.DataFrame) -> dict[str, float]:
    """Late shares and purchase-to-delivery days over delivered orders; late dispatch over shipped."""
    d = _delivered(orders)
    days = (d["delivered_at"] - d["created_at"]).dt.total_seconds() / 86400
    shipped = orders.loc[orders["shipped_at"].notna()]
    late = _late_delivery(d)
    per_seller = late.groupby(d["merchant_id"], observed=True).agg(["mean", "size"])
    rates = per_seller.loc[per_seller["size"] >= SELLER_RATE_MIN_DELIVERED, "mean"]
    return {
        "delivered after the promise": Share(late.mean()),
        "delivered > 1 day late": Share((d["delivered_at"] > d["deliver_by"] + DAY).mean()),
        "shipped after ship-by (late dispatch)": Share(_late_dispatch(shipped).mean()),
        "purchase-to-delivery median, days": days.median(),
        "purchase-to-delivery p90, days": days.quantile(0.9),
        f"sellers with >= {SELLER_RATE_MIN_DELIVERED} deliveries": len(rates),
        "  their late rate, p10": Share(rates.quantile(0.1)),
        "  their late rate, median": Share(rates.median()),
        "  their late rate, p90": Share(rates.quantile(0.9)),
        "  their late rate, max": Share(rates.max()),
    }


def size_figures(orders: pd.DataFrame) -> dict[str, float]:
    """Orders per seller over the whole span, and per active day (the world is livestream-sized)."""
    per_seller = orders.groupby("merchant_id", observed=True).size()
    span_days = (orders["created_at"].max() - orders["created_at"].min()) / DAY
    return {
        "sellers": len(per_seller),
        "orders (rows)": len(orders),
        "span, days": span_days,
        "orders per seller, median": per_seller.median(),
        "orders per seller, p90": per_seller.quantile(0.9),
        "sellers with >= 30 orders, share": Share((per_seller >= 30).mean()),
        "orders per seller per day, median": per_seller.median() / span_days,
    }


def review_figures(orders: pd.DataFrame) -> dict[str, float]:
    """Score mix of rated deliveries, and how much a late delivery raises the 1-2 share."""
    d = _delivered(orders)
    rating = d["logistics_rating"].astype(float)
    rated = rating.notna()
    late = (d["delivered_at"] > d["deliver_by"]).to_numpy()
    low = (rating <= 2).to_numpy()
    mix = rating[rated].value_counts(normalize=True)
    return {
        "rated share of deliveries": Share(rated.mean()),
        **{f"score {s}": Share(mix.get(float(s), 0.0)) for s in range(1, 6)},
        "1-2 share, on-time deliveries": Share(low[rated.to_numpy() & ~late].mean()),
        "1-2 share, late deliveries": Share(low[rated.to_numpy() & late].mean()),
    }


def cancellation_figures(orders: pd.DataFrame) -> dict[str, float]:
    cancelled = orders["status"] == "cancelled"
    return {
        "cancelled share of orders": Share(cancelled.mean()),
        "seller-fault cancelled share": Share((orders["cancelled_by"] == "seller").mean()),
        "not finished at the data's end": Share((orders["status"] == "in_transit").mean()),
    }


def recipe_tiers(orders: pd.DataFrame, recipe: Recipe) -> dict[str, float]:
    """Label tier shares of complete label windows; tier shares are of the scored rows."""
    rules = load_rulebook()
    overrides: dict[str, int] = {"window_days": recipe.cfg.horizon_days}
    if recipe.min_orders is not None:
        overrides["min_orders"] = recipe.min_orders
    dataset = build_dataset(orders, recipe.cfg, rules.with_overrides(**overrides))
    labels = dataset.loc[dataset["label_complete"], "label_tier"]
    scored = labels[labels != INSUFFICIENT]
    shares = scored.value_counts(normalize=True)
    return {
        "complete label rows": len(labels),
        "insufficient data, share of them": Share((labels == INSUFFICIENT).mean()),
        **{tier: Share(shares.get(tier, 0.0)) for tier in TIERS},
    }


def last_window_tiers(orders: pd.DataFrame) -> dict[str, float]:
    """The packaged rulebook over the last 30 days before the last order day (what a seller sees)."""
    end = orders["created_at"].max().normalize()
    rules = load_rulebook()
    tiers = compute_les(orders, end - pd.Timedelta(days=rules.window_days), end, rules)["les_tier"]
    shares = tiers[tiers != INSUFFICIENT].value_counts(normalize=True)
    return {
        "sellers with orders": len(tiers),
        "insufficient data, share": Share((tiers == INSUFFICIENT).mean()),
        **{tier: Share(shares.get(tier, 0.0)) for tier in TIERS},
    }


def _half_means(
    codes: np.ndarray, second: np.ndarray, values: np.ndarray, n_sellers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per seller: mean of `values` in each half and the smaller half's count."""
    cell = codes * 2 + second
    count = np.bincount(cell, minlength=2 * n_sellers).reshape(n_sellers, 2)
    total = np.bincount(cell, weights=values, minlength=2 * n_sellers).reshape(n_sellers, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return mean[:, 0], mean[:, 1], count.min(axis=1)


def change_figures(
    orders: pd.DataFrame,
    column: str,
    outcome: Callable[[pd.DataFrame], pd.Series],
    seed: int = 0,
) -> dict[str, float]:
    """Share of sellers whose rate moved by more than CHANGE_THRESHOLD between the halves of their
    own history (split at their median order time), and the share that noise alone gives: the
    same statistic with each seller's outcomes shuffled between its halves. Observed minus noise
    is the share of sellers whose rate really changed, split into deteriorations and improvements."""
    rows = orders.loc[orders[column].notna()]
    codes, uniques = pd.factorize(rows["merchant_id"])
    t = rows["created_at"].astype("int64")
    second = (t > t.groupby(codes).transform("median")).to_numpy().astype(int)
    values = outcome(rows).to_numpy().astype(float)
    first, last, smaller = _half_means(codes, second, values, len(uniques))
    kept = smaller >= CHANGE_MIN_DELIVERED

    def moved(diff: np.ndarray) -> np.ndarray:
        """Shares of kept sellers: changed either way, rose, fell."""
        diff = diff[kept]
        return (np.array([np.abs(diff), diff, -diff]) > CHANGE_THRESHOLD).mean(axis=1)

    observed = moved(last - first)
    rng = np.random.default_rng(seed)
    grouped = np.argsort(codes, kind="stable")
    noise = np.zeros(3)
    for _ in range(NULL_DRAWS):  # a handful of whole-table shuffles, each vectorised
        shuffled = values.copy()
        shuffled[grouped] = values[np.lexsort((rng.random(len(codes)), codes))]
        a, b, _ = _half_means(codes, second, shuffled, len(uniques))
        noise += moved(b - a) / NULL_DRAWS
    beyond = observed - noise
    return {
        f"sellers with >= {CHANGE_MIN_DELIVERED} per half": int(kept.sum()),
        "moved > 10 pts, observed": Share(observed[0]),
        "moved > 10 pts, noise alone": Share(noise[0]),
        "moved > 10 pts, beyond noise": Share(beyond[0]),
        "  rose (worse), beyond noise": Share(beyond[1]),
        "  fell (better), beyond noise": Share(beyond[2]),
    }


def _late_delivery(rows: pd.DataFrame) -> pd.Series:
    return rows["delivered_at"] > rows["deliver_by"]


def _late_delivery_vs_month(rows: pd.DataFrame) -> pd.Series:
    """Late minus the whole marketplace's late rate in the order's month: a seller's own change,
    without marketplace-wide shocks (Olist: carrier strikes, Black Friday), which the world lacks."""
    late = _late_delivery(rows).astype(float)
    month = rows["created_at"].dt.tz_convert(None).dt.to_period("M")
    return late - late.groupby(month).transform("mean")


def _late_dispatch(rows: pd.DataFrame) -> pd.Series:
    return rows["shipped_at"] > rows["ship_by"]


def all_figures(orders: pd.DataFrame) -> dict[str, dict[str, float]]:
    delivered = _delivered(orders)
    halves = "first vs second half of each seller's orders"
    return {
        "delivery": delivery_figures(orders),
        "seller size": size_figures(orders),
        "reviews (Olist: product review; world: logistics rating)": review_figures(orders),
        "cancellations and open orders": cancellation_figures(orders),
        f"tiers, {OLIST_RECIPE.name}": recipe_tiers(orders, OLIST_RECIPE),
        f"tiers, {DEFAULT_RECIPE.name}": recipe_tiers(orders, DEFAULT_RECIPE),
        "tiers, packaged rulebook over the last 30 days": last_window_tiers(orders),
        f"late delivery rate, {halves}": change_figures(delivered, "delivered_at", _late_delivery),
        f"late delivery rate minus the month's marketplace rate, {halves}": change_figures(
            delivered, "delivered_at", _late_delivery_vs_month
        ),
        f"late dispatch rate, {halves}": change_figures(orders, "shipped_at", _late_dispatch),
    }


def _cell(value: float) -> str:
    if isinstance(value, Share):
        return "-" if np.isnan(value) else f"{value:.1%}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:,.1f}"


def print_table(real: dict, world: dict, world_label: str) -> None:
    width = 66
    print(f"{'figure':<{width}} {'Olist real':>11} {world_label:>15}")
    for section, figures in real.items():
        print(f"\n{section}")
        for name, value in figures.items():
            print(f"  {name:<{width - 2}} {_cell(value):>11} {_cell(world[section][name]):>15}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="Olist CSV folder")
    parser.add_argument("--merchants", type=int, default=WorldConfig.n_merchants)
    parser.add_argument("--days", type=int, default=WorldConfig.days)
    parser.add_argument("--seed", type=int, default=WorldConfig.seed)
    args = parser.parse_args()
    if not (args.path / "olist_orders_dataset.csv").is_file():
        sys.exit(
            f"Olist data not found at {args.path} (expected olist_orders_dataset.csv there); "
            "pass --path DIR with the Olist CSV files"
        )
    real = all_figures(real_orders(args.path))
    cfg = WorldConfig(n_merchants=args.merchants, days=args.days, seed=args.seed)
    world = all_figures(generate_world(cfg).orders)
    print_table(real, world, f"world {cfg.n_merchants}x{cfg.days}")


if __name__ == "__main__":
    main()
