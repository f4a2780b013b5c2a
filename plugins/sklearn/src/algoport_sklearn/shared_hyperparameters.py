"""Hyperparameters more than one algorithm declares, named as SageMaker's built-ins name them."""

from __future__ import annotations

from typing import Final, Literal, get_args

from algoport import hp

PredictorType = Literal["binary_classifier", "multiclass_classifier", "regressor"]
PREDICTOR_TYPES: Final[tuple[str, ...]] = get_args(PredictorType)

# scikit-learn takes seeds in [0, 2**32 - 1].
MAX_SEED: Final = 2**32 - 1

PREDICTOR_TYPE = hp.Categorical(
    name="predictor_type",
    choices=PREDICTOR_TYPES,
    required=True,
    description=(
        "What the label is: binary_classifier (labels 0 and 1), multiclass_classifier "
        "(labels 0..k-1) or regressor (any number). As in SageMaker's Linear Learner."
    ),
)

NUM_CLASSES = hp.Integer(
    name="num_classes",
    min=2,
    max=1_000_000,
    description=(
        "multiclass_classifier only: the number of classes k, labels 0..k-1. Optional: "
        "by default the largest training label + 1. Set it when the training data may lack "
        "the highest classes, so that `probabilities` still has k columns."
    ),
)


def seed(description: str) -> hp.Integer:
    return hp.Integer(name="seed", default=0, min=0, max=MAX_SEED, description=description)


FEATURE_DIM = hp.Integer(
    name="feature_dim",
    min=1,
    description=(
        "The number of features (columns after the label). Optional: when set, training "
        "checks the data has exactly this many. Accepted so that hyperparameters written "
        "for SageMaker's built-in algorithms work unchanged."
    ),
)
