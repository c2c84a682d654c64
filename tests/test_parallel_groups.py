"""The suite's own parallel run: `--dist loadgroup` must keep an xdist_group on one worker.

The groups keep the MLflow and serving end-to-end tests on one worker each, and let their
expensive module fixtures be built once. pytest-xdist marks a grouped test by suffixing its node
id with @group, which pytest 9.2 ignores (pytest-xdist#1386): the tests then run scattered and
nothing else fails, only slower and with the groups' shared stores used side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GROUPED_MODULE = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("n", range(4))
def test_records_its_worker(n):
    Path(os.environ["WORKERS_SEEN"], f"{__name__}-{n}").write_text(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_loadgroup_runs_a_group_on_one_worker(tmp_path: Path) -> None:
    for name in ("test_first_module.py", "test_second_module.py"):
        (tmp_path / name).write_text(GROUPED_MODULE)
    seen = tmp_path / "seen"
    seen.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "WORKERS_SEEN": str(seen)},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = list(seen.iterdir())
    assert len(records) == 8
    workers = {path.read_text() for path in records}
    assert len(workers) == 1, (
        f"one group ran on {sorted(workers)}: the installed pytest and "
        "pytest-xdist do not group (pytest-xdist#1386); install the pinned versions"
    )
