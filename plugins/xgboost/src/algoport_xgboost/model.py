"""The model directory: the booster in XGBoost's own format, and what serving needs beside it.

``xgboost-model.ubj`` is a plain XGBoost model (``xgboost.Booster().load_model`` reads it
anywhere). ``xgboost-metadata.json`` holds the facts serving needs that the booster does not
carry: how libsvm indices were counted in training, and how many rounds were kept.
A model directory from SageMaker's built-in XGBoost (one file, ``xgboost-model``, in
XGBoost's format) loads too; its facts are read from the booster.

A libsvm request's indices always count as the model's training data did, never guessed
from the request. Models that do not record it (SageMaker's built-in, and algoport models
trained on CSV before version 2 of the metadata) read index ``j`` as column ``j``
(:data:`UNRECORDED_INDEX_BASE`), as XGBoost reads libsvm and as CSV columns count.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import xgboost as xgb

from algoport import AlgorithmError, atomic_write
from algoport_xgboost.errors import xgboost_message

log = logging.getLogger("algoport.xgboost")

MODEL_FILE = "xgboost-model.ubj"
METADATA_FILE = "xgboost-metadata.json"
# Model files tried in order when loading; the last is the built-in algorithm's name.
MODEL_FILES = (MODEL_FILE, "xgboost-model")
# 2: libsvm_index_base is recorded for every model, 0 after CSV training.
METADATA_VERSION = 2
UNRECORDED_INDEX_BASE = 0


@dataclass(frozen=True)
class ModelFacts:
    """What serving needs to know about a trained booster."""

    objective: str
    num_class: int | None
    num_features: int
    # The libsvm index of column 0 in training: 0 or 1 after libsvm, 0 after CSV.
    libsvm_index_base: int = UNRECORDED_INDEX_BASE
    best_iteration: int | None = None
    rounds: int | None = None
    xgboost_version: str = xgb.__version__
    metadata_version: int = METADATA_VERSION

    @classmethod
    def from_booster(cls, booster: xgb.Booster, **extra: Any) -> ModelFacts:
        config = json.loads(booster.save_config())
        learner = config["learner"]
        num_class = int(learner["learner_model_param"].get("num_class", "0"))
        return cls(
            objective=str(learner["objective"]["name"]),
            num_class=num_class if num_class > 1 else None,
            num_features=booster.num_features(),
            **extra,
        )


def save(booster: xgb.Booster, facts: ModelFacts, model_dir: Path) -> None:
    """Write the booster, then its facts; each file appears whole or not at all."""
    with atomic_write(model_dir / MODEL_FILE) as handle:
        handle.write(bytes(booster.save_raw(raw_format="ubj")))
    with atomic_write(model_dir / METADATA_FILE) as handle:
        handle.write((json.dumps(asdict(facts), indent=2, sort_keys=True) + "\n").encode())


def load(model_dir: Path, nthread: int) -> tuple[xgb.Booster, ModelFacts]:
    path = next((model_dir / n for n in MODEL_FILES if (model_dir / n).is_file()), None)
    if path is None:
        raise AlgorithmError(
            f"No XGBoost model in {model_dir}: expected {' or '.join(MODEL_FILES)}. Was the "
            "model trained by algoport-xgboost (or SageMaker's built-in XGBoost)?"
        )
    booster = xgb.Booster()
    try:
        booster.load_model(path)
    except xgb.core.XGBoostError as exc:
        raise AlgorithmError(
            f"{path.name} is not a model XGBoost {xgb.__version__} can read: "
            f"{xgboost_message(exc)}. Pickled models are never loaded; re-save the model "
            "with Booster.save_model."
        ) from None
    booster.set_param({"nthread": nthread})
    metadata_path = model_dir / METADATA_FILE
    if not metadata_path.is_file():
        log.info("%s has no %s; reading its facts from the booster", model_dir, METADATA_FILE)
        return booster, ModelFacts.from_booster(booster)
    stored = json.loads(metadata_path.read_text(encoding="utf-8"))
    known = set(ModelFacts.__dataclass_fields__)
    facts = {k: v for k, v in stored.items() if k in known}
    if facts.get("libsvm_index_base") is None:
        # Metadata version 1 wrote null after CSV training.
        facts["libsvm_index_base"] = UNRECORDED_INDEX_BASE
    return booster, ModelFacts(**facts)
