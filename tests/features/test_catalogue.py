"""The catalogue declares every feature's range, and the dataset builder stays inside it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from features.catalogue import (
    DISPLAYS,
    RANGES_SINCE_VERSION,
    SEMANTICS_SINCE_VERSION,
    CatalogueError,
    load_catalogue,
)
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import MAX_POINTS, TIER_CODES, load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig

CATALOGUE = load_catalogue()
PACKAGED = Path(__file__).parents[2] / "features" / "catalogue.yaml"


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(PACKAGED.read_text())


@pytest.fixture(scope="module")
def dataset():
    world = generate_world(WorldConfig(n_merchants=30, days=120))
    return build_dataset(world.orders, DatasetConfig(), load_rulebook())


def test_every_feature_has_a_declared_range():
    assert CATALOGUE.version >= RANGES_SINCE_VERSION
    for f in CATALOGUE.features:
        assert f.minimum is None or f.maximum is None or f.minimum <= f.maximum, f.name


def test_shares_trends_and_codes_have_their_ranges():
    """The values issue 13 found scored: each now lies outside its feature's range."""
    share = {f.name: (f.minimum, f.maximum) for f in CATALOGUE.features if f.denominator}
    assert set(share.values()) == {(0.0, 1.0)}
    ranges = {f.name: (f.minimum, f.maximum) for f in CATALOGUE.features}
    assert ranges["carrier_concentration_hhi"] == (0.0, 1.0)
    assert ranges["livestream_order_share"] == (0.0, 1.0)
    assert ranges["transit_hours_cv"] == (0.0, None)
    assert ranges["late_dispatch_rate_trend"] == (-1.0, 1.0)
    assert ranges["dispatch_slack_share_mean"] == (-1.0, 1.0)
    assert ranges["pick_pack_hours_p90_trend"] == (None, None)
    assert CATALOGUE.feature("current_tier_code").integer


def test_points_and_tier_ranges_match_the_rulebook():
    for f in CATALOGUE.features:
        if f.unit == "points":
            assert (f.minimum, f.maximum) == (0.0, MAX_POINTS), f.name
        if f.unit == "tier":
            codes = TIER_CODES.values()
            assert (f.minimum, f.maximum) == (min(codes), max(codes)), f.name


def test_the_dataset_builder_stays_inside_the_declared_ranges(dataset):
    """Keeps the ranges honest: a range the builder's own output breaks would refuse real
    merchants at the API."""
    outside = {}
    for f in CATALOGUE.features:
        values = dataset[f.name].to_numpy(dtype=float, na_value=np.nan)
        known = values[~np.isnan(values)]
        bad = np.zeros(len(known), dtype=bool)
        if f.minimum is not None:
            bad |= known < f.minimum
        if f.maximum is not None:
            bad |= known > f.maximum
        if f.integer:
            bad |= known != np.round(known)
        if bad.any():
            outside[f.name] = sorted(set(known[bad].tolist()))[:5]
    assert len(dataset) > 100
    assert outside == {}


def test_a_feature_without_a_range_is_refused(tmp_path, raw):
    raw["units"].pop("hours")
    with pytest.raises(CatalogueError, match=r"acceptance_delay_hours_p50: no range.*'hours'"):
        load_catalogue(_write(tmp_path, raw))


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"minimum": 1, "maximum": 0}, "above maximum"),
        ({"minimum": 0}, "lacks \\['maximum'\\]"),
        ({"minimum": "0", "maximum": 1}, "must be a number"),
        ({"minimum": True, "maximum": None}, "must be a number"),
    ],
    ids=["inverted", "half", "text", "bool"],
)
def test_a_malformed_range_is_refused(tmp_path, raw, bounds, message):
    raw["features"][0].update(bounds)
    with pytest.raises(CatalogueError, match=f"{raw['features'][0]['name']}: .*{message}"):
        load_catalogue(_write(tmp_path, raw))


