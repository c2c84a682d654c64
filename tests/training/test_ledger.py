"""The forecast ledger (training/ledger.py): one row per key, concurrent writers, migrations."""

from __future__ import annotations

import multiprocessing
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from training import ledger
from training.forecaster_model import proba_column

TIERS = ("Poor", "Needs attention", "Good", "Excellent")


def scored(n: int, first: int = 0, score: float = 3.3, points: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "merchant_id": [f"m{first + i:04d}" for i in range(n)],
            "snapshot_at": pd.Timestamp("2026-03-02", tz="UTC"),
            "predicted_tier": "Good",
            "predicted_score": score,
        }
    )
    for tier, p in zip(TIERS, (0.1, 0.2, 0.6, 0.1), strict=True):
        frame[proba_column(tier)] = p
    if points:
        frame["ship_transport_points"], frame["bounds_points"] = -0.4, 0.0
    return frame


def rows(frame: pd.DataFrame, version: str = "1") -> list[dict]:
    return ledger.ledger_rows(
        frame, "les-forecaster", version, 3, {"window_days": 30}, TIERS, "cli"
    )


def keeps_one_row_per_key(url: str) -> None:
    """Re-scoring the same model on the same snapshot updates its rows; a new version adds."""
    ledger.record(rows(scored(3)), url)
    ledger.record(rows(scored(3, score=2.1, points=True)), url)
    ledger.record(rows(scored(3), version="2"), url)
    assert ledger.count_rows(url) == 6
    back = ledger.forecasts_of("les-forecaster", "1", url)
    assert len(back) == 3 and (back["predicted_score"] == 2.1).all()
    assert back[proba_column("Good")].tolist() == [0.6] * 3


def test_the_same_model_merchant_and_snapshot_keep_one_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    keeps_one_row_per_key(url)
    stored = (
        sqlite3.connect(tmp_path / "ledger.db")
        .execute(
            "SELECT stage_points, source, rulebook_version FROM forecasts WHERE model_version='1'"
        )
        .fetchall()
    )
    assert stored[0] == ('{"ship_transport": -0.4}', "cli", 3)


def _write(url: str, first: int) -> None:
    for start in range(first, first + 200, 20):
        ledger.record(rows(scored(20, first=start)), url)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger.engine_for(url)  # created and migrated once, before the writers race
    race(url, (0, 1000))
    assert ledger.count_rows(url) == 400


def race(url: str, firsts: tuple[int, ...]) -> None:
    """One process per first merchant number, all writing at once; each must exit cleanly."""
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write, args=(url, first)) for first in firsts]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0


def _open_at_once(urls: list[str], start: object) -> None:
    for url in urls:
        start.wait(60)
        ledger.engine_for(url)


