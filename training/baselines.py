"""The baselines a forecaster must beat on the same folds: persistence and a multinomial logistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from training.metrics import N_TIERS
from training.models import feature_matrix


def persistence_tiers(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Next tier = current tier; a merchant with no current tier gets the training majority tier."""
    majority = int(np.bincount(train["label_tier_code"], minlength=N_TIERS).argmax())
    current = pd.to_numeric(test["current_tier_code"], errors="coerce")
    return current.fillna(majority).to_numpy(dtype=int)


def persistence_scores(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Next score = current score; unknown current scores get the training mean."""
    current = pd.to_numeric(test["current_les_score"], errors="coerce")
    return current.fillna(float(train["label_score"].mean())).to_numpy(dtype=float)


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
