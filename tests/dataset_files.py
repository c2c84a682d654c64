"""A subset of a built dataset written the way `les build-dataset` writes one: for the end-to-end
tests that train at a cut and score what follows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.recipe import read_recipe, write_recipe


def rows_where(dataset: Path, keep: Callable[[pd.DataFrame], np.ndarray], out: Path) -> int:
    """The rows of `dataset` that `keep` selects, at `out`, with the dataset's recipe beside them
    (so `les train` records it and `les score` checks it)."""
    frame = pd.read_parquet(dataset)
    kept = frame[np.asarray(keep(frame))]
    kept.to_parquet(out)
    recipe = read_recipe(dataset)
    assert recipe is not None, f"{dataset} has no recipe"
    write_recipe(recipe, out)
    return len(kept)
