"""The baselines a forecaster must beat on the same folds: persistence and a multinomial logistic."""

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


def persistence_tiers(test: pd.DataFrame, fallback: PersistenceFallback) -> np.ndarray:
    """Next tier = current tier, else the fallback's majority tier."""
    current = pd.to_numeric(test["current_tier_code"], errors="coerce")
    return current.fillna(fallback.majority_tier_code).to_numpy(dtype=int)


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
