"""Shared test fixtures: paths and seeds. Nothing here touches the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Wide, plain terminal output so CLI tests can search it (set before the CLI console exists).
os.environ.setdefault("COLUMNS", "250")
os.environ.setdefault("NO_COLOR", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OLIST_DIR = PROJECT_ROOT.parent / "shared" / "data" / "olist"


@pytest.fixture(scope="session")
def olist_dir() -> Path:
    """The real Olist sample beside the project; tests that need it skip when it is absent."""
    if not (OLIST_DIR / "olist_orders_dataset.csv").exists():
        pytest.skip(f"Olist sample not found at {OLIST_DIR} (../shared is absent on this machine)")
    return OLIST_DIR
