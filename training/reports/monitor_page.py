"""`monitor.html`: the monitoring pass as one self-contained page (figures embedded as PNG)."""

from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.reports.figures import figure_png, png_data_uri  # noqa: E402
from training.reports.merchant import report_environment  # noqa: E402

SHOWN_METRICS = ("macro_f1", "qwk", "rps", "score_mae", "ece")
TOP_FEATURES = 15


def psi_bars_png(values: dict[str, float], threshold: float, title: str) -> bytes:
    names = list(values)
    fig, ax = plt.subplots(figsize=(7.5, 0.3 * len(names) + 1.2), dpi=110)
    ax.barh(names, [values[n] for n in names],
            color=["#c62828" if values[n] > threshold else "#546e7a" for n in names])  # fmt: skip
    ax.axvline(threshold, color="#c62828", linestyle="--", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("population stability index")
    ax.set_title(title, fontsize=10)
    return figure_png(fig)


def tier_mix_png(reference: dict[str, float], current: dict[str, float]) -> bytes:
    tiers = list(reference)
    x = np.arange(len(tiers))
    fig, ax = plt.subplots(figsize=(6.5, 3.0), dpi=110)
    ax.bar(x - 0.2, [reference[t] for t in tiers], 0.4, label="training", color="#90a4ae")
    ax.bar(x + 0.2, [current.get(t, 0.0) for t in tiers], 0.4, label="now", color="#1565c0")
    ax.set_xticks(x, tiers)
    ax.set_ylabel("share of merchants")
    ax.legend(fontsize=8)
    ax.set_title("Served tier mix", fontsize=10)
    return figure_png(fig)


def monitor_html(
    report: dict, reference_tier_mix: dict[str, float], feature_psi: float, stage_psi: float
) -> str:
    """`report` is `MonitorResult.to_dict()`."""
    drift = report["drift"]
    top = dict(sorted(drift["features"].items(), key=lambda kv: -kv[1])[:TOP_FEATURES])
    images = {
        "stages": png_data_uri(
            psi_bars_png(drift["stages"], stage_psi, "PSI of each stage's points")
        ),
        "features": png_data_uri(psi_bars_png(top, feature_psi, "Most shifted features")),
        "tiers": png_data_uri(tier_mix_png(reference_tier_mix, drift["tier_mix"])),
    }
    template = report_environment().get_template("monitor.html.j2")
    return template.render(
        r=report,
        images=images,
        metrics=SHOWN_METRICS,
        fmt=lambda v: "-" if v is None else f"{v:.3f}",
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
