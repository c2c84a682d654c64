"""Evaluation figures (confusion matrix, reliability diagram) as PNG files for MLflow and reports."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from training.metrics import reliability_bins  # noqa: E402


def plot_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, tier_names: list[str], path: Path
) -> Path:
    """Row-normalised so rare tiers (Poor) are readable; counts are printed in each cell."""
    counts = confusion_matrix(y_true, y_pred, labels=list(range(len(tier_names))))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(tier_names)), tier_names, rotation=30, ha="right")
    ax.set_yticks(range(len(tier_names)), tier_names)
    ax.set_xlabel("forecast tier")
    ax.set_ylabel("actual next tier")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(
            j,
            i,
            f"{n}\n{shares[i, j]:.0%}",
            ha="center",
            va="center",
            color="white" if shares[i, j] > 0.5 else "black",
            fontsize=8,
        )
    ax.set_title("Backtest confusion matrix (pooled folds)")
    return _save(fig, path)


def plot_reliability(y_true: np.ndarray, proba: np.ndarray, path: Path, n_bins: int = 10) -> Path:
    """Top-label reliability: stated confidence against observed hit rate, with bin sizes."""
    counts, confidence, hits = reliability_bins(y_true, proba, n_bins)
    present = counts > 0
    mean_conf = confidence[present] / counts[present]
    hit_rate = hits[present] / counts[present]
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=110)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(mean_conf, hit_rate, "o-", color="#1f77b4", label="forecaster")
    for x, y, n in zip(mean_conf, hit_rate, counts[present], strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("forecast confidence (top tier probability)")
    ax.set_ylabel("observed share correct")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title("Reliability (pooled backtest)")
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
