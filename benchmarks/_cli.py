"""The real `les` command, run as a user runs it, for the benchmarks that measure through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.recipe import read_recipe, write_recipe

LES = str(Path(sys.executable).with_name("les"))


def les(*args: str, cwd: Path, expect: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """Exit code and stdout of `les ARGS` in `cwd`, on that folder's embedded MLflow store (any
    MLFLOW_TRACKING_URI or ledger of the caller is dropped); stops the benchmark on another exit."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "LES_LOG_FILE": str(cwd / "les.log")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("LES_LEDGER_URL", None)
    done = subprocess.run([LES, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode not in expect:
        raise SystemExit(
            f"les {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.returncode, done.stdout


def rows_where(dataset: Path, keep: Callable[[pd.DataFrame], np.ndarray], out: Path) -> int:
    """A filtered copy of a dataset, with its recipe beside it (so `les train` records it)."""
    frame = pd.read_parquet(dataset)
    kept = frame[np.asarray(keep(frame))]
    kept.to_parquet(out)
    recipe = read_recipe(dataset)
    if recipe is None:
        raise SystemExit(f"{dataset} has no recipe: build it with `les build-dataset`")
    write_recipe(recipe, out)
    return len(kept)
