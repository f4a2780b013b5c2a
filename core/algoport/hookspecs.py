"""The hooks an algoport plugin implements: the plugin author's reference.

An *algorithm plugin* is the object an entry point in the group ``algoport.algorithms``
points at: a module, or a class (instantiated once with no arguments). The entry point's
name is the algorithm's name, the one ``ALGOPORT_ALGORITHM`` selects. Mark each hook
implementation with :data:`algoport.hookimpl`; argument names must match the spec below,
and an implementation may take fewer arguments than the spec offers::

    from algoport import hookimpl

    @hookimpl
    def load(model_dir):
        return read_my_model(model_dir / "model.bin")

    @hookimpl
    def predict(model, data):
        return model.predict(data)

Every algorithm gets its own plugin manager holding, in order of registration:

1. the built-in formats plugin (``algoport.builtin_formats``: csv, json, jsonlines, npy,
   recordio-protobuf), which implements :func:`formats` like any other plugin;
2. every installed *extension* (entry-point group ``algoport.extensions``), which may add
   formats, wrap the algorithm's hooks with ``@hookimpl(wrapper=True)`` or implement
   :func:`open_model`;
3. the algorithm plugin itself.

What a clash does is said per hook. A hook implemented with an unknown name or an argument
the spec does not offer stops start-up with an error naming the plugin and its
distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from algoport.capabilities import Capabilities
    from algoport.channels import Channel, ChannelSpec
    from algoport.hyperparameters import HyperParameter
    from algoport.media import ContentTypes, Format, Invocation
    from algoport.metrics import Metric
    from algoport.training import TrainingJob

PROJECT = "algoport"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def hyperparameters() -> Sequence[HyperParameter]:  # type: ignore[empty-body]
    """Declare the hyperparameters the algorithm accepts.

    Runs: when a training job starts, before ``fit``; and in ``algoport spec``, which
    turns the declarations into CreateAlgorithm's ``SupportedHyperParameters`` (types,
    ranges, defaults, ``tunable``; aliases are not listed there).
    Return: a sequence of :class:`algoport.hp.HyperParameter` (``hp.Integer``,
    ``hp.Float``, ``hp.Boolean``, ``hp.String``, ``hp.Categorical``, ``hp.List``).
    The core coerces SageMaker's strings to these types, fills defaults, and rejects
    unknown names, reporting every problem at once; ``fit`` sees only typed values.
    Not implemented: the algorithm takes no hyperparameters, and any given is an error.
    Clash: only the algorithm plugin may implement it; the first non-None result wins.
    """


@hookspec(firstresult=True)
def check_hyperparameters(
    values: Mapping[str, Any], channels: Mapping[str, Channel]
) -> Sequence[str] | None:
    """Check rules that span several hyperparameters (or a hyperparameter and a channel).

    Runs: when a training job starts, after each value was coerced to its declared type
    and the channels were checked, before ``fit``.
    Arguments: ``values`` holds the typed value of every declared hyperparameter, given or
    default, except those whose own value was wrong (already reported): check a rule
    only when its names are present. ``channels`` are the job's channels by name.
    Return: a list of problems, each a sentence that names the hyperparameters and their
    values and says what to do (``"num_class is required with objective
    'multi:softmax'; set num_class."``); empty or None when all is well. They are
    reported together with the type errors as one user error (exit 2).
    Not implemented: no cross-field rules.
    Clash: only the algorithm plugin may implement it; the first non-None result wins.
    """


@hookspec(firstresult=True)
def channels() -> Sequence[ChannelSpec]:  # type: ignore[empty-body]
    """Declare the input channels the algorithm reads.

    Runs: when a training job starts, before ``fit``; and in ``algoport spec``, which
    turns them into CreateAlgorithm's ``TrainingChannels``.
    Return: a sequence of :class:`algoport.ChannelSpec` (name, required, content types,
    input modes). The core checks ``inputdataconfig.json`` against it: a missing required
    channel, an undeclared channel, an unsupported content type or input mode is a user
    error before ``fit`` runs. The first declared content type is the default when the
    job names none.
    Not implemented: any channel, content type and mode is accepted as given.
    Clash: only the algorithm plugin may implement it; the first non-None result wins.
    """


@hookspec(firstresult=True)
def metrics() -> Sequence[Metric]:  # type: ignore[empty-body]
    """Declare the metrics ``fit`` logs with ``job.log_metric``.

    Runs: in ``algoport spec``, which writes them as CreateAlgorithm's
    ``MetricDefinitions`` (each ``Metric.regex``) and, for each with an ``objective``,
    ``SupportedTuningJobObjectiveMetrics``.
    Return: a sequence of :class:`algoport.Metric`. The core writes the regex that matches
    its own metric log lines, so names are all a plugin declares.
    Clash: only the algorithm plugin may implement it; the first non-None result wins.
    """


@hookspec(firstresult=True)
def fit(job: TrainingJob) -> None:
    """Train a model and write it into ``job.model_dir``.

    Runs: once, in the ``train`` process, after hyperparameters and channels are checked.
    Arguments: ``job`` (:class:`algoport.TrainingJob`) carries typed ``hyperparameters``,
    ``channels`` (each with ``files()`` and ``read()``), ``model_dir``,
    ``output_data_dir``, ``checkpoint_dir``, the cluster (``resources``), ``log_metric``
    and ``stop_requested``, set when SageMaker sends SIGTERM.
    Return: None. Raise :class:`algoport.UserError` for problems the job's owner can fix
    (its message becomes the failure reason); any other exception is an algorithm error.
    Write model files with :func:`algoport.atomic_write` or into ``job.model_dir`` only
    once complete. The core adds ``algoport-manifest.json`` beside them.
    Not implemented: the algorithm can serve but not train; ``train`` says so.
    Clash: only the algorithm plugin may implement it.
    """


@hookspec(firstresult=True)
def load(model_dir: Path) -> Any:
    """Load a trained model for serving.

    Runs: once per server worker at start-up (and per model on a multi-model endpoint),
    before ``/ping`` answers 200.
    Arguments: ``model_dir`` is the directory ``fit`` wrote (``/opt/ml/model`` when
    serving), already extracted from ``model.tar.gz``.
    Return: the model object, any type; it is passed to ``predict`` unchanged and shared
    by concurrent requests of that worker, so it must be safe to use from several threads
    or guard itself. Raise to fail start-up; the cause is logged and ``serve`` exits
    non-zero.
    Clash: only the algorithm plugin may implement it.
    """


@hookspec(firstresult=True)
def open_model(model_dir: Path) -> AbstractContextManager[Path] | None:
    """Give ``load`` the model's files in a form it can read, e.g. decrypted.

    Meant for extensions (algoport-protect implements it): a wrapper of ``load`` cannot
    change the directory ``load`` is given, this hook can.
    Runs: before every ``load``, in the same process.
    Arguments: ``model_dir``, the directory ``load`` would read.
    Return: a context manager whose value is the directory ``load`` reads instead; it is
    exited as soon as ``load`` returns or raises, so ``load`` must read every file it needs
    before returning. None: ``load`` reads ``model_dir``.
    Not implemented: ``load`` reads ``model_dir``.
    Clash: two plugins implementing it stop the load, naming both.
    """


@hookspec(firstresult=True)
def predict(model: Any, data: Any, invocation: Invocation) -> Any:
    """Predict for one decoded request.

    Runs: for every ``POST /invocations`` (and multi-model invoke), on a worker thread,
    never on the event loop.
    Arguments: ``model`` is what ``load`` returned; ``data`` is what the request's format
    decoded (for the built-in formats, a 2-D float ``numpy.ndarray``, one row per record);
    ``invocation`` (:class:`algoport.Invocation`) has the request's content type, the
    negotiated response type, ``custom_attributes`` and a settable
    ``response_custom_attributes``.
    Return: one prediction per input record, as a ``numpy.ndarray`` (1-D: one value per
    record, shown as ``score``; 2-D: a row per record) or a mapping of column name to
    array, e.g. ``{"predicted_label": labels, "probabilities": probs}`` (shape ``(n,)`` or
    ``(n, k)``). The core checks it (a wrong shape or count is an algorithm error, 500)
    and the ``Accept`` type's format encodes it.
    Raise :class:`algoport.UserError` for a request the model cannot use (400); any other
    exception is an algorithm error (500).
    Batched: when the algorithm declares ``Capabilities(independent_rows=True)``, requests
    that wait together (``ALGOPORT_MAX_BATCH_SIZE``, ``ALGOPORT_MAX_BATCH_DELAY_MS``) may
    come in one call: ``data`` is their decoded arrays concatenated in arrival order, and
    ``invocation`` is equal to each one's (requests with different content types, ``Accept``,
    custom attributes, target model or inference id, or arrays of different dtype or width,
    never share a call); what it sets in ``response_custom_attributes`` is sent with every
    reply. Should such a call raise, each request is predicted alone, so one request's bad
    values fail that request only.
    Clash: only the algorithm plugin may implement it; extensions may wrap it.
    """


@hookspec
def formats() -> Sequence[Format]:  # type: ignore[empty-body]
    """Contribute formats: how a media type is decoded, encoded and read for training.

    Runs: once at start-up, when ``train`` prepares the job and when a serving worker
    loads the model, before any channel is read or request answered.
    Return: a sequence of :class:`algoport.Format`, each naming one media type
    (``type/subtype``, no parameters) with the functions it supports: ``decode`` (request
    body → what ``predict`` takes), ``encode`` (prediction columns → reply bytes), ``read``
    (training channel bytes → :class:`algoport.Dataset`, for ``channel.read()``), and
    ``line_based`` when a body holds one record per line.
    Clash: two plugins giving the same media type stop start-up, naming both, unless the
    later one is an algorithm or extension format with ``override=True`` replacing a
    built-in one. Results from every plugin are collected.
    """


@hookspec(firstresult=True)
def content_types() -> ContentTypes:  # type: ignore[empty-body]
    """Say which media types the algorithm accepts in requests and produces in replies.

    Runs: once at start-up (``train`` and serving), and in ``algoport spec``, which writes
    ``accepts`` and ``produces`` as the InferenceSpecification's ``SupportedContentTypes``
    and ``SupportedResponseMIMETypes``.
    Return: :class:`algoport.ContentTypes` with ``accepts`` and ``produces``, each in order
    of preference; every accepted type needs a format that decodes, every produced type
    one that encodes. The first of ``produces`` answers a
    request with no ``Accept`` (or ``*/*``) unless ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``
    names another it produces.
    Not implemented: every type with a decoder is accepted and every type with an encoder
    is produced, ``application/json`` first.
    Clash: only the algorithm plugin may implement it; the first non-None result wins.
    """


@hookspec(firstresult=True)
def capabilities() -> Capabilities:  # type: ignore[empty-body]
    """Declare what the algorithm can do beyond the baseline: several hosts, row by row.

    Runs: when a training job starts, before ``fit``; when a serving worker loads the
    model; and in ``algoport spec``.
    Return: :class:`algoport.Capabilities`. ``distributed_training=True`` says ``fit``
    combines every host's data when the job has several hosts; without it, several hosts
    with a ``ShardedByS3Key`` channel are a user error before ``fit`` runs, and ``algoport
    spec`` writes ``SupportsDistributedTraining: false``. ``independent_rows=True`` says a
    record's prediction never depends on the other records of its request: ``serve`` then
    predicts a large line-based or RecordIO request chunk by chunk (``ALGOPORT_STREAM_CHUNK_MB``)
    and requests that wait together in one call (``ALGOPORT_MAX_BATCH_SIZE``).
    Not implemented: ``Capabilities()``, every field false, which is never wrong.
    Clash: only the algorithm plugin may implement it; the first non-None result wins.
    """
