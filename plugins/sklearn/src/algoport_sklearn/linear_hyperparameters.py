"""Linear Learner's own settings, as the SageMaker SDK's ``LinearLearner`` writes them.

Each keeps the built-in's name, range and default; an unset (None) value is the built-in's
``auto``, decided in ``linear_streaming``. What cannot be honoured is a user error at the
start of the job (``check_linear``); what changes nothing here is logged (``NO_EFFECT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from algoport import hp
from algoport_sklearn.shared_hyperparameters import epochs, mini_batch_size

LOSSES: Final[dict[str, tuple[str, ...]]] = {
    "binary_classifier": ("auto", "logistic"),
    "multiclass_classifier": ("auto", "softmax_loss"),
    "regressor": (
        "auto",
        "squared_loss",
        "absolute_loss",
        "huber_loss",
        "quantile_loss",
        "eps_insensitive_squared_loss",
        "eps_insensitive_absolute_loss",
    ),
}
ALL_LOSSES: Final = (*dict.fromkeys(loss for losses in LOSSES.values() for loss in losses),)
# Criteria that pick a model by a threshold tuned on validation data; one model is kept here
# and its threshold is 0.5.
CALIBRATED_CRITERIA: Final = (
    "f1",
    "f_beta",
    "precision_at_target_recall",
    "recall_at_target_precision",
)

# Settings only the streaming solver reads: with solver=auto, setting one chooses it.
STREAMING_ONLY: Final = (
    "mini_batch_size",
    "epochs",
    "optimizer",
    "loss",
    "learning_rate",
    "momentum",
    "beta_1",
    "beta_2",
    "bias_lr_mult",
    "bias_wd_mult",
    "use_lr_scheduler",
    "lr_scheduler_step",
    "lr_scheduler_factor",
    "lr_scheduler_minimum_lr",
    "init_method",
    "init_scale",
    "init_sigma",
    "init_bias",
    "normalize_label",
    "unbias_label",
    "num_point_for_scaler",
    "early_stopping_patience",
    "early_stopping_tolerance",
    "quantile",
    "huber_delta",
    "loss_insensitivity",
)
EXACT_ONLY: Final = ("max_iter", "tol")

# Accepted for jobs written for Linear Learner; name → why it changes nothing here.
NO_EFFECT: Final = {
    "num_models": "one model is trained (tune several with a hyperparameter tuning job)",
    "num_calibration_samples": "the decision threshold is not calibrated; it is 0.5",
    "target_recall": "it applies to binary_classifier_model_selection_criteria "
    "precision_at_target_recall only, which algoport does not offer",
    "target_precision": "it applies to binary_classifier_model_selection_criteria "
    "recall_at_target_precision only, which algoport does not offer",
    "f_beta": "it applies to binary_classifier_model_selection_criteria f_beta only, which "
    "algoport does not offer",
    "accuracy_top_k": "algoport logs accuracy, not top-k accuracy",
    "margin": "it applies to hinge_loss only, which algoport does not offer",
    "binary_classifier_model_selection_criteria": "one model is trained, so there is none "
    "to select",
}


def _float(name: str, description: str, **bounds: Any) -> hp.Float:
    return hp.Float(name=name, description=description, **bounds)


def linear_learner_hyperparameters() -> list[hp.HyperParameter]:
    """The names beyond those the exact solver already declares."""
    streaming = "Streaming: "
    return [
        mini_batch_size(1000),
        epochs(15),
        hp.Categorical(
            name="optimizer",
            choices=("auto", "sgd", "adam", "rmsprop"),
            default="auto",
            description=streaming + "sgd (with momentum), adam or rmsprop; auto: adam.",
        ),
        hp.Categorical(
            name="loss",
            choices=("auto", *ALL_LOSSES, "hinge_loss"),
            default="auto",
            description=(
                streaming + "the loss; auto: logistic (binary), softmax_loss (multiclass), "
                "squared_loss (regressor). The exact solver takes auto or that loss only."
            ),
        ),
        _float(
            "learning_rate",
            streaming + "step size; unset (auto): 0.01 for adam and rmsprop, 0.1 for sgd.",
            min=0.0,
            min_open=True,
        ),
        _float(
            "momentum", streaming + "momentum of sgd.", default=0.0, min=0.0, max=1.0, max_open=True
        ),
        _float(
            "beta_1",
            streaming + "adam's first-moment decay.",
            default=0.9,
            min=0.0,
            max=1.0,
            max_open=True,
        ),
        _float(
            "beta_2",
            streaming + "adam's second-moment decay.",
            default=0.999,
            min=0.0,
            max=1.0,
            max_open=True,
        ),
        _float(
            "bias_lr_mult",
            streaming + "the bias's learning rate over the weights'; unset: 1.",
            min=0.0,
            min_open=True,
        ),
        _float(
            "bias_wd_mult",
            streaming + "the bias's L2 weight over wd; unset: 0 (no L2 on the bias).",
            min=0.0,
        ),
        hp.Boolean(
            name="use_lr_scheduler",
            default=True,
            description=streaming + "decay the learning rate.",
        ),
        hp.Integer(
            name="lr_scheduler_step",
            min=1,
            description=streaming + "mini-batches between decays; unset: 100.",
        ),
        _float(
            "lr_scheduler_factor",
            streaming + "factor of each decay; unset: 0.99.",
            min=0.0,
            max=1.0,
            min_open=True,
            max_open=True,
        ),
        _float(
            "lr_scheduler_minimum_lr",
            streaming + "the rate decays no lower; unset: 0.00001.",
            min=0.0,
            min_open=True,
        ),
        hp.Categorical(
            name="init_method",
            choices=("uniform", "normal"),
            default="uniform",
            description=streaming + "initial weights' distribution.",
        ),
        _float(
            "init_scale",
            streaming + "uniform initial weights lie in [-init_scale, init_scale].",
            default=0.07,
            min=0.0,
            min_open=True,
        ),
        _float(
            "init_sigma",
            streaming + "standard deviation of normal initial weights.",
            default=0.01,
            min=0.0,
            min_open=True,
        ),
        _float("init_bias", streaming + "initial bias.", default=0.0),
        hp.Boolean(
            name="normalize_label",
            description=streaming
            + "regressor: scale the label to variance 1 while training; unset: true.",
        ),
        hp.Boolean(
            name="unbias_data",
            description=(
                "Center every feature on mean 0 before fitting; unset: as normalize_data."
            ),
        ),
        hp.Boolean(
            name="unbias_label",
            description=streaming + "regressor: center the label; unset: as normalize_label.",
        ),
        hp.Integer(
            name="num_point_for_scaler",
            default=10_000,
            min=1,
            description=streaming
            + "records of the first epoch that set the scaling and the class weights.",
        ),
        hp.Integer(
            name="early_stopping_patience",
            default=3,
            min=1,
            description=streaming + "epochs without a gain in training loss before training stops.",
        ),
        _float(
            "early_stopping_tolerance",
            streaming + "relative loss decrease that counts as a gain.",
            default=0.001,
            min=0.0,
            min_open=True,
        ),
        _float(
            "quantile",
            streaming + "quantile_loss: the quantile predicted.",
            default=0.5,
            min=0.0,
            max=1.0,
            min_open=True,
            max_open=True,
        ),
        _float(
            "loss_insensitivity",
            streaming + "eps_insensitive losses: errors below this cost nothing.",
            default=0.01,
            min=0.0,
            min_open=True,
        ),
        _float(
            "huber_delta",
            streaming + "huber_loss: where the loss turns from squared to linear.",
            default=1.0,
            min=0.0,
        ),
        hp.Integer(name="num_models", min=1, description="Accepted; one model is trained."),
        hp.Integer(
            name="num_calibration_samples", min=1, description="Accepted; the threshold is 0.5."
        ),
        hp.Categorical(
            name="binary_classifier_model_selection_criteria",
            choices=("accuracy", "cross_entropy_loss", "loss_function", *CALIBRATED_CRITERIA),
            default="accuracy",
            description=(
                "Accepted: accuracy, cross_entropy_loss or loss_function (one model is "
                "kept); the others need a calibrated threshold and are refused."
            ),
        ),
        _float(
            "target_recall",
            "Accepted; no effect here.",
            default=0.8,
            min=0.0,
            max=1.0,
            min_open=True,
            max_open=True,
        ),
        _float(
            "target_precision",
            "Accepted; no effect here.",
            default=0.8,
            min=0.0,
            max=1.0,
            min_open=True,
            max_open=True,
        ),
        _float("f_beta", "Accepted; no effect here.", default=1.0, min=0.0, min_open=True),
        hp.Integer(
            name="accuracy_top_k",
            default=3,
            min=1,
            max=1_000_000,
            description="Accepted; no effect here.",
        ),
        _float(
            "margin", "Accepted; applies to hinge_loss, which is refused.", default=1.0, min=0.0
        ),
    ]


def check_linear(values: Mapping[str, Any]) -> list[str]:
    """The rules that span settings: loss and predictor type, what cannot be honoured."""
    problems = []
    predictor_type = values.get("predictor_type")
    loss = values.get("loss")
    if loss == "hinge_loss":
        problems.append(
            "Hyperparameter 'loss' is 'hinge_loss', which gives no probabilities; algoport's "
            "classifiers answer the probability of class 1 (score). Use loss logistic."
        )
    elif predictor_type in LOSSES and loss is not None and loss not in LOSSES[predictor_type]:
        problems.append(
            f"Hyperparameter 'loss' is {loss!r}, which does not fit predictor_type "
            f"{predictor_type!r}; expected {', '.join(LOSSES[predictor_type])}."
        )
    if values.get("solver") == "exact" and loss not in (None, "auto") and loss in ALL_LOSSES:
        exact = {"binary_classifier": "logistic", "multiclass_classifier": "softmax_loss"}
        if loss != exact.get(str(predictor_type), "squared_loss"):
            problems.append(
                f"Hyperparameter 'loss' is {loss!r}; the exact solver minimises the logistic "
                "or squared loss only. Set solver streaming, or leave loss auto."
            )
    criterion = values.get("binary_classifier_model_selection_criteria")
    if criterion in CALIBRATED_CRITERIA:
        problems.append(
            f"Hyperparameter 'binary_classifier_model_selection_criteria' is {criterion!r}, "
            "which tunes the decision threshold on validation data; algoport keeps the "
            "threshold at 0.5. Use accuracy, cross_entropy_loss or loss_function."
        )
    models = values.get("num_models")
    if models is not None and models > 1:
        problems.append(
            f"Hyperparameter 'num_models' is {models}: Linear Learner trains that many models "
            "at once and keeps the best; algoport trains one. Set num_models 1 and tune "
            "with a hyperparameter tuning job."
        )
    return problems
