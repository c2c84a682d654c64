"""One typed configuration for training, read from an optional YAML file; no globals."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from features.errors import LesError

# Small, strongly regularised trees: tens of thousands of rows, noisy next-window labels.
DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 100,
    "feature_fraction": 0.6,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
}


MIN_LEAF_ROWS = 10
MODEL_NAME = "les-forecaster"  # the registered model: training, the CLI and serving defaults


class ConfigError(LesError, ValueError):
    """A training config file or value is invalid; the message names the key."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, logged to MLflow as-is."""

    seed: int = 42
    n_folds: int = 3
    horizon_days: int = 30
    max_boost_rounds: int = 1000
    early_stopping_rounds: int = 40
    validation_share: float = 0.2
    class_weight_power: float = 0.5
    # A leaf holds at least this share of the training rows, between MIN_LEAF_ROWS and
    # lgbm_params["min_child_samples"]: 100 rows suit tens of thousands, not a thousand sellers.
    min_leaf_share: float = 0.025
    lgbm_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_LGBM_PARAMS))
    excluded_features: tuple[str, ...] = ("current_les_score", "current_tier_code")
    registered_model_name: str = MODEL_NAME
    experiment_name: str = "les"
    promotion_tolerance: float = 0.02

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def booster_params(self, n_rows: int) -> dict[str, Any]:
        """LightGBM params for `n_rows` training rows: the configured ones, the seed, and the leaf
        size scaled to the rows."""
        cap = int(self.lgbm_params["min_child_samples"])
        leaf = int(min(max(round(n_rows * self.min_leaf_share), MIN_LEAF_ROWS), cap))
        return {**self.lgbm_params, "seed": self.seed, "min_child_samples": leaf}


def load_train_config(path: Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the YAML file, then explicit overrides (CLI flags)."""
    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping of config keys, got {type(loaded).__name__}"
            )
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown training config keys {unknown}; known keys: {sorted(known)}")
    if "lgbm_params" in values:
        values["lgbm_params"] = {**DEFAULT_LGBM_PARAMS, **values["lgbm_params"]}
    if "excluded_features" in values:
        values["excluded_features"] = tuple(values["excluded_features"])
    config = TrainConfig(**values)
    _check(config)
    return config


def _check(config: TrainConfig) -> None:
    if config.n_folds < 1:
        raise ConfigError(f"n_folds must be >= 1, got {config.n_folds}")
    if not 0 < config.validation_share < 0.5:
        raise ConfigError(f"validation_share must be in (0, 0.5), got {config.validation_share}")
    if config.horizon_days < 1:
        raise ConfigError(f"horizon_days must be >= 1, got {config.horizon_days}")
    if not 0 <= config.min_leaf_share < 0.5:
        raise ConfigError(f"min_leaf_share must be in [0, 0.5), got {config.min_leaf_share}")
    if config.promotion_tolerance < 0:
        raise ConfigError(f"promotion_tolerance must be >= 0, got {config.promotion_tolerance}")
