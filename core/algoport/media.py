"""Media types and their formats: parsing, the format registry, ``Accept`` negotiation.

A :class:`Format` is everything algoport knows about one media type: how a request body
is decoded for ``predict``, how predictions are encoded into a reply, how a training
channel's bytes are read. Plugins contribute formats through the ``formats`` hook (the
built-in ones too); a :class:`FormatRegistry` holds one algorithm's formats, serves its
training channels, and resolves a request's ``Content-Type`` and ``Accept`` against them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from algoport.errors import AlgorithmError, DataError, PlatformError, PluginError, UserError
from algoport.settings import MB

Columns = dict[str, np.ndarray]
NEGOTIATION_CACHE = 256


class UnsupportedMediaType(UserError):
    http_status = 415


class NotAcceptable(UserError):
    http_status = 406


class DecodedTooLarge(DataError):
    """A request body would decode into more than the decoded-size limit."""

    http_status = 413


# The limit of the request being decoded in this thread; None outside serving (training
# channels decode into what the data holds).
_decoded_size_limit: ContextVar[int | None] = ContextVar("decoded_size_limit", default=None)


@contextlib.contextmanager
def decoded_size_limit(limit_bytes: int) -> Iterator[None]:
    """Within the block, :func:`check_decoded_size` refuses decodes beyond ``limit_bytes``."""
    token = _decoded_size_limit.set(limit_bytes)
    try:
        yield
    finally:
        _decoded_size_limit.reset(token)


def check_decoded_size(n_bytes: int, what: str) -> None:
    """Refuse to allocate ``n_bytes`` for a request body beyond serving's decoded-size limit.

    A decoder calls it with the size it is about to allocate (a declared shape times the
    item size; for several records, the total so far) before allocating it. Beyond the
    limit (``ALGOPORT_MAX_DECODED_MB``) it raises a DataError answered with a 413 that
    names the limit and ``what``, e.g. ``"record 3 declares shape [10000000]"``. Outside a
    request (training, tests) there is no limit and it returns.
    """
    limit = _decoded_size_limit.get()
    if limit is None or n_bytes <= limit:
        return
    shown = f"{limit // MB} MB" if limit % MB == 0 else f"{limit / MB:.3g} MB"
    raise DecodedTooLarge(
        f"The request body decodes into more than {shown} ({limit} bytes, "
        f"ALGOPORT_MAX_DECODED_MB): {what}. Send fewer records per request, or raise "
        "ALGOPORT_MAX_DECODED_MB."
    )


@dataclass(frozen=True)
class MediaType:
    """``type/subtype`` with its parameters (``text/csv;label_size=0``)."""

    type: str
    subtype: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def quality(self) -> float:
        try:
            return float(self.params.get("q", "1"))
        except ValueError:
            return 0.0

    def matches(self, essence: str) -> bool:
        """Whether this media range (``*/*``, ``text/*``…) covers ``essence``."""
        kind, _, sub = essence.partition("/")
        if self.type == "*":
            return True
        return self.type == kind and self.subtype in ("*", sub)

    @property
    def specificity(self) -> int:
        return (self.type != "*") + (self.subtype != "*")

    @classmethod
    def parse(cls, text: str) -> MediaType:
        head, *rest = text.split(";")
        kind, slash, sub = head.strip().lower().partition("/")
        if not slash or not kind or not sub:
            raise UnsupportedMediaType(
                f"Media type {text.strip()!r} is malformed; expected type/subtype, e.g. text/csv."
            )
        params: dict[str, str] = {}
        for part in rest:
            key, eq, value = part.partition("=")
            if eq:
                params[key.strip().lower()] = value.strip().strip('"')
        return cls(kind, sub, params)

    def __str__(self) -> str:
        tail = "".join(f";{k}={v}" for k, v in self.params.items())
        return self.essence + tail


def parse_accept(header: str) -> list[MediaType]:
    ranges = []
    for item in header.split(","):
        if item.strip():
            try:
                ranges.append(MediaType.parse(item))
            except UnsupportedMediaType:
                continue
    return ranges


@dataclass(frozen=True)
class Dataset:
    """Features (one row per record) and labels, when the content type carries them.

    ``features`` is a 2-D ``numpy.ndarray``, or a ``scipy.sparse`` CSR matrix for a sparse
    format such as libsvm.
    """

    features: np.ndarray
    labels: np.ndarray | None


Decoder = Callable[[bytes, MediaType], Any]
Encoder = Callable[[Columns, MediaType], bytes]
Reader = Callable[[bytes, MediaType], Dataset]
StreamReader = Callable[[IO[bytes], MediaType, int], Iterator[Dataset]]


@dataclass(frozen=True)
class Format:
    """One media type: how requests are decoded, replies encoded, training channels read.

    ``media_type`` is ``type/subtype`` without parameters; each function gets the full media
    type, parameters included (``text/csv;label_size=0``). Give the functions the format
    supports; the rest stay None.

    - ``decode(body, media_type)`` returns what ``predict`` takes (the built-in formats give
      a 2-D ``numpy.ndarray``, one row per record). Raise :class:`algoport.DataError` for a
      body that does not parse (400). A decoder that can allocate more than the body's
      size (declared shapes, sparse records made dense) calls
      :func:`check_decoded_size` with that size before allocating it.
    - ``encode(columns, media_type)`` gets the predictions as columns, already checked
      (name → array of shape ``(n,)`` or ``(n, k)``, the same ``n`` for each), and returns
      the reply's bytes. A column it cannot hold is the algorithm's fault: an error raised
      here becomes a 500.
    - ``read(body, media_type)`` turns a training channel's bytes (a whole file, or a chunk
      of one) into a :class:`Dataset`; ``channel.read()`` and ``epoch.chunks()`` use it.
    - ``read_stream(stream, media_type, chunk_bytes)``, optional beside ``read``, yields the
      Datasets of a whole stream about ``chunk_bytes`` at a time; ``epoch.chunks()`` uses it
      for a format whose records are framed rather than one per line.
    - ``line_based``: a body holds one record per line, so ``epoch.chunks()`` cuts a
      channel at line ends and reads each piece.
    - ``recordio_framed``: a body is a sequence of RecordIO records (``formats/recordio.py``).
    - Serving cuts a large request of a line-based or RecordIO-framed format between
      records and answers it a chunk at a time (see ``serving/streaming.py``), when the
      reply's format is one of those too: such an encoder writes one line or one record
      per prediction, so that encoding the predictions in pieces and concatenating the
      bytes gives exactly what one call would.
    - ``override=True`` lets a plugin replace a built-in format of the same media type.
    """

    media_type: str
    decode: Decoder | None = None
    encode: Encoder | None = None
    read: Reader | None = None
    read_stream: StreamReader | None = None
    line_based: bool = False
    recordio_framed: bool = False
    override: bool = False


@dataclass(frozen=True)
class ContentTypes:
    """What an algorithm accepts and produces, each in order of preference."""

    accepts: Sequence[str]
    produces: Sequence[str]


@dataclass
class Invocation:
    """One request as ``predict`` sees it, beyond the decoded data."""

    content_type: MediaType
    accept: MediaType
    custom_attributes: str | None = None
    target_model: str | None = None
    inference_id: str | None = None
    response_custom_attributes: str | None = None


@dataclass(frozen=True)
class RegisteredFormat:
    format: Format
    plugin: str


class FormatRegistry:
    """The formats of one algorithm, checked for clashes, with its content types.

    Training channels look their readers up here, serving its decoders and encoders.
    """

    def __init__(
        self,
        contributed: Iterable[tuple[str, Iterable[Format]]],
        content_types: ContentTypes | None,
        *,
        builtin_plugin: str,
        algorithm: str,
    ) -> None:
        self.algorithm = algorithm
        self.formats: dict[str, RegisteredFormat] = {}
        for plugin, formats in contributed:
            for fmt in formats:
                self._add(RegisteredFormat(fmt, plugin), builtin_plugin)
        if content_types is None:
            decodable = [t for t, f in self.formats.items() if f.format.decode]
            encodable = [t for t, f in self.formats.items() if f.format.encode]
            encodable.sort(key=lambda t: t != "application/json")
            content_types = ContentTypes(decodable, encodable)
        # Clients send the same few headers over and over; negotiate each once.
        self._decoders: dict[str | None, tuple[Format, MediaType]] = {}
        self._encoders: dict[tuple[str | None, str | None], tuple[Format, MediaType]] = {}
        self.accepts = tuple(content_types.accepts)
        self.produces = tuple(content_types.produces)
        self._check_declared()

    def _add(self, entry: RegisteredFormat, builtin_plugin: str) -> None:
        essence = MediaType.parse(entry.format.media_type).essence
        held = self.formats.get(essence)
        if held is not None:
            if held.plugin == builtin_plugin and entry.format.override:
                self.formats[essence] = entry
                return
            hint = (
                " To replace a built-in format, give the new one override=True."
                if held.plugin == builtin_plugin
                else " Uninstall one of them."
            )
            raise PluginError(
                f"Media type {essence!r} has two formats, from plugin {held.plugin!r} and "
                f"from plugin {entry.plugin!r}.{hint}"
            )
        self.formats[essence] = entry

    def _check_declared(self) -> None:
        for essence in self.accepts:
            registered = self.formats.get(essence)
            if registered is None or registered.format.decode is None:
                raise PluginError(
                    f"Algorithm {self.algorithm!r} accepts {essence!r} but no installed format "
                    "decodes it; add a Format for it in the plugin's formats hook."
                )
        for essence in self.produces:
            registered = self.formats.get(essence)
            if registered is None or registered.format.encode is None:
                raise PluginError(
                    f"Algorithm {self.algorithm!r} produces {essence!r} but no installed format "
                    "encodes it; add a Format for it in the plugin's formats hook."
                )
        if not self.produces:
            raise PluginError(f"Algorithm {self.algorithm!r} produces no media type.")

    def get(self, essence: str) -> Format | None:
        """The format of a media type (``type/subtype``), if one is installed."""
        registered = self.formats.get(essence)
        return registered.format if registered is not None else None

    @property
    def readable(self) -> list[str]:
        """The media types a training channel can be read in, sorted."""
        return sorted(t for t, f in self.formats.items() if f.format.read)

    def decoder(self, content_type: str | None) -> tuple[Format, MediaType]:
        cached = self._decoders.get(content_type)
        if cached is None:
            cached = self._decoder(content_type)
            if len(self._decoders) < NEGOTIATION_CACHE:
                self._decoders[content_type] = cached
        return cached

    def encoder(self, accept: str | None, default: str | None) -> tuple[Format, MediaType]:
        key = (accept, default)
        cached = self._encoders.get(key)
        if cached is None:
            cached = self._encoder(accept, default)
            if len(self._encoders) < NEGOTIATION_CACHE:
                self._encoders[key] = cached
        return cached

    def _decoder(self, content_type: str | None) -> tuple[Format, MediaType]:
        if not content_type:
            media = MediaType.parse(self.accepts[0]) if self.accepts else None
            if media is None:
                raise UnsupportedMediaType("The algorithm accepts no request body.")
        else:
            media = MediaType.parse(content_type)
        if media.essence not in self.accepts:
            raise UnsupportedMediaType(
                f"Content-Type {media.essence!r} is not supported; this endpoint accepts "
                f"{', '.join(self.accepts)}."
            )
        return self.formats[media.essence].format, media

    def default_answer(self, configured: str | None) -> MediaType:
        """The type of a reply to no ``Accept`` or ``*/*``: ``configured`` when given.

        Raises:
            PlatformError: ``configured`` (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT) is not a
                type the algorithm produces.
        """
        if not configured:
            return MediaType.parse(self.produces[0])
        try:
            media = MediaType.parse(configured)
        except UnsupportedMediaType:
            media = None
        if media is None or media.essence not in self.produces:
            raise PlatformError(
                f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT is {configured!r}, which algorithm "
                f"{self.algorithm!r} does not produce; it produces {', '.join(self.produces)}. "
                "Set it to one of those, or unset it."
            )
        return media

    def _encoder(self, accept: str | None, default: str | None) -> tuple[Format, MediaType]:
        fallback = self.default_answer(default)
        ranges = parse_accept(accept) if accept else []
        if not ranges or all(r.essence == "*/*" and r.quality > 0 for r in ranges):
            return self.formats[fallback.essence].format, fallback
        best: tuple[float, int, int] | None = None
        chosen = None
        for rank, essence in enumerate(self.produces):
            matching = [(i, r) for i, r in enumerate(ranges) if r.matches(essence)]
            if not matching:
                continue
            position, most_specific = max(matching, key=lambda ir: (ir[1].specificity, -ir[0]))
            if most_specific.quality <= 0:
                continue
            is_wildcard = most_specific.essence == "*/*"
            key = (
                most_specific.quality,
                -position,
                -(0 if is_wildcard and essence == fallback.essence else rank + 1),
            )
            if best is None or key > best:
                best, chosen = key, (essence, most_specific)
        if chosen is None:
            raise NotAcceptable(
                f"Accept {accept!r} matches nothing this endpoint produces; it produces "
                f"{', '.join(self.produces)}."
            )
        essence, requested = chosen
        params = {k: v for k, v in requested.params.items() if k != "q"}
        kind, _, sub = essence.partition("/")
        return self.formats[essence].format, MediaType(kind, sub, params)


def prediction_columns(result: Any, n_records: int | None) -> Columns:
    """Normalise what ``predict`` returned into named columns, one row per record."""
    if isinstance(result, Mapping):
        columns = {str(k): np.asarray(v) for k, v in result.items()}
    else:
        columns = {"score": np.asarray(result)}
    if not columns:
        raise AlgorithmError("predict returned no prediction columns.")
    for name, array in columns.items():
        if array.ndim == 0:
            columns[name] = array.reshape(1)
        elif array.ndim > 2:
            raise AlgorithmError(
                f"predict returned column {name!r} with shape {array.shape}; expected one "
                "value or one vector per record, shape (n,) or (n, k)."
            )
    lengths = {name: len(array) for name, array in columns.items()}
    if len(set(lengths.values())) > 1:
        raise AlgorithmError(
            f"predict returned columns of different lengths: {lengths}; each needs one entry "
            "per record."
        )
    count = next(iter(lengths.values()))
    if n_records is not None and count != n_records:
        raise AlgorithmError(
            f"predict returned {count} predictions for {n_records} records; expected one per "
            "record."
        )
    return columns


def encode_predictions(
    fmt: Format, columns: Columns, media_type: MediaType, algorithm: str
) -> bytes:
    """Encode checked prediction columns; what the format cannot hold is the algorithm's fault."""
    assert fmt.encode is not None
    try:
        return fmt.encode(columns, media_type)
    except DataError as exc:
        # The columns are the algorithm's output, not the client's data.
        raise AlgorithmError(
            f"Algorithm {algorithm!r} returned predictions that {media_type.essence} cannot "
            f"hold: {exc.message}"
        ) from exc


def record_count(data: Any) -> int | None:
    """How many records a decoded request holds, when the core can tell."""
    if isinstance(data, np.ndarray) and data.ndim >= 1:
        return int(data.shape[0])
    return None
