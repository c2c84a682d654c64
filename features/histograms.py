"""Duration histograms per merchant and window, and percentiles read from them.

Fixed bins make window histograms additive (a window is a difference of two cumulative histograms),
which is what lets percentiles roll without re-reading orders.
"""

from __future__ import annotations

import numpy as np


def bin_index(hours: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each duration; negatives fall in the first bin, beyond the last edge in the last."""
    return np.clip(np.searchsorted(edges, hours, side="right") - 1, 0, len(edges) - 2)


def window_histograms(
    code: np.ndarray,
    interval: np.ndarray,
    bins: np.ndarray,
    n_merchants: int,
    n_bins: int,
    n_intervals: int,
    end_index: np.ndarray,
    start_index: np.ndarray,
) -> np.ndarray:
    """[merchant, window, bin] event counts in each window."""
    flat = np.bincount(
        (code * n_bins + bins) * n_intervals + interval,
        minlength=n_merchants * n_bins * n_intervals,
    )
    cum = np.cumsum(flat.reshape(n_merchants, n_bins, n_intervals), axis=2)
    windows = cum[:, :, end_index] - cum[:, :, start_index]
    return np.transpose(windows, (0, 2, 1))


def histogram_quantile(
    counts: np.ndarray, edges: np.ndarray, q: float, min_observations: int
) -> np.ndarray:
    """Quantile of each histogram row (last axis = bins) with linear interpolation inside the bin;
    NaN below the observation floor."""
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1]
    target = q * total
    idx = np.argmax(cum >= target[..., None], axis=-1)
    before = np.where(
        idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0], 0.0
    )
    in_bin = np.take_along_axis(counts, idx[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(in_bin > 0, (target - before) / in_bin, 0.0)
    value = edges[idx] + share * (edges[idx + 1] - edges[idx])
    return np.where(total >= max(min_observations, 1), value, np.nan)


def concentration_hhi(counts: np.ndarray, min_observations: int) -> np.ndarray:
    """Herfindahl index of category counts (last axis); NaN below the observation floor.

    Squared shares are added smallest first, one after another: the sum is then the same to the
    last bit whatever the category codes and however many absent categories pad the axis, so a
    table split by merchant gives exactly the index of the whole table."""
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        squared = np.sort(counts / total[..., None], axis=-1) ** 2
    hhi = np.cumsum(squared, axis=-1)[..., -1] if counts.shape[-1] else np.zeros(total.shape)
    return np.where(total >= max(min_observations, 1), hhi, np.nan)
