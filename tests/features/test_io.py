"""Writes are all or nothing (issue 13, item 5): a writer that fails midway, a full disk or a
SIGKILL leaves the previous file or folder exactly as it was, and no temporary file behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dataset_config import DatasetConfig
from features.io import (
    TMP_PREFIX,
    TableReadError,
    atomic_path,
    is_folder_target,
    part_files,
    read_table,
    table_format,
    write_parquet_folder,
    write_table,
)
from features.recipe import DatasetRecipe, read_recipe, write_recipe
from features.rulebook import load_rulebook

REPO = Path(__file__).resolve().parents[2]
KILL_WAIT_S = 20.0
STALLED_BYTES = 100_004  # what the killed child's writer has written when it stalls


def table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Mixed dtypes: text, integers, floats with a gap, time-zone-aware times, booleans."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    values[3] = np.nan
    return pd.DataFrame(
        {
            "merchant_id": [f"m{i:03d}" for i in range(n)],
            "orders": rng.integers(0, 500, n),
            "rate": values,
            "snapshot_at": pd.date_range("2026-01-05", periods=n, freq="7D", tz="UTC"),
            "flag": rng.random(n) > 0.5,
        }
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (names relative to it) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(f"{TMP_PREFIX}*"))


def fail_midway(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
    """What a full disk does to a writer: some bytes land, then the write raises."""
    Path(path).write_bytes(b"PAR1 half a table")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(("suffix", "writer"), [(".parquet", "to_parquet"), (".csv", "to_csv")])
def test_a_write_failing_midway_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, writer: str
) -> None:
    path = write_table(table(), tmp_path / f"dataset{suffix}")
    before = path.read_bytes()
    monkeypatch.setattr(pd.DataFrame, writer, fail_midway)
    with pytest.raises(OSError, match="No space left"):
        write_table(table(seed=1), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_recipe_write_failing_midway_leaves_the_previous_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = load_rulebook()
    recipe = write_recipe(DatasetRecipe.of(DatasetConfig(), rules), tmp_path / "d.parquet")
    before = recipe.read_bytes()

    def half_text(self: Path, text: str, *args: object, **kwargs: object) -> int:
        self.write_bytes(text[: len(text) // 2].encode())
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_text)
    with pytest.raises(OSError, match="No space left"):
        write_recipe(DatasetRecipe.of(DatasetConfig(window_days=7), rules), tmp_path / "d.parquet")
    assert recipe.read_bytes() == before
    assert read_recipe(tmp_path / "d.parquet") == DatasetRecipe.of(DatasetConfig(), rules)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_successful_write_is_what_the_writer_writes(tmp_path: Path, suffix: str) -> None:
    frame = table()
    (tmp_path / "old").mkdir()
    path = write_table(table(seed=1), tmp_path / "old" / f"t{suffix}")
    assert write_table(frame, path) == path
    direct = tmp_path / f"direct{suffix}"
    if suffix == ".csv":
        frame.to_csv(direct, index=False)
    else:
        frame.to_parquet(direct, index=False)
        pd.testing.assert_frame_equal(read_table(path), frame)
    assert path.read_bytes() == direct.read_bytes()
    assert leftovers(tmp_path) == []
    with pytest.raises(TableReadError, match="unknown table format"):
        write_table(frame, tmp_path / "t.txt")
    assert not (tmp_path / "t.txt").exists()


def test_atomic_path_replaces_only_after_the_body_and_only_what_it_wrote(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "out.json"
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent and tmp.suffix == ".json"
        tmp.write_text("new")
        assert not final.exists()
    assert final.read_text() == "new"
    with atomic_path(final):
        pass  # a body that writes nothing (no scored rows) leaves the file as it was
    assert final.read_text() == "new"
    with pytest.raises(KeyboardInterrupt), atomic_path(final) as tmp:
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert final.read_text() == "new" and leftovers(tmp_path) == []


def test_a_folder_rewrite_failing_midway_leaves_the_old_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "dataset"
    write_parquet_folder(table(), folder, rows_per_file=10)
    write_recipe(DatasetRecipe.of(DatasetConfig(), load_rulebook()), folder)
    (folder / "_notes.txt").write_text("kept")
    before = snapshot(folder)
    real = pd.DataFrame.to_parquet
    calls = []

    def second_part_fails(self: pd.DataFrame, path: Path, *args: object, **kwargs: object):
        calls.append(path)
        if len(calls) == 2:
            fail_midway(self, path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", second_part_fails)
    with pytest.raises(OSError, match="No space left"):
        write_parquet_folder(table(seed=1), folder, rows_per_file=15)
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]


def test_a_folder_rewrite_swaps_in_the_new_parts_and_keeps_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    write_parquet_folder(table(), folder, rows_per_file=10)
    (folder / "_notes.txt").write_text("kept")
    files = write_parquet_folder(table(seed=1), folder, rows_per_file=15)
    assert files == tuple(folder / f"part-{i:05d}.parquet" for i in range(3))
    assert part_files(folder) == list(files)
    pd.testing.assert_frame_equal(read_table(folder), table(seed=1))
    assert (folder / "_notes.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(TableReadError, match="is a file"):
        write_parquet_folder(table(), tmp_path / "file")


# The child writes a real table, but its writer stops halfway and waits to be killed, so the
# SIGKILL lands mid-write every time, however fast the machine.
KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pandas as pd
    from features.io import write_parquet_folder
    from features.io import write_table

    real = pd.DataFrame.to_parquet
    calls = []

    def stall_midway(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as f:
                f.write(b"PAR1" + b"x" * 100_000)
                f.flush()
                time.sleep(60)
        return real(self, path, *args, **kwargs)

    pd.DataFrame.to_parquet = stall_midway
    frame = pd.DataFrame({"merchant_id": [f"m{i:06d}" for i in range(20_000)], "x": range(20_000)})
    target = Path(sys.argv[1])
    if target.suffix:
        frame.to_parquet(target.with_name("warm-up.parquet"))
        write_table(frame, target)
    else:
        write_parquet_folder(frame, target, rows_per_file=5_000)
    """
)


def kill_mid_write(target: Path) -> None:
    """Run the stalling writer on `target`; SIGKILL it once a temporary file holds its bytes."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], cwd=REPO, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        while not any(
            p.is_file() and p.stat().st_size == STALLED_BYTES and TMP_PREFIX in str(p)
            for p in target.parent.rglob("*")
        ):
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


@pytest.mark.parametrize("name", ["dataset.parquet", "dataset"])
def test_a_killed_write_leaves_the_previous_table(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    good = table()
    if target.suffix:
        write_table(good, target)
    else:
        write_parquet_folder(good, target, rows_per_file=10)
    before = target.read_bytes() if target.is_file() else snapshot(target)
    kill_mid_write(target)
    assert (target.read_bytes() if target.is_file() else snapshot(target)) == before
    pd.testing.assert_frame_equal(read_table(target), good)


def test_one_dispatch_names_every_layout(tmp_path: Path) -> None:
    folder = tmp_path / "parts.parquet"
    folder.mkdir()
    assert table_format(folder) == "folder"
    assert table_format(folder, folders=False) == "parquet"
    assert table_format(tmp_path / "t.csv") == "csv"
    assert table_format(tmp_path / "t.json") is None
    assert is_folder_target(tmp_path / "out") and not is_folder_target(tmp_path / "o.parquet")
    with pytest.raises(TableReadError, match="unknown table format '.json'"):
        write_table(table(), tmp_path / "t.json")
