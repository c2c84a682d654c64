"""MLflow models-from-code definition of the logged les forecaster.

MLflow executes this file when it loads the model, so it imports only lightgbm, numpy, pandas and
mlflow: the logged model serves without the les package. Artifacts: both boosters in LightGBM text
format, the feature catalogue, the LES rulebook and `meta.json` (feature order, tiers, fingerprint,
the served tier's score cuts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

PROBA_PREFIX = "p_"
# features.rulebook.MAX_POINTS, repeated: this file must load without the les package
SCORE_MAX = 5.0


def ordinal_tier_codes(proba: np.ndarray) -> np.ndarray:
    """The tier code minimising the expected squared tier error under the probabilities.

    Tiers are ordinal (Poor 0 .. Excellent 3): calling Good a Poor merchant is worse than calling it
    Needs attention, so the Bayes decision for a quadratic cost beats the plain argmax."""
    codes = np.arange(proba.shape[1])
    cost = (codes[:, None] - codes[None, :]) ** 2
    return (proba @ cost.T).argmin(axis=1)


def tiers_from_cuts(score: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """Tier code = number of cuts at or below the predicted score (cuts ascending)."""
    return np.searchsorted(np.asarray(cuts, float), np.asarray(score, float), side="right")


def served_tier_codes(proba: np.ndarray, score: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    """The served tier: the model's fitted cuts on its predicted score (training.decision says
    why); a model logged without cuts keeps the expected-squared-cost rule it was gated on."""
    return tiers_from_cuts(score, cuts) if len(cuts) else ordinal_tier_codes(proba)


def proba_column(tier: str) -> str:
    """`Needs attention` -> `p_needs_attention`: one column per tier, in the model's class order."""
    return PROBA_PREFIX + tier.lower().replace(" ", "_")


class LesForecasterModel(PythonModel):
    """predict(frame of feature rows) -> tier, tier probabilities, predicted score, model version."""

    def load_context(self, context) -> None:
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.feature_names: list[str] = meta["feature_names"]
        self.tiers_by_code: list[str] = meta["tiers_by_code"]
        self.model_version: str = meta["fingerprint"]
        self.tier_cuts: list[float] = meta.get("tier_cuts", [])
        self.classifier = lgb.Booster(model_file=context.artifacts["classifier"])
        self.regressor = lgb.Booster(model_file=context.artifacts["regressor"])

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        x = self._matrix(model_input)
        proba = self.classifier.predict(x).reshape(len(x), len(self.tiers_by_code))
        score = np.clip(self.regressor.predict(x), 0.0, SCORE_MAX)
        out = pd.DataFrame(index=model_input.index)
        if "merchant_id" in model_input:
            out["merchant_id"] = model_input["merchant_id"].astype(str)
        out["tier"] = np.asarray(self.tiers_by_code, dtype=object)[
            served_tier_codes(proba, score, self.tier_cuts)
        ]
        for code, tier in enumerate(self.tiers_by_code):
            out[proba_column(tier)] = proba[:, code]
        out["predicted_score"] = score
        out["model_version"] = self.model_version
        return out

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        columns = [
            pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if name in frame
            else np.full(len(frame), np.nan)
            for name in self.feature_names
        ]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))


# MLflow executes this file under a generated module name when it logs or loads the model; importing
# it as `training.forecaster_model` (for the decision rule) must not register a model.
if __name__ != "training.forecaster_model":
    mlflow.models.set_model(LesForecasterModel())
