"""The forecast ledger: every forecast les gives, kept so it can be judged once its window closes.

One row per (merchant, snapshot, model name, model version): re-scoring the same model on the
same snapshot updates that row. The embedded default is SQLite `ledger.db` beside the MLflow
store (WAL, a busy timeout, so two processes writing at once both land); `LES_LEDGER_URL` takes
any SQLAlchemy URL (e.g. PostgreSQL). The schema is versioned (`ledger_schema`), migrated forward
on open, and a ledger newer than this code is refused. Writing is best effort for a forecast:
`record_safely` never raises, it counts and logs the failure.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from features.errors import LesError
from training.forecaster_model import proba_column

URL_ENV = "LES_LEDGER_URL"
LEDGER_FILE = "ledger.db"
BUSY_TIMEOUT_S = 30.0
LOGGER = logging.getLogger("les.ledger")
MIGRATION_LOCK_KEY = 0x1E5_1ED6  # PostgreSQL advisory lock held while a ledger migrates
KEY = ("merchant_id", "snapshot_at", "model_name", "model_version")
TIER_COLUMN = "predicted_tier"  # how `les score` and the service name the served tier
STAGE_SUFFIX = "_points"


class LedgerError(LesError, RuntimeError):
    """The ledger cannot be opened as asked (a newer schema, a bad URL)."""


def _v1(conn: sa.Connection) -> None:
    # SQLite numbers an INTEGER PRIMARY KEY itself; PostgreSQL needs an identity column for it.
    key = "BIGSERIAL" if conn.dialect.name == "postgresql" else "INTEGER"
    conn.execute(
        sa.text(
            f"CREATE TABLE forecasts (id {key} PRIMARY KEY, merchant_id VARCHAR(200) NOT NULL, "
            "snapshot_at VARCHAR(32) NOT NULL, model_name VARCHAR(200) NOT NULL, "
            "model_version VARCHAR(40) NOT NULL, rulebook_version INTEGER NOT NULL, "
            "recipe TEXT NOT NULL, probabilities TEXT NOT NULL, tier VARCHAR(40) NOT NULL, "
            "score FLOAT NOT NULL, forecast_at VARCHAR(32) NOT NULL, "
            "CONSTRAINT forecast_key UNIQUE (merchant_id, snapshot_at, model_name, model_version))"
        )
    )


def _v2(conn: sa.Connection) -> None:
    """Explained forecasts keep their stage points; each row says which door it came through."""
    conn.execute(sa.text("ALTER TABLE forecasts ADD COLUMN stage_points TEXT"))
    conn.execute(sa.text("ALTER TABLE forecasts ADD COLUMN source VARCHAR(10) DEFAULT 'cli'"))


# Versioned migrations, in order: the schema's version is the number of steps applied.
MIGRATIONS: tuple[Callable[[sa.Connection], None], ...] = (_v1, _v2)
SCHEMA_VERSION = len(MIGRATIONS)

METADATA = sa.MetaData()
FORECASTS = sa.Table(
    "forecasts",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    *(sa.Column(name, sa.String) for name in KEY),
    sa.Column("rulebook_version", sa.Integer),
    sa.Column("recipe", sa.Text),
    sa.Column("probabilities", sa.Text),
    sa.Column("tier", sa.String),
    sa.Column("score", sa.Float),
    sa.Column("forecast_at", sa.String),
    sa.Column("stage_points", sa.Text),
    sa.Column("source", sa.String),
)
ROW_COLUMNS = tuple(c.name for c in FORECASTS.columns if c.name != "id")


def default_url() -> str:
    """`LES_LEDGER_URL`, else SQLite beside the embedded MLflow store (./mlruns/ledger.db when
    the tracking store is a server)."""
    if url := os.environ.get(URL_ENV):
        return url
    tracking = os.environ.get("MLFLOW_TRACKING_URI", "")
    if tracking.startswith("sqlite:///"):
        folder = Path(tracking[len("sqlite:///") :]).parent
    else:
        folder = Path.cwd() / "mlruns"
    return f"sqlite:///{(folder / LEDGER_FILE).resolve()}"


_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def engine_for(url: str | None = None) -> Engine:
    """One migrated engine per URL and process."""
    url = url or default_url()
    with _LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _open(url)
        return _ENGINES[url]


def _open(url: str) -> Engine:
    try:
        sqlite = url.startswith("sqlite")
        if sqlite and url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S} if sqlite else {})
    except (SQLAlchemyError, ValueError, OSError) as exc:
        raise LedgerError(f"{URL_ENV} {url!r}: not a usable database URL ({exc})") from exc
    if sqlite:
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return engine


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def schema_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("ledger_schema"):
        return 0
    return int(conn.execute(sa.text("SELECT version FROM ledger_schema")).scalar_one())


def migrate(engine: Engine) -> int:
    """Apply the migrations this ledger lacks, in one transaction that holds the migration lock
    from its first read, so processes opening a new ledger at once (the service and `les
    monitor`) migrate it one after the other; refuse a newer one."""
    with engine.connect() as conn:
        _lock_for_migration(conn)
        if not sa.inspect(conn).has_table("ledger_schema"):
            conn.execute(sa.text("CREATE TABLE ledger_schema (version INTEGER NOT NULL)"))
        if conn.execute(sa.text("SELECT COUNT(*) FROM ledger_schema")).scalar_one() == 0:
            conn.execute(sa.text("INSERT INTO ledger_schema (version) VALUES (0)"))
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the ledger at {engine.url!r} has schema version {version}, newer than this les "
                f"knows ({SCHEMA_VERSION}); upgrade les rather than write to it"
            )
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(sa.text("UPDATE ledger_schema SET version = :v"), {"v": SCHEMA_VERSION})
        conn.commit()
    return SCHEMA_VERSION


def _lock_for_migration(conn: sa.Connection) -> None:
    """SQLite: take the database's write lock before reading the schema (BEGIN IMMEDIATE waits
    out another writer up to the busy timeout). PostgreSQL: a transaction-scoped advisory lock,
    released at commit."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def ledger_rows(
    scored: pd.DataFrame,
    model_name: str,
    model_version: str,
    rulebook_version: int,
    recipe: dict,
    tiers: tuple[str, ...],
    source: str,
) -> list[dict[str, object]]:
    """Ledger rows from forecasts as `les score` writes them (predicted_tier, p_<tier>,
    predicted_score, optional <stage>_points)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    snapshots = pd.to_datetime(scored["snapshot_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    probabilities = scored[[proba_column(t) for t in tiers]].to_numpy(dtype=float)
    stages = [c for c in scored.columns if c.endswith(STAGE_SUFFIX) and c != "bounds_points"]
    recipe_text = json.dumps(recipe, sort_keys=True)
    rows = []
    for i, (merchant, tier, score) in enumerate(
        zip(
            scored["merchant_id"].astype(str),
            scored[TIER_COLUMN],
            scored["predicted_score"],
            strict=True,
        )
    ):
        points = {c[: -len(STAGE_SUFFIX)]: float(scored[c].iloc[i]) for c in stages}
        rows.append(
            {
                "merchant_id": merchant,
                "snapshot_at": snapshots.iloc[i],
                "model_name": model_name,
                "model_version": str(model_version),
                "rulebook_version": int(rulebook_version),
                "recipe": recipe_text,
                "probabilities": json.dumps(
                    dict(zip(tiers, map(float, probabilities[i]), strict=True))
                ),
                "tier": str(tier),
                "score": float(score),
                "forecast_at": now,
                "stage_points": json.dumps(points) if points else None,
                "source": source,
            }
        )
    return rows


def record(rows: list[dict[str, object]], url: str | None = None) -> int:
    """Upsert `rows` on the forecast key in one transaction; the number written."""
    if not rows:
        return 0
    engine = engine_for(url)
    statement = _upsert(engine)
    with engine.begin() as conn:
        conn.execute(statement, rows)
    return len(rows)


def _upsert(engine: Engine):
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise LedgerError(f"ledger dialect {engine.dialect.name!r}: use SQLite or PostgreSQL")
    statement = insert(FORECASTS)
    updated = {c: statement.excluded[c] for c in ROW_COLUMNS if c not in KEY}
    return statement.on_conflict_do_update(index_elements=list(KEY), set_=updated)


class FailureCount:
    """Ledger writes that failed in this process (the forecast was still answered)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


