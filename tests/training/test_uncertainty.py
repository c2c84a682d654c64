from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from sklearn.metrics import cohen_kappa_score

from training import uncertainty
from training.decision import confusion
from training.metrics import (
    expected_calibration_error,
    ranked_probability_score,
    ranked_probability_scores,
)
from training.uncertainty import (
    backtest_edges,
    ece_noise_floor,
    merchant_confusions,
    merchant_draws,
    tier_metrics_of,
)


def _predictions(n_merchants: int = 60, per_merchant: int = 3, seed: int = 0) -> pd.DataFrame:
    """A perfect model beside a baseline that is wrong one tier in three, both with scores and
    probabilities, several rows per merchant."""
    rng = np.random.default_rng(seed)
    n = n_merchants * per_merchant
    truth = rng.integers(0, 4, n)
    noisy = np.where(rng.random(n) < 1 / 3, np.clip(truth + rng.choice([-1, 1], n), 0, 3), truth)
    frame = pd.DataFrame(
        {
            "merchant_id": np.repeat([f"m{i}" for i in range(n_merchants)], per_merchant),
            "label_tier_code": truth,
            "label_score": truth + 0.5,
            "model_tier": truth,
            "model_score": truth + 0.5,
            "base_tier": noisy,
            "base_score": noisy + 0.5,
        }
    )
    for name, tiers in (("model", truth), ("base", noisy), ("flat", np.zeros(n, int))):
        proba = np.full((n, 4), 0.25) if name == "flat" else np.eye(4)[tiers] * 0.7 + 0.075
        for code in range(4):
            frame[f"{name}_p{code}"] = proba[:, code]
    return frame


def test_each_resample_draws_as_many_merchants_as_there_are(monkeypatch) -> None:
    monkeypatch.setattr("training.uncertainty.RESAMPLE_CHUNK_CELLS", 7)  # chunks of 2 resamples
    chunks = list(merchant_draws(3, 5, seed=1))
    assert [len(c) for c in chunks] == [2, 2, 1]
    draws = np.vstack(chunks)
    assert (draws.sum(axis=1) == 3).all()
    assert np.array_equal(draws, np.vstack(list(merchant_draws(3, 5, seed=1))))


def test_merchant_confusions_add_up_to_the_plain_confusion_and_kappa() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 4, 80), rng.integers(0, 4, 80)
    codes = rng.integers(0, 7, 80)
    per_merchant = merchant_confusions(codes, y, p, 7)
    assert np.array_equal(per_merchant[2], confusion(y[codes == 2], p[codes == 2]).ravel())
    total = per_merchant.sum(axis=0, keepdims=True)
    assert np.array_equal(total.reshape(4, 4), confusion(y, p))
    qwk = tier_metrics_of(total)["qwk"][0]
    assert qwk == pytest.approx(cohen_kappa_score(y, p, weights="quadratic"))


def test_rps_per_row_averages_to_the_pooled_rps() -> None:
    y = np.array([0, 3, 2])
    proba = np.array([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25], [0, 0, 1.0, 0]])
    # hand: row 0 cum (0.5, 1, 1) vs (1, 1, 1) -> 0.25; row 1 (.25, .5, .75) vs 0 -> 0.875; row 2 0
    assert ranked_probability_scores(y, proba) == pytest.approx([0.25, 0.875, 0.0])
    assert ranked_probability_scores(y, proba).mean() == pytest.approx(
        ranked_probability_score(y, proba)
    )


def test_a_forecast_against_itself_has_no_edge() -> None:
    frame = _predictions()
    frame["base_tier"], frame["base_score"] = frame["model_tier"], frame["model_score"]
    for code in range(4):
        frame[f"base_p{code}"] = frame[f"model_p{code}"]
    edges = backtest_edges(frame, "model", "base", ("base",), n_resamples=100)
    assert set(edges["metric"]) == {"qwk", "macro_f1", "score_mae", "rps"}
    assert np.allclose(edges[["edge", "low", "high"]].to_numpy(), 0.0)


def test_a_better_forecast_has_an_interval_above_zero_on_every_metric() -> None:
    edges = backtest_edges(_predictions(), "model", "base", ("base", "flat"), n_resamples=300)
    assert list(edges["baseline"]) == ["base", "base", "base", "base", "flat"]
    assert (edges["low"] > 0).all(), edges
    assert (edges["low"] <= edges["edge"]).all() and (edges["edge"] <= edges["high"]).all()
    frame = _predictions()
    baseline_mae = (frame["base_score"] - frame["label_score"]).abs().mean()  # the model's is 0
    assert edges.set_index("metric").loc["score_mae", "edge"] == pytest.approx(baseline_mae)


def test_the_interval_widens_with_fewer_merchants() -> None:
    wide = backtest_edges(_predictions(15, seed=5), "model", "base", ("base",), n_resamples=300)
    narrow = backtest_edges(_predictions(240, seed=5), "model", "base", ("base",), n_resamples=300)
    width = lambda e: (e["high"] - e["low"]).to_numpy()  # noqa: E731
    assert (width(wide) > width(narrow)).all()


def test_ece_noise_floor_matches_the_binomial_by_hand() -> None:
    """Eight rows of a flat forecast: every row sits in one bin at confidence 0.25 and hits with
    chance 0.25, so the ECE is |H/8 - 1/4| with H ~ Binomial(8, 0.25)."""
    proba = np.full((8, 4), 0.25)
    hits = np.arange(9)
    exact_mean = float((binom.pmf(hits, 8, 0.25) * np.abs(hits / 8 - 0.25)).sum())
    mean, high = ece_noise_floor(proba, n_draws=20_000, seed=3)
    assert mean == pytest.approx(exact_mean, abs=0.003)
    # P(ECE <= 0.125) = 0.786 and P(ECE <= 0.25) = 0.973, so the 90% point is 0.25
    assert high == pytest.approx(0.25)


def test_ece_noise_floor_is_the_ece_of_outcomes_drawn_from_the_forecast(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one-Bernoulli-per-row shortcut against the definition: draw whole tier outcomes from
    the forecast and score them with the backtest's own ECE. Chunks of 7 rows, so the chunked
    draws are checked too."""
    monkeypatch.setattr(uncertainty, "RESAMPLE_CHUNK_CELLS", 7 * 2_000)
    rng = np.random.default_rng(11)
    proba = rng.dirichlet([2.0, 1.0, 1.5, 4.0], 300)
    drawn = [
        expected_calibration_error((rng.random((300, 1)) > np.cumsum(proba, 1)).sum(1), proba)
        for _ in range(2_000)
    ]
    mean, high = ece_noise_floor(proba, n_draws=2_000, seed=5)
    assert mean == pytest.approx(np.mean(drawn), abs=0.003)
    assert high == pytest.approx(np.quantile(drawn, 0.9), abs=0.006)


def test_ece_noise_floor_shrinks_with_rows_and_repeats_with_its_seed() -> None:
    rng = np.random.default_rng(2)
    small = rng.dirichlet(np.ones(4), 100)
    large = rng.dirichlet(np.ones(4), 10_000)
    assert ece_noise_floor(large)[0] < ece_noise_floor(small)[0] / 5
    assert ece_noise_floor(small, seed=9) == ece_noise_floor(small, seed=9)
    assert ece_noise_floor(np.empty((0, 4))) == (0.0, 0.0)
