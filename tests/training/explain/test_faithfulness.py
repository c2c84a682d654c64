"""On the synthetic world the latent truth is known: attribution must blame the right stage.

A merchant with a weak carrier (bottom fifth of logistics quality, IT above the median) should see
ship & transport as its most negative fulfilment stage; one with a weak order system (bottom fifth
of IT quality, logistics above the median) should see order receipt or pick & pack. Measured on
this world (300 merchants, 240 days, seed 11; the calibrated world of 2026-12-04): 100% of 29 and
100% of 37 merchants.

Pick & pack and ship & transport are the most negative stage of many merchants anyway, so each rate
is also compared with the same rate over the other merchants (the control group): ship & transport
100% for weak carriers against 26% for the rest (+74 points); order receipt or pick & pack 100% for
weak order systems against 59% for the rest (+41 points).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.catalogue import FULFILMENT_STAGES, load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig
from training.config import load_train_config
from training.explain.attribution import points_column, stage_attribution_frame
from training.explain.registered import load_registered_forecaster
from training.pipeline import train_and_register
from training.tracking import TrackingConfig

pytestmark = pytest.mark.xdist_group("explain")
WEAK_CARRIER_FLOOR = 0.70
WEAK_IT_FLOOR = 0.85
# Minimum excess over the control group's rate, in rate units (measured +0.74 and +0.41).
EXCESS_OVER_CONTROL_FLOOR = 0.30


@pytest.fixture(scope="module")
def world_attribution(tmp_path_factory: pytest.TempPathFactory):
    world = generate_world(WorldConfig(n_merchants=300, days=240, seed=11))
    dataset = build_dataset(world.orders, DatasetConfig(), load_rulebook())
    store = tmp_path_factory.mktemp("faithful-store")
    tracking = TrackingConfig(f"sqlite:///{store / 'mlflow.db'}", (store / "artifacts").as_uri())
    result = train_and_register(
        dataset, load_train_config(), load_rulebook(), load_catalogue(), tracking
    )
    model = load_registered_forecaster(result.model_uri, tracking)
    latest = dataset[dataset["snapshot_at"] == dataset["snapshot_at"].max()]
    attribution = stage_attribution_frame(model, latest).merge(world.merchants, on="merchant_id")
    points = attribution[[points_column(s) for s in FULFILMENT_STAGES]].to_numpy()
    attribution["most_negative_stage"] = np.array(FULFILMENT_STAGES)[points.argmin(axis=1)]
    return attribution


def _weak_carrier(a: pd.DataFrame) -> pd.Series:
    logistics, it = a["logistics_quality_end"], a["it_quality_end"]
    return (logistics < logistics.quantile(0.2)) & (it > it.median())


def _weak_order_system(a: pd.DataFrame) -> pd.Series:
    logistics, it = a["logistics_quality_end"], a["it_quality_end"]
    return (it < it.quantile(0.2)) & (logistics > logistics.median())


def _blamed_on_ship(a: pd.DataFrame) -> pd.Series:
    return a["most_negative_stage"] == "ship_transport"


def _blamed_on_receipt_or_pick(a: pd.DataFrame) -> pd.Series:
    return a["most_negative_stage"].isin(["order_receipt", "pick_pack"])


def test_weak_carriers_are_blamed_on_ship_and_transport(world_attribution) -> None:
    weak = world_attribution[_weak_carrier(world_attribution)]
    assert len(weak) >= 25
    rate = _blamed_on_ship(weak).mean()
    assert rate >= WEAK_CARRIER_FLOOR, f"{rate:.2f} of {len(weak)} weak-carrier merchants"


def test_weak_order_systems_are_blamed_on_receipt_or_pick_and_pack(world_attribution) -> None:
    weak = world_attribution[_weak_order_system(world_attribution)]
    assert len(weak) >= 25
    rate = _blamed_on_receipt_or_pick(weak).mean()
    assert rate >= WEAK_IT_FLOOR, f"{rate:.2f} of {len(weak)} weak-IT merchants"


@pytest.mark.parametrize(
    ("group", "blamed"),
    [(_weak_carrier, _blamed_on_ship), (_weak_order_system, _blamed_on_receipt_or_pick)],
    ids=["weak-carrier", "weak-order-system"],
)
def test_the_blame_rate_is_well_above_the_control_group(world_attribution, group, blamed) -> None:
    """Not just the base rate: merchants outside the weak group are blamed on that stage far less."""
    in_group = group(world_attribution)
    weak, control = world_attribution[in_group], world_attribution[~in_group]
    assert len(control) >= 200
    weak_rate, control_rate = blamed(weak).mean(), blamed(control).mean()
    assert weak_rate - control_rate >= EXCESS_OVER_CONTROL_FLOOR, (
        f"weak group {weak_rate:.2f} (n={len(weak)}) vs control {control_rate:.2f} "
        f"(n={len(control)})"
    )
