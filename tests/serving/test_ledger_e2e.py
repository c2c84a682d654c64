"""Issue 15 (1, 4): HTTP forecasts in the ledger with LES_LEDGER=on; live signals on /metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from tests.serving.conftest import PARITY_SNAPSHOT, Store, running_server
from tests.serving.test_service_e2e import order_records, post
from training import ledger

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head == name or (wanted and head.startswith(name + "{") and all(
            f'{k}="{v}"' in head for k, v in labels.items()
        )):  # fmt: skip
            return float(value)
    return 0.0


def scrape(server) -> str:
    with server.client() as client:
        return client.get("/metrics").text


def wait_for(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_http_forecasts_are_recorded_and_the_tier_mix_is_counted(
    store: Store, parity_orders: pd.DataFrame, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with running_server(store, tmp_path, LES_LEDGER="on", LES_LEDGER_URL=url) as server:
        body = {"snapshot_at": PARITY_SNAPSHOT.isoformat(), "orders": order_records(parity_orders)}
        answer = post(server, "/predict_orders", body)
        assert answer.status_code == 200, answer.text[:500]
        served = {f["merchant_id"]: f["forecast"] for f in answer.json()["forecasts"]}
        features = {"pick_pack_hours_p90": 1e6, "late_dispatch_rate": 0.1}
        before = scrape(server)
        explain = {"merchants": [{"merchant_id": "x1", "features": features}]}
        assert post(server, "/explain", explain).status_code == 200
        after = scrape(server)
        outside = "les_feature_out_of_training_range_total"
        assert metric(after, outside, feature="pick_pack_hours_p90") == 1 + metric(
            before, outside, feature="pick_pack_hours_p90"
        )
        unknown = "les_feature_unknown_total"
        assert metric(after, unknown, feature="on_time_delivery_rate") == 1 + metric(
            before, unknown, feature="on_time_delivery_rate"
        )
        wait_for(lambda: ledger.count_rows(url) == len(served) + 1)
        kept = ledger.forecasts_of("les-forecaster", store.version, url).set_index("merchant_id")
        assert (kept.loc[list(served), "snapshot_at"] == PARITY_SNAPSHOT).all()
        for merchant, forecast in served.items():
            assert kept.loc[merchant, "tier"] == forecast["tier"]
        again = post(server, "/predict_orders", body)  # the same forecasts: still one row each
        assert again.status_code == 200
        time.sleep(1.0)
        assert ledger.count_rows(url) == len(served) + 1
        with server.client() as client:
            text = client.get("/metrics").text
        tiers = pd.Series([f["tier"] for f in served.values()]).value_counts()
        for tier, count in tiers.items():
            assert (
                metric(text, "les_served_tiers_total", endpoint="predict_orders", tier=tier)
                == 2 * count
            )
        assert metric(text, "les_ledger_write_failures_total") == 0


def test_a_broken_ledger_never_fails_a_forecast(store: Store, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    url = f"sqlite:///{blocked}/ledger.db"
    with running_server(store, tmp_path, LES_LEDGER="on", LES_LEDGER_URL=url) as server:
        body = {"merchants": [{"merchant_id": "m1", "features": {"late_dispatch_rate": 0.02}}]}
        assert post(server, "/predict", body).status_code == 200

        def failed() -> bool:
            with server.client() as client:
                return metric(client.get("/metrics").text, "les_ledger_write_failures_total") == 1

        wait_for(failed)
        assert "forecast ledger write failed" in server.log_text()
