"""Dask features equal pandas features exactly: same rows, same values, same dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.distributed import NoValidOrdersError, build_dataset_dask
from features.engine import EngineConfig, engine_client
from features.io import part_files, read_table, write_parquet_folder
from features.rulebook import load_rulebook
from features.validation import validate_orders
from features.world import generate_world
from features.world_params import WorldConfig

pytestmark = pytest.mark.xdist_group("dask")
KEYS = ["merchant_id", "snapshot_at"]


@pytest.fixture(scope="module")
def client():
    with engine_client(EngineConfig("dask", n_workers=2)) as client:
        yield client


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    """A tiny world plus rows the contract rejects: a duplicate whose twin sits in another file,
    a stage-order error, and a padded merchant id that validation strips back to a real one."""
    world = generate_world(WorldConfig(n_merchants=24, days=100, seed=11)).orders
    duplicate = world.iloc[[5]]
    broken = world.iloc[[7]].assign(packed_at=world["created_at"].iloc[7] - pd.Timedelta(hours=1))
    padded = world.iloc[[9]].assign(
        order_id="padded-1", merchant_id=f"  {world['merchant_id'].iloc[9]} "
    )
    return pd.concat([world, duplicate, broken, padded], ignore_index=True)


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS, ignore_index=True)


def test_dask_features_equal_pandas_features(client, orders: pd.DataFrame, tmp_path: Path) -> None:
    write_parquet_folder(orders, tmp_path / "orders", rows_per_file=len(orders) // 3)
    cfg, rules = DatasetConfig(), load_rulebook()
    expected = validate_orders(orders)
    result = build_dataset_dask(client, tmp_path / "orders", tmp_path / "dataset", cfg, rules, 5)

    got = sorted_rows(read_table(tmp_path / "dataset"))
    want = sorted_rows(build_dataset(expected.valid, cfg, rules))
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["snapshot_at"].nunique() > 5 and got["merchant_id"].nunique() == 24
    assert result.valid_orders == len(expected.valid)
    assert result.rejected_orders == len(expected.rejected) == 4
    assert result.reason_counts == expected.reason_counts
    assert not (tmp_path / "dataset.staging").exists()
    assert len(part_files(tmp_path / "dataset")) == len(result.files) <= 5


def test_summary_of_parts_equals_summary_of_the_whole(client, orders, tmp_path: Path) -> None:
    from features.dataset import dataset_summary

    write_parquet_folder(orders, tmp_path / "orders", rows_per_file=len(orders) // 2)
    cfg, rules = DatasetConfig(cadence_days=14), load_rulebook()
    result = build_dataset_dask(client, tmp_path / "orders", tmp_path / "dataset", cfg, rules, 3)
    assert result.summary == dataset_summary(read_table(tmp_path / "dataset"))


def test_no_valid_orders_is_a_clear_error(client, orders: pd.DataFrame, tmp_path: Path) -> None:
    bad = orders.head(50).assign(status="teleported")
    write_parquet_folder(bad, tmp_path / "orders")
    with pytest.raises(NoValidOrdersError, match="no order row passes the contract"):
        build_dataset_dask(
            client, tmp_path / "orders", tmp_path / "dataset", DatasetConfig(), load_rulebook()
        )


def test_parquet_folder_round_trip_keeps_rows_and_dtypes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "merchant_id": pd.array([f"m{i % 7}" for i in range(25)], dtype="string"),
            "value": np.arange(25, dtype=float),
        }
    )
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "part-00009.parquet").write_bytes(b"stale part of an earlier run")
    files = write_parquet_folder(frame, tmp_path / "parts", rows_per_file=10)
    assert [f.name for f in files] == [f"part-0000{i}.parquet" for i in range(3)]
    pd.testing.assert_frame_equal(read_table(tmp_path / "parts"), frame)