def opened_at_once(urls: list[str], processes: int = 4) -> None:
    """Processes that open the same new ledger together (the service's first forecast and `les
    monitor`, say) migrate it one at a time: each exits cleanly, and one schema row remains. A
    race, so each process opens every ledger of `urls` with the others, in turn."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    openers = [context.Process(target=_open_at_once, args=(urls, start)) for _ in range(processes)]
    for p in openers:
        p.start()
    for p in openers:
        p.join(120)
    assert [p.exitcode for p in openers] == [0] * processes
    for url in urls:
        with ledger.engine_for(url).connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM ledger_schema")).scalars().all()
        assert versions == [ledger.SCHEMA_VERSION], url


def test_processes_opening_a_new_ledger_at_once_migrate_it_once(tmp_path: Path) -> None:
    opened_at_once([f"sqlite:///{tmp_path / f'ledger-{n}.db'}" for n in range(3)])


def test_a_v1_ledger_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    old = tmp_path / "v1.db"
    engine = sa.create_engine(f"sqlite:///{old}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ledger_schema (version INTEGER NOT NULL)"))
        conn.execute(sa.text("INSERT INTO ledger_schema VALUES (1)"))
        ledger.MIGRATIONS[0](conn)
        conn.execute(sa.text(
            "INSERT INTO forecasts (merchant_id, snapshot_at, model_name, model_version, "
            "rulebook_version, recipe, probabilities, tier, score, forecast_at) VALUES ('m1', "
            "'2026-03-02T00:00:00+0000', 'les-forecaster', '1', 3, '{}', "
            "'{\"Poor\": 0.1, \"Needs attention\": 0.2, \"Good\": 0.6, \"Excellent\": 0.1}', "
            "'Good', 3.3, '2026-03-02T10:00:00+00:00')"
        ))  # fmt: skip
    url = f"sqlite:///{old}"
    assert ledger.migrate(sa.create_engine(url)) == ledger.SCHEMA_VERSION
    ledger.record(rows(scored(2)), url)  # m0000, m0001 beside the old m1
    assert ledger.count_rows(url) == 3
    assert set(ledger.forecasts_of("les-forecaster", "1", url)["merchant_id"]) == {
        "m1",
        "m0000",
        "m0001",
    }
    future = tmp_path / "future.db"
    with sa.create_engine(f"sqlite:///{future}").begin() as conn:
        conn.execute(sa.text("CREATE TABLE ledger_schema (version INTEGER NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO ledger_schema VALUES ({ledger.SCHEMA_VERSION + 1})"))
    with pytest.raises(ledger.LedgerError, match="newer than this les knows"):
        ledger.engine_for(f"sqlite:///{future}")


def test_a_failing_write_is_counted_never_raised(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    before = ledger.WRITE_FAILURES.value
    calls = []
    ok = ledger.record_safely(
        rows(scored(1)), f"sqlite:///{blocked}/ledger.db", lambda: calls.append(1)
    )
    assert ok is False and ledger.WRITE_FAILURES.value == before + 1 and calls == [1]
    assert ledger.record_safely(rows(scored(1)), "nosuchdialect://x") is False


def test_the_default_ledger_sits_beside_the_mlflow_store(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(ledger.URL_ENV, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    assert ledger.default_url() == f"sqlite:///{tmp_path / 'store' / 'ledger.db'}"
    monkeypatch.setenv(ledger.URL_ENV, "postgresql://db/les")
    assert ledger.default_url() == "postgresql://db/les"


def _postgres_bin() -> Path | None:
    """Debian's server binaries (initdb, pg_ctl): on PATH or under /usr/lib/postgresql."""
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((d for d in candidates if (d / "pg_ctl").exists()), None)


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on a Unix socket of its own (as user postgres under root)."""
    pytest.importorskip("psycopg", reason="psycopg (a dev dependency) is not installed")
    server = _postgres_bin()
    if server is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="les-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no postgres user to run the server as")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    quiet = {"check": True, "capture_output": True}
    subprocess.run([*as_user, str(server / "initdb"), "-D", str(data), "-U", "les",
                    "--auth=trust"], **quiet)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=''"
    subprocess.run([*as_user, str(server / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(root / "server.log"), "start"], **quiet)  # fmt: skip
    try:
        yield f"postgresql+psycopg://les@/postgres?host={root}&port={port}"
    finally:
        subprocess.run([*as_user, str(server / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_keeps_one_row_per_key_like_sqlite(postgres_url: str) -> None:
    keeps_one_row_per_key(postgres_url)


def test_two_processes_writing_to_postgresql_at_once_lose_nothing(postgres_url: str) -> None:
    before = ledger.count_rows(postgres_url)
    race(postgres_url, (5000, 6000))
    assert ledger.count_rows(postgres_url) == before + 400


def test_processes_opening_a_new_postgresql_ledger_at_once_migrate_it_once(
    postgres_url: str,
) -> None:
    server = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for n in range(3):
            conn.execute(sa.text(f"CREATE DATABASE fresh_{n}"))
    server.dispose()
    opened_at_once([postgres_url.replace("/postgres?", f"/fresh_{n}?") for n in range(3)])


def test_explained_and_plain_forecasts_read_back_together(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger.record(rows(scored(2, points=True)), url)
    ledger.record(rows(scored(2, first=10)), url)  # /predict: no stage points
    back = ledger.forecasts_of("les-forecaster", "1", url).set_index("merchant_id")
    assert back.loc[["m0000", "m0001"], "ship_transport_points"].tolist() == [-0.4, -0.4]
    assert back.loc[["m0010", "m0011"], "ship_transport_points"].isna().all()
