"""Figures for the explanation reports, returned as PNG bytes so HTML can embed them (no network)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from features.rulebook import MAX_POINTS  # noqa: E402

RAISES = "#2e7d32"
LOWERS = "#c62828"
NEUTRAL = "#546e7a"


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def waterfall_png(base: float, steps: list[tuple[str, float]], final: float, title: str) -> bytes:
    """Base score, then each stage's push, then the forecast: the story a merchant reads."""
    labels = ["Base score", *[label for label, _ in steps], "Forecast"]
    fig, ax = plt.subplots(figsize=(7.5, 3.6), dpi=110)
    running = base
    ax.bar(0, base, color=NEUTRAL)
    ax.text(0, base, f"{base:.2f}", ha="center", va="bottom", fontsize=8)
    for i, (_, delta) in enumerate(steps, start=1):
        bottom = running if delta >= 0 else running + delta
        ax.bar(i, abs(delta), bottom=bottom, color=RAISES if delta >= 0 else LOWERS)
        ax.text(i, bottom + abs(delta), f"{delta:+.2f}", ha="center", va="bottom", fontsize=8)
        running += delta
    ax.bar(len(labels) - 1, final, color="#1565c0")
    ax.text(len(labels) - 1, final, f"{final:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("LES points")
    ax.set_ylim(0, max(MAX_POINTS, running, base) + 0.3)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_title(title, fontsize=10)
    return figure_png(fig)


def probability_png(probabilities: dict[str, float], forecast_tier: str) -> bytes:
    tiers = list(probabilities)
    values = [probabilities[t] for t in tiers]
    fig, ax = plt.subplots(figsize=(4.2, 2.6), dpi=110)
    colors = ["#1565c0" if t == forecast_tier else "#b0bec5" for t in tiers]
    ax.barh(tiers, values, color=colors)
    for i, v in enumerate(values):
        ax.text(min(v + 0.02, 0.9), i, f"{v:.0%}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of next-window tier")
    return figure_png(fig)


def stage_bars_png(mean_abs_points: pd.Series, title: str) -> bytes:
    """Mean |SHAP| per stage, largest on top."""
    ordered = mean_abs_points.sort_values()
    fig, ax = plt.subplots(figsize=(6, 2.8), dpi=110)
    ax.barh(ordered.index, ordered.to_numpy(), color=NEUTRAL)
    for i, v in enumerate(ordered.to_numpy()):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    ax.set_xlabel("mean |attribution| (LES points)")
    ax.set_title(title, fontsize=10)
    return figure_png(fig)


def stage_by_tier_png(table: pd.DataFrame) -> bytes:
    """Mean signed attribution per stage (columns) for each forecast tier (rows)."""
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    width = 0.8 / max(len(table.columns), 1)
    x = np.arange(len(table.index))
    for k, stage in enumerate(table.columns):
        ax.bar(x + k * width, table[stage].to_numpy(), width, label=stage)
    ax.set_xticks(x + width * (len(table.columns) - 1) / 2, table.index)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylabel("mean attribution (LES points)")
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("Stage attribution by forecast tier", fontsize=10)
    return figure_png(fig)


def current_figure_png() -> bytes:
    """The figure a library (shap's plots) drew on pyplot's current figure."""
    return figure_png(plt.gcf())


def figure_png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