WRITE_FAILURES = FailureCount()


def record_safely(
    rows: list[dict[str, object]],
    url: str | None = None,
    on_failure: Callable[[], None] | None = None,
) -> bool:
    """`record`, but a failure is counted and logged, never raised: a forecast must not fail
    because its bookkeeping did."""
    try:
        record(rows, url)
        return True
    except (SQLAlchemyError, LesError, OSError, ValueError) as exc:
        WRITE_FAILURES.add()
        if on_failure is not None:
            on_failure()
        LOGGER.warning("forecast ledger write failed (%d rows not recorded): %s", len(rows), exc)
        return False


def forecasts_of(model_name: str, model_version: str, url: str | None = None) -> pd.DataFrame:
    """One model version's forecasts as a frame: keys, tier, predicted_score, p_<tier>, and
    <stage>_points where the forecast was explained."""
    engine = engine_for(url)
    query = sa.select(FORECASTS).where(
        FORECASTS.c.model_name == model_name, FORECASTS.c.model_version == str(model_version)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=["id", *ROW_COLUMNS])
    if frame.empty:
        return pd.DataFrame(columns=[*KEY, "tier", "predicted_score"])
    probabilities = pd.DataFrame([json.loads(p) for p in frame["probabilities"]])
    out = frame[list(KEY)].assign(
        snapshot_at=pd.to_datetime(frame["snapshot_at"], utc=True),
        tier=frame["tier"],
        predicted_score=frame["score"].astype(float),
        forecast_at=pd.to_datetime(frame["forecast_at"], utc=True),
    )
    for tier in probabilities.columns:
        out[proba_column(tier)] = probabilities[tier].to_numpy(dtype=float)
    points = pd.DataFrame(
        [json.loads(p) if isinstance(p, str) else {} for p in frame["stage_points"]]
    )
    for stage in points.columns:  # explained forecasts only; NaN for the others
        out[stage + STAGE_SUFFIX] = points[stage].to_numpy(dtype=float)
    return out.reset_index(drop=True)


def count_rows(url: str | None = None) -> int:
    with engine_for(url).connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(FORECASTS)).scalar_one())
