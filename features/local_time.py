"""Market wall-clock time (no offset in the text) to UTC, with one rule for daylight saving.

The rule: a wall-clock time that daylight saving makes ambiguous (the repeated hour in autumn) or
nonexistent (the skipped hour in spring) is read with the UTC offset in force just before the
transition. An ambiguous time is so the first of its two instants; a skipped time lands as far
past the transition as it claims to be past the hour (02:30 on the spring-forward night in Los
Angeles is 10:30 UTC, i.e. 03:30 PDT). Both are counted so a summary can say how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Far enough before any transition to sit in the offset in force before it.
BEFORE_TRANSITION = pd.Timedelta(hours=6)


@dataclass(frozen=True)
class Localised:
    """UTC times and how many needed the daylight-saving rule."""

    utc: pd.Series
    ambiguous: int
    nonexistent: int


def localise(naive: pd.Series, zone: str) -> Localised:
    """`naive` (datetime64 wall-clock of `zone`) as UTC, by the module's one rule."""
    strict = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    failed = naive.notna() & strict.isna()
    if not failed.any():
        return Localised(strict.dt.tz_convert("UTC"), 0, 0)
    earlier = (naive[failed] - BEFORE_TRANSITION).dt.tz_localize(
        zone, ambiguous=np.ones(int(failed.sum()), dtype=bool), nonexistent="shift_forward"
    )
    offset = earlier.dt.tz_localize(None) - earlier.dt.tz_convert("UTC").dt.tz_localize(None)
    fixed = (naive[failed] - offset).dt.tz_localize("UTC")
    utc = strict.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    utc[failed] = fixed.astype("datetime64[ns, UTC]")
    raising = naive[failed].dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    nonexistent = int(raising.notna().sum())
    return Localised(utc, int(failed.sum()) - nonexistent, nonexistent)
