"""Load a registered forecaster's own artifacts: both boosters, its catalogue, peer reference, meta.

`les explain`, `les score` and the HTTP service need more than the pyfunc's predict (SHAP values,
what-if re-scoring, stage names), so they read the logged artifacts directly: the very files the
pyfunc serves, so the numbers cannot drift from what `mlflow models serve` answers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.catalogue import Catalogue, load_catalogue
from features.dataset_config import DatasetConfig
from features.recipe import DatasetRecipe, RecipeError
from features.rulebook import Rulebook
from training.config import MODEL_NAME
from training.models import Forecaster
from training.monitor.drift import DriftReference
from training.tracking import CHAMPION, RegistryError, TrackingConfig, activate

DEFAULT_MODEL_URI = f"models:/{MODEL_NAME}@{CHAMPION}"
ARTIFACT_FILES = (
    "classifier.txt",
    "regressor.txt",
    "catalogue.yaml",
    "meta.json",
    "peer_reference.json",
)
BOOSTER_FILES = ("classifier.txt", "regressor.txt")
DRIFT_FILE = "drift_reference.json"  # optional: models logged before it have none


@dataclass(frozen=True)
class PeerReference:
    """Per-feature medians of the training rows, overall and per next-window (label) tier: what
    peers, and what merchants who went on to reach a tier, look like; the targets of advice."""

    overall: dict[str, float]
    by_tier: dict[str, dict[str, float]]
    rows: int


@dataclass(frozen=True)
class RegisteredForecaster:
    forecaster: Forecaster
    catalogue: Catalogue
    model_name: str
    model_version: str
    fingerprint: str
    rulebook_version: int
    tiers_by_code: tuple[str, ...]
    peer_reference: PeerReference
    model_uri: str
    recipe: DatasetRecipe  # how its training rows were built; `DatasetRecipe.legacy` before recipes
    run_id: str | None = None
    drift_reference: DriftReference | None = None  # None: logged before drift references

    @property
    def dataset_config(self) -> DatasetConfig:
        """The windows, horizon, cadence and minimums its features must be built with."""
        return self.recipe.config

    def rulebook(self, base: Rulebook) -> Rulebook:
        """This code's rulebook `base` as the training rows were built with it; RegistryError if
        it is not the rulebook the model was trained under (another version or content hash)."""
        try:
            return self.recipe.rulebook(base)
        except RecipeError as exc:
            raise RegistryError(
                f"model {self.model_name} version {self.model_version} was trained on rows {exc}; "
                "features built now would differ from training. Retrain, or use the code it was "
                "trained with"
            ) from exc


def load_registered_forecaster(
    model_uri: str, tracking: TrackingConfig | None = None
) -> RegisteredForecaster:
    """Resolve `model_uri` (models:/name@alias, models:/name/version, runs:/..., or a local folder)."""
    client = activate(tracking) if tracking is not None else MlflowClient()
    name, version, run_id = resolve_model_version(client, model_uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = _download(model_uri, Path(tmp))
        loaded = read_forecaster_folder(local, model_uri, name, version)
    return dataclasses.replace(loaded, run_id=run_id)


def resolve_model_version(client: MlflowClient, model_uri: str) -> tuple[str, str, str | None]:
    """(registered name, version number, run id) behind a models:/ URI; others name themselves."""
    if not model_uri.startswith("models:/"):
        return model_uri, "unregistered", None
    path = model_uri.removeprefix("models:/")
    try:
        if "@" in path:
            name, alias = path.split("@", 1)
            found = client.get_model_version_by_alias(name, alias)
        else:
            name, _, version = path.partition("/")
            if not version.isdigit():
                raise RegistryError(
                    f"{model_uri!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION"
                )
            found = client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"cannot resolve model {model_uri!r}: {exc.message}") from exc
    return name, str(found.version), found.run_id


def read_forecaster_folder(
    folder: Path, model_uri: str = "", model_name: str = "", model_version: str = ""
) -> RegisteredForecaster:
    """A downloaded model folder (the pyfunc layout, artifacts/ inside) -> a ready forecaster."""
    artifacts = folder / "artifacts"
    missing = [name for name in ARTIFACT_FILES if not (artifacts / name).is_file()]
    if missing:
        raise RegistryError(f"{model_uri or folder}: model artifacts missing {missing}")
    try:
        meta = json.loads((artifacts / "meta.json").read_text())
        _check_boosters(artifacts, meta, model_uri or str(folder))
        classifier = lgb.Booster(model_file=str(artifacts / "classifier.txt"))
        regressor = lgb.Booster(model_file=str(artifacts / "regressor.txt"))
        catalogue = load_catalogue(artifacts / "catalogue.yaml")
        peers = _peer_reference(artifacts / "peer_reference.json")
        names = tuple(meta["feature_names"])
        recipe = _recipe(meta)
        drift = artifacts / DRIFT_FILE
        reference = (
            DriftReference.from_dict(json.loads(drift.read_text())) if drift.is_file() else None
        )
    except (OSError, ValueError, KeyError, lgb.basic.LightGBMError) as exc:
        raise RegistryError(f"{model_uri or folder}: corrupt model artifact ({exc})") from exc
    if classifier.feature_name() != list(names) or regressor.feature_name() != list(names):
        raise RegistryError(f"{model_uri or folder}: boosters disagree with meta.json features")
    return RegisteredForecaster(
        forecaster=Forecaster(classifier, regressor, names, tuple(meta.get("tier_cuts", ()))),
        catalogue=catalogue,
        model_name=model_name or str(folder),
        model_version=model_version or "unregistered",
        fingerprint=str(meta["fingerprint"]),
        rulebook_version=int(meta["rulebook_version"]),
        tiers_by_code=tuple(meta["tiers_by_code"]),
        peer_reference=peers,
        model_uri=model_uri,
        recipe=recipe,
        drift_reference=reference,
    )


def _check_boosters(artifacts: Path, meta: dict, where: str) -> None:
    """RegistryError naming the booster file whose bytes differ from what meta.json recorded.

    LightGBM kills the process natively (segfault, abort) on a truncated model file instead of
    raising, so the files are checked before it parses them: against the per-file sha256 when
    meta.json has it, and always against the fingerprint, sha256 of both files' text, that every
    model has recorded (the only check for models logged before per-file hashes).
    """
    contents = {name: (artifacts / name).read_bytes() for name in BOOSTER_FILES}
    recorded = meta.get("artifact_sha256") or {}
    for name, data in contents.items():
        if name in recorded and hashlib.sha256(data).hexdigest() != recorded[name]:
            raise RegistryError(
                f"{where}: corrupt model artifact {name}: its sha256 is not the one meta.json "
                "records (truncated or altered file)"
            )
    fingerprint = str(meta.get("fingerprint", ""))
    both = hashlib.sha256(b"".join(contents.values())).hexdigest()
    if fingerprint and not both.startswith(fingerprint):
        raise RegistryError(
            f"{where}: corrupt model artifact {' or '.join(BOOSTER_FILES)}: together they do not "
            f"hash to the fingerprint {fingerprint} meta.json records (truncated or altered file)"
        )


def _recipe(meta: dict) -> DatasetRecipe:
    """The recipe meta.json records; a model registered before recipes gets the defaults."""
    if "recipe" not in meta:
        return DatasetRecipe.legacy(int(meta["rulebook_version"]))
    return DatasetRecipe.from_dict(meta["recipe"])


def _download(model_uri: str, into: Path) -> Path:
    if Path(model_uri).is_dir():
        return Path(model_uri)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(into)))
    except MlflowException as exc:
        raise RegistryError(f"cannot resolve model {model_uri!r}: {exc.message}") from exc
    except OSError as exc:
        raise RegistryError(f"cannot download model {model_uri!r}: {exc}") from exc


def _peer_reference(path: Path) -> PeerReference:
    raw = json.loads(path.read_text())
    return PeerReference(raw["overall"], raw["by_tier"], int(raw["rows"]))


def load_model(model_uri: str) -> RegisteredForecaster:
    """`load_registered_forecaster` from the current store, for a command: a registry that lacks
    the model is a `RegistryError` saying it could not be loaded."""
    import os

    from training.tracking import resolve_tracking

    # MLflow's download bar writes to stderr; a JSON report piped from stdout should stand alone.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        return load_registered_forecaster(model_uri, resolve_tracking(create=False))
    except RegistryError as exc:
        raise RegistryError(f"cannot load model: {exc}") from exc
