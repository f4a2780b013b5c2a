"""The hyperparameters of SageMaker's built-in XGBoost, declared for algoport.

Names, ranges and required-ness follow the built-in algorithm. Optional values default to
None and are then left to XGBoost, whose own default (named in each description) applies;
so the model is exactly what ``xgboost.train`` makes from the values the job set.
``checkpoint_interval`` is algoport's own; the built-in checkpoints every round.
"""

from __future__ import annotations

from algoport import hp
from algoport_xgboost import objectives

# Each checkpoint is the whole model so far: one every round doubled a 500-round job's time.
CHECKPOINT_INTERVAL = 10


def _xgboost_default(text: str, value: object) -> str:
    return f"{text} XGBoost default: {value}."


DECLARED: tuple[hp.HyperParameter, ...] = (
    hp.Integer(
        name="num_round",
        required=True,
        min=1,
        aliases=("num_boost_round",),
        tunable=True,
        description="Number of boosting rounds.",
    ),
    hp.Integer(
        name="num_class",
        min=2,
        description="Number of classes; required by multi:softmax and multi:softprob only.",
    ),
    hp.Categorical(
        name="objective",
        choices=objectives.CHOICES,
        default=objectives.DEFAULT,
        description="Learning task and loss.",
    ),
    hp.List(
        name="eval_metric",
        item=hp.String(name="metric"),
        description="Metrics logged for train and validation each round, e.g. auc,error@0.7. "
        "Default: chosen by XGBoost from the objective.",
    ),
    hp.Integer(
        name="early_stopping_rounds",
        min=1,
        description="Stop when the last validation metric has not improved for this many "
        "rounds and keep the best model; needs a validation channel.",
    ),
    hp.Categorical(
        name="booster",
        choices=("gbtree", "gblinear", "dart"),
        description=_xgboost_default("Booster.", "gbtree"),
    ),
    hp.Float(
        name="eta",
        aliases=("learning_rate",),
        min=0,
        max=1,
        tunable=True,
        description=_xgboost_default("Step size shrinkage (alias learning_rate).", 0.3),
    ),
    hp.Float(
        name="gamma",
        aliases=("min_split_loss",),
        min=0,
        tunable=True,
        description=_xgboost_default("Minimum loss reduction to split (alias min_split_loss).", 0),
    ),
    hp.Integer(
        name="max_depth",
        min=0,
        tunable=True,
        description=_xgboost_default("Maximum tree depth; 0 means no limit.", 6),
    ),
    hp.Float(
        name="min_child_weight",
        min=0,
        tunable=True,
        description=_xgboost_default("Minimum hessian sum in a child.", 1),
    ),
    hp.Float(
        name="max_delta_step",
        min=0,
        tunable=True,
        description=_xgboost_default("Maximum leaf weight step; 0 means no limit.", 0),
    ),
    hp.Float(
        name="subsample",
        min=0,
        min_open=True,
        max=1,
        tunable=True,
        description=_xgboost_default("Row subsample ratio per tree.", 1),
    ),
    hp.Categorical(
        name="sampling_method",
        choices=("uniform", "gradient_based"),
        description=_xgboost_default("How rows are subsampled.", "uniform"),
    ),
    hp.Float(
        name="colsample_bytree",
        min=0,
        min_open=True,
        max=1,
        tunable=True,
        description=_xgboost_default("Column subsample ratio per tree.", 1),
    ),
    hp.Float(
        name="colsample_bylevel",
        min=0,
        min_open=True,
        max=1,
        tunable=True,
        description=_xgboost_default("Column subsample ratio per tree level.", 1),
    ),
    hp.Float(
        name="colsample_bynode",
        min=0,
        min_open=True,
        max=1,
        tunable=True,
        description=_xgboost_default("Column subsample ratio per split.", 1),
    ),
    hp.Float(
        name="lambda",
        aliases=("reg_lambda",),
        min=0,
        tunable=True,
        description=_xgboost_default("L2 regularisation on weights (alias reg_lambda).", 1),
    ),
    hp.Float(
        name="alpha",
        aliases=("reg_alpha",),
        min=0,
        tunable=True,
        description=_xgboost_default("L1 regularisation on weights (alias reg_alpha).", 0),
    ),
    hp.Categorical(
        name="tree_method",
        choices=("auto", "exact", "approx", "hist"),
        description=_xgboost_default("Tree construction algorithm (CPU).", "auto, i.e. hist"),
    ),
    hp.Float(
        name="scale_pos_weight",
        min=0,
        min_open=True,
        description=_xgboost_default("Weight of positive examples (binary objectives).", 1),
    ),
    hp.List(
        name="updater",
        item=hp.String(name="updater"),
        description="Tree updaters to run, e.g. grow_colmaker,prune; gblinear: shotgun or "
        "coord_descent. Default: chosen by XGBoost from tree_method.",
    ),
    hp.Boolean(
        name="refresh_leaf",
        description=_xgboost_default("refresh updater: also update leaf values.", "true"),
    ),
    hp.Categorical(
        name="process_type",
        choices=("default", "update"),
        description=_xgboost_default("Boosting process.", "default"),
    ),
    hp.Categorical(
        name="grow_policy",
        choices=("depthwise", "lossguide"),
        description=_xgboost_default("How trees grow (hist and approx).", "depthwise"),
    ),
    hp.Integer(
        name="max_leaves",
        min=0,
        description=_xgboost_default("Maximum leaves per tree; 0 means no limit.", 0),
    ),
    hp.Integer(
        name="max_bin",
        min=2,
        description=_xgboost_default("Histogram bins per feature (hist and approx).", 256),
    ),
    hp.Integer(
        name="num_parallel_tree",
        min=1,
        description=_xgboost_default("Trees grown per round (random-forest boosting).", 1),
    ),
    hp.String(
        name="monotone_constraints",
        description="One of -1, 0, 1 per feature, e.g. (1,0,-1). Default: none.",
    ),
    hp.String(
        name="interaction_constraints",
        description="Feature index groups allowed to interact, e.g. [[0,1],[2,3,4]]. "
        "Default: none.",
    ),
    hp.Categorical(
        name="sample_type",
        choices=("uniform", "weighted"),
        description=_xgboost_default("dart: how dropped trees are chosen.", "uniform"),
    ),
    hp.Categorical(
        name="normalize_type",
        choices=("tree", "forest"),
        description=_xgboost_default("dart: normalisation of new trees.", "tree"),
    ),
    hp.Float(
        name="rate_drop",
        min=0,
        max=1,
        description=_xgboost_default("dart: fraction of trees dropped.", 0),
    ),
    hp.Boolean(
        name="one_drop",
        description=_xgboost_default("dart: always drop at least one tree.", "false"),
    ),
    hp.Float(
        name="skip_drop",
        min=0,
        max=1,
        description=_xgboost_default("dart: probability of skipping dropout.", 0),
    ),
    hp.Float(
        name="tweedie_variance_power",
        min=1,
        max=2,
        min_open=True,
        max_open=True,
        description=_xgboost_default("reg:tweedie variance power.", 1.5),
    ),
    hp.Float(
        name="huber_slope",
        min=0,
        min_open=True,
        description=_xgboost_default("reg:pseudohubererror slope.", 1),
    ),
    hp.List(
        name="quantile_alpha",
        item=hp.Float(name="quantile", min=0, max=1, min_open=True, max_open=True),
        description="reg:quantileerror quantiles, e.g. 0.1,0.5,0.9 (one score per quantile). "
        "XGBoost default: 0.5.",
    ),
    hp.Float(
        name="base_score",
        description="Initial prediction of every record. Default: estimated by XGBoost from "
        "the labels.",
    ),
    hp.Integer(
        name="seed",
        min=-(2**31),
        max=2**31 - 1,
        min_open=True,
        max_open=True,
        description=_xgboost_default("Random seed.", 0),
    ),
    hp.Integer(
        name="nthread",
        min=1,
        description="Training threads. Default: every CPU the container may use.",
    ),
    hp.Integer(
        name="verbosity",
        min=0,
        max=3,
        description=_xgboost_default("XGBoost's own messages: 0 silent … 3 debug.", 1),
    ),
    hp.Boolean(
        name="csv_weights",
        default=False,
        description="text/csv only: the column after the label holds each record's weight.",
    ),
    hp.Boolean(
        name="save_model_on_termination",
        default=False,
        description="When the job is stopped (SIGTERM), save the model trained so far.",
    ),
    hp.Integer(
        name="checkpoint_interval",
        default=CHECKPOINT_INTERVAL,
        min=1,
        description="With CheckpointConfig set: boosting rounds between checkpoints. A "
        "stopped job always checkpoints the round it stopped after.",
    ),
)

# Hyperparameters that steer this plugin and are not XGBoost booster parameters.
PLUGIN_ONLY = frozenset(
    {
        "num_round",
        "eval_metric",
        "early_stopping_rounds",
        "csv_weights",
        "save_model_on_termination",
        "checkpoint_interval",
    }
)