def test_a_feature_range_overrides_its_unit(tmp_path, raw):
    raw["features"][0].update(minimum=None, maximum=48)
    feature = load_catalogue(_write(tmp_path, raw)).features[0]
    assert (feature.minimum, feature.maximum, feature.range_text) == (None, 48.0, "<= 48")


def test_the_catalogue_a_model_logs_reads_back_the_same(tmp_path):
    """Training logs the catalogue as its resolved features (no `units` section): each carries
    its own range, so the model's copy loads with the ranges this one declares."""
    logged = {
        "version": CATALOGUE.version,
        "stages": CATALOGUE.stage_labels,
        "features": [dataclasses.asdict(f) for f in CATALOGUE.features],
    }
    assert load_catalogue(_write(tmp_path, logged)) == CATALOGUE


def test_a_catalogue_from_before_ranges_still_loads_unbounded(tmp_path, raw):
    """A model registered before ranges carries such a catalogue; it is read for stages and
    directions only (the API is bounded by this code's catalogue)."""
    raw["version"] = RANGES_SINCE_VERSION - 1
    raw.pop("units")
    for entry in raw["features"]:
        entry.pop("minimum", None)
        entry.pop("maximum", None)
    catalogue = load_catalogue(_write(tmp_path, raw))
    assert catalogue.names == CATALOGUE.names
    assert {(f.minimum, f.maximum) for f in catalogue.features} == {(None, None)}


def test_every_feature_declares_display_and_example():
    assert CATALOGUE.version >= SEMANTICS_SINCE_VERSION
    assert {f.display for f in CATALOGUE.features} == set(DISPLAYS)
    assert set(CATALOGUE.examples()) == set(CATALOGUE.names)
    assert CATALOGUE.feature("on_time_delivery_rate").display == "share"
    assert CATALOGUE.feature("surge_pick_pack_p90_ratio").unit == "ratio"
    assert CATALOGUE.feature("surge_pick_pack_p90_ratio").display == "number"


def test_examples_lie_within_their_ranges():
    for f in CATALOGUE.features:
        assert f.minimum is None or f.example >= f.minimum, f.name
        assert f.maximum is None or f.example <= f.maximum, f.name
        assert not f.integer or f.example.is_integer(), f.name


def test_each_trend_names_an_existing_source(dataset):
    assert CATALOGUE.trends and all(t.endswith("_trend") for t in CATALOGUE.trends)
    for trend, source in CATALOGUE.trends.items():
        assert source in CATALOGUE.names and CATALOGUE.feature(source).trend_of is None, trend
        assert CATALOGUE.feature(trend).unit == CATALOGUE.feature(source).unit, trend
        assert trend in dataset.columns


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["units"]["ratio"].update(display="percent"), "display 'percent'"),
        (lambda r: r["units"]["ratio"].pop("display"), "no display"),
        (lambda r: r["features"][0].pop("example"), "no example"),
        (lambda r: r["features"][0].update(example="fast"), "example must be a number"),
        (lambda r: r["features"][0].update(example=-1.0), "example -1 is outside"),
        (lambda r: r["features"][0].update(trend_of="no_such_feature"), "trend_of 'no_such"),
    ],
)
def test_bad_semantics_are_refused(tmp_path, raw, change, message):
    change(raw)
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(_write(tmp_path, raw))


def test_a_catalogue_from_before_semantics_reads_ratios_as_shares(tmp_path, raw):
    raw["version"] = SEMANTICS_SINCE_VERSION - 1
    for unit in raw["units"].values():
        unit.pop("display")
    for entry in raw["features"]:
        entry.pop("example")
        entry.pop("display", None)
    old = load_catalogue(_write(tmp_path, raw))
    assert old.examples() == {}
    assert {f.display for f in old.features if f.unit == "ratio"} == {"share"}
    assert {f.display for f in old.features if f.unit != "ratio"} == {"number"}
