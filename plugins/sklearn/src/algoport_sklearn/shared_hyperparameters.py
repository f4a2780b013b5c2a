"""Hyperparameters more than one algorithm declares, named as SageMaker's built-ins name them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from algoport import TrainingJob, hp

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, kw_only=True)
class OrWords(hp.HyperParameter):
    """One of a few ``words`` (``auto``) or a value of ``value``'s type, as some of the
    built-ins' settings take.

    Declared as free text, so that ``algoport spec`` does not promise SageMaker a number.
    """

    value: hp.HyperParameter
    words: tuple[str, ...]

    def expected(self) -> str:
        return f"{' or '.join(self.words)} or {self.value.expected()}"

    def convert(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in self.words:
            return value.strip().lower()
        try:
            return self.value.convert(value)
        except hp.InvalidValue:
            raise hp.InvalidValue(self.expected()) from None


def or_words(value: hp.HyperParameter, words: tuple[str, ...], description: str) -> OrWords:
    """``value``'s declaration, also taking ``words``; the first is the default."""
    return OrWords(
        name=value.name, default=words[0], value=value, words=words, description=description
    )


SOLVER = hp.Categorical(
    name="solver",
    choices=("auto", "exact", "streaming"),
    default="auto",
    description=(
        "exact: read the train channel whole and fit scikit-learn's exact solver (the data "
        "must fit in memory). streaming: mini-batches over epochs, as SageMaker's built-in "
        "does, in memory bounded by mini_batch_size. auto: streaming when the train channel "
        "is in Pipe mode or the job sets a setting only streaming uses (mini_batch_size, "
        "epochs, ...: the SageMaker SDK's estimators always set mini_batch_size); exact "
        "otherwise, so a job that trained before trains the same model."
    ),
)


def mini_batch_size(default: int) -> hp.Integer:
    return hp.Integer(
        name="mini_batch_size",
        default=default,
        min=1,
        max=1_000_000,
        description="Streaming: records per mini-batch (the memory bound of training).",
    )


def epochs(default: int) -> hp.Integer:
    return hp.Integer(
        name="epochs",
        default=default,
        min=1,
        max=100_000,
        description="Streaming: passes over the train channel (in Pipe mode, one FIFO each).",
    )


def log_no_effect(job: TrainingJob, no_effect: Mapping[str, str]) -> None:
    """Say which of the job's settings were accepted only for compatibility, and why."""
    for name in sorted(job.given_hyperparameters & set(no_effect)):
        log.info(
            "hyperparameter %s=%r is accepted and changes nothing here: %s",
            name,
            job.hyperparameters[name],
            no_effect[name],
        )
