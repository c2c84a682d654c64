"""The baselines a forecaster must beat on the same folds.

The naive ones a rating analyst would use: persistence (next tier = this tier), climatology (the
training fold's tier frequencies) and a rating-migration matrix P(next tier | current tier, with
"no current tier" as its own state), as used for credit-rating transitions. Plus a multinomial
logistic regression on the same features, to show what the trees add over a linear model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from training.metrics import N_TIERS
from training.models import feature_matrix


@dataclass(frozen=True)
class PersistenceFallback:
    """What persistence predicts for a merchant with no current tier or score: the training rows'
    majority tier and mean label score. Two numbers, so either engine can compute them where the
    training rows are."""

    majority_tier_code: int
    mean_label_score: float

    @classmethod
    def from_counts(cls, tier_counts: pd.Series, mean_label_score: float) -> PersistenceFallback:
        """From label tier code -> row count; the lowest code wins a tie."""
        counts = np.zeros(N_TIERS)
        counts[tier_counts.index.to_numpy(dtype=int)] = tier_counts.to_numpy()
        return cls(int(counts.argmax()), float(mean_label_score))

    @classmethod
    def of(cls, train: pd.DataFrame) -> PersistenceFallback:
        return cls.from_counts(train["label_tier_code"].value_counts(), train["label_score"].mean())


# Rows of the migration matrix: the current tier codes, then "no current tier" (insufficient data).
NO_CURRENT_TIER = N_TIERS
# Laplace: a transition never seen in training is unlikely, not impossible.
MIGRATION_PRIOR_COUNT = 1.0


def current_states(frame: pd.DataFrame) -> np.ndarray:
    """Current tier code per row, NO_CURRENT_TIER where the window had too few orders to score."""
    current = pd.to_numeric(frame["current_tier_code"], errors="coerce")
    return current.fillna(NO_CURRENT_TIER).to_numpy(dtype=int)


def transition_counts(train: pd.DataFrame) -> np.ndarray:
    """(N_TIERS + 1) x N_TIERS counts of (current state, label tier). Additive over row subsets, so
    Dask sums them over partitions."""
    cells = current_states(train) * N_TIERS + train["label_tier_code"].to_numpy(dtype=int)
    return np.bincount(cells, minlength=(N_TIERS + 1) * N_TIERS).reshape(N_TIERS + 1, N_TIERS)


@dataclass(frozen=True)
class NaiveBaselines:
    """Persistence's fallback, climatology and the migration matrix: all from one training fold's
    transition counts and mean label score, two aggregates either engine computes where the rows
    are."""

    transitions: np.ndarray  # transition_counts of the training rows
    mean_label_score: float

    @classmethod
    def of(cls, train: pd.DataFrame) -> NaiveBaselines:
        return cls(transition_counts(train), float(train["label_score"].mean()))

    @property
    def fallback(self) -> PersistenceFallback:
        labels = self.transitions.sum(axis=0)
        return PersistenceFallback.from_counts(pd.Series(labels), self.mean_label_score)

    def climatology_proba(self, n_rows: int) -> np.ndarray:
        """The training tier frequencies (Laplace-smoothed), the same for every row."""
        counts = self.transitions.sum(axis=0) + MIGRATION_PRIOR_COUNT
        return np.tile(counts / counts.sum(), (n_rows, 1))

    def migration_proba(self, test: pd.DataFrame) -> np.ndarray:
        """Each row's migration-matrix row: P(next tier | its current state), Laplace-smoothed."""
        counts = self.transitions + MIGRATION_PRIOR_COUNT
        return (counts / counts.sum(axis=1, keepdims=True))[current_states(test)]


def most_likely_tiers(proba: np.ndarray) -> np.ndarray:
    """The argmax tier, the lowest code on a tie: how a frequency table is read as a forecast."""
    return proba.argmax(axis=1)


def persistence_tiers(test: pd.DataFrame, fallback: PersistenceFallback) -> np.ndarray:
    """Next tier = current tier, else the fallback's majority tier."""
    states = current_states(test)
    return np.where(states == NO_CURRENT_TIER, fallback.majority_tier_code, states)


def persistence_scores(test: pd.DataFrame, fallback: PersistenceFallback) -> np.ndarray:
    """Next score = current score, else the fallback's mean label score."""
    current = pd.to_numeric(test["current_les_score"], errors="coerce")
    return current.fillna(fallback.mean_label_score).to_numpy(dtype=float)


def fit_logistic(train: pd.DataFrame, feature_names: tuple[str, ...], seed: int) -> Pipeline:
    """Multinomial logistic regression on the same features (median-imputed, standardised)."""
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed),
    )
    model.fit(feature_matrix(train, feature_names), train["label_tier_code"].to_numpy(dtype=int))
    return model


def logistic_predict(
    model: Pipeline, test: pd.DataFrame, feature_names: tuple[str, ...]
) -> np.ndarray:
    """(rows x N_TIERS) probabilities; a tier absent from training gets 0. Apart from the fit, so
    the fitted model can score test rows where they are (per Dask partition)."""
    proba = np.zeros((len(test), N_TIERS))
    if len(test):
        proba[:, model.classes_] = model.predict_proba(feature_matrix(test, feature_names))
    return proba
