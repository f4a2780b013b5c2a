"""Models on disk: one skops file, written atomically, read against a list of trusted types.

skops rebuilds only the types it is told to trust, so a tampered model file cannot run
code the way a pickle can. Its defaults trust builtins, numpy arrays and scikit-learn
estimators; each algorithm names the few other types its model holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import sklearn
import skops.io

from algoport import UserError, atomic_write

log = logging.getLogger(__name__)

MODEL_FILE: Final = "model.skops"
FORMAT: Final = "algoport-sklearn/1"


@dataclass(frozen=True)
class TrainedModel:
    """A fitted estimator and what serving needs to know about it."""

    algorithm: str
    estimator: Any
    feature_count: int
    predictor_type: str | None = None
    class_count: int | None = None


def save_model(model: TrainedModel, model_dir: Path) -> Path:
    state = {
        "format": FORMAT,
        "algorithm": model.algorithm,
        "predictor_type": model.predictor_type,
        "feature_count": model.feature_count,
        "class_count": model.class_count,
        "sklearn_version": sklearn.__version__,
        "estimator": model.estimator,
    }
    path = model_dir / MODEL_FILE
    with atomic_write(path) as out:
        out.write(skops.io.dumps(state))
    return path


def load_model(model_dir: Path, algorithm: str, trusted_types: Sequence[str]) -> TrainedModel:
    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise UserError(
            f"Model file {MODEL_FILE} is missing from {model_dir}; expected the file that "
            f"`train` with algorithm {algorithm!r} writes. Serve the model.tar.gz of a "
            f"completed {algorithm!r} training job."
        )
    state = _read(path, trusted_types)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(
            f"Model file {path} is not an algoport-sklearn model (format {FORMAT!r} "
            "expected). Retrain the model with this image."
        )
    if state["algorithm"] != algorithm:
        raise UserError(
            f"Model file {path} holds a {state['algorithm']!r} model, not {algorithm!r}. "
            f"Serve it with ALGOPORT_ALGORITHM={state['algorithm']}, or leave it unset."
        )
    if state["sklearn_version"] != sklearn.__version__:
        log.warning(
            "model was trained with scikit-learn %s and is served with %s; predictions may "
            "differ. Retrain with this image to be sure.",
            state["sklearn_version"],
            sklearn.__version__,
        )
    return TrainedModel(
        algorithm=state["algorithm"],
        estimator=state["estimator"],
        feature_count=int(state["feature_count"]),
        predictor_type=state["predictor_type"],
        class_count=state["class_count"],
    )


def _read(path: Path, trusted_types: Sequence[str]) -> Any:
    try:
        untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(trusted_types))
        if not untrusted:
            return skops.io.load(path, trusted=list(trusted_types))
    except Exception as exc:
        raise UserError(
            f"Model file {path} cannot be read: {type(exc).__name__}: {exc}. It is damaged or "
            "was not written by algoport-sklearn; retrain the model."
        ) from exc
    raise UserError(
        f"Model file {path} holds types algoport-sklearn does not load: "
        f"{', '.join(untrusted)}. It was altered or written by other software; retrain the "
        "model with this image."
    )
