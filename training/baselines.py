"""The baselines a forecaster must beat on the same folds: persistence and a multinomial logistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
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


def logistic_proba(
    train: pd.DataFrame, test: pd.DataFrame, feature_names: tuple[str, ...], seed: int
) -> np.ndarray:
    """Multinomial logistic regression on the same features (median-imputed, standardised)."""
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed),
    )
    x_train = feature_matrix(train, feature_names)
    model.fit(x_train, train["label_tier_code"].to_numpy(dtype=int))
    proba = np.zeros((len(test), N_TIERS))
    proba[:, model.classes_] = model.predict_proba(feature_matrix(test, feature_names))
    return proba
