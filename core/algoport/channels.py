"""Training channels: what a plugin declares, what the job provides, and their check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from algoport import pipe
from algoport.contract import ChannelConfig, ContractPaths
from algoport.errors import DataError, UserError
from algoport.media import Dataset, Format, FormatRegistry, MediaType, Reader


@dataclass(frozen=True)
class ChannelSpec:
    """A channel the algorithm reads, as its plugin declares it."""

    name: str
    required: bool = False
    # Parameters are defaults for a job that omits them, e.g. "text/csv;label_size=0".
    content_types: Sequence[str] = ("text/csv",)
    input_modes: Sequence[str] = ("File",)
    description: str = ""

    def supports_mode(self, mode: str) -> bool:
        # FastFile looks exactly like File from inside the container.
        return mode in self.input_modes or (mode == "FastFile" and "File" in self.input_modes)


CHUNK_BYTES = 4 << 20


def line_chunks(stream: IO[bytes], chunk_bytes: int) -> Iterator[bytes]:
    """Whole lines of a stream, about ``chunk_bytes`` at a time; memory stays bounded."""
    carry = b""
    while block := stream.read(chunk_bytes):
        block = carry + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            carry = block
            continue
        carry = block[cut:]
        yield block[:cut]
    if carry.strip():
        yield carry


def _concatenate(parts: list[Dataset], where: str) -> Dataset:
    if not parts:
        raise UserError(f"{where} holds no records; check the channel's S3 prefix.")
    widths = {part.features.shape[1] for part in parts}
    if not all(isinstance(part.features, np.ndarray) for part in parts):
        features = _stack_sparse([p.features for p in parts], max(widths))
    elif len(widths) > 1:
        raise DataError(
            f"{where} has records of different widths: {sorted(widths)} features; every "
            "record needs the same columns."
        )
    else:
        features = np.concatenate([p.features for p in parts])
    labels = None
    if parts[0].labels is not None:
        labels = np.concatenate([p.labels for p in parts if p.labels is not None])
    return Dataset(features, labels)


def _stack_sparse(matrices: list[np.ndarray], width: int) -> np.ndarray:
    """Sparse parts one under the other; a part that names fewer columns lacks the others."""
    # Only a sparse format (a plugin's, e.g. libsvm) gives scipy matrices, so scipy is there.
    import scipy.sparse

    widened = [scipy.sparse.csr_matrix(m) for m in matrices]
    for matrix in widened:
        matrix.resize((matrix.shape[0], width))
    stacked: np.ndarray = scipy.sparse.vstack(widened, format="csr")
    return stacked


def _datasets(
    fmt: Format, reader: Reader, stream: IO[bytes], media: MediaType, chunk_bytes: int
) -> Iterator[Dataset]:
    """One object's records, a bounded chunk at a time, as its format reads them."""
    if fmt.read_stream is not None:
        yield from fmt.read_stream(stream, media, chunk_bytes)
        return
    pieces = line_chunks(stream, chunk_bytes) if fmt.line_based else iter([stream.read()])
    for piece in pieces:
        yield reader(piece, media)


class Epoch:
    """One pass over a channel: its objects (files, or the pipe's stream) and their records."""

    def __init__(self, channel: Channel, number: int, sources: Iterator[tuple[str, IO[bytes]]]):
        self.channel = channel
        self.number = number
        self._sources = sources

    def streams(self) -> Iterator[tuple[str, IO[bytes]]]:
        """(name, stream) for each object: a file in File mode; the pipe in Pipe mode."""
        return self._sources

    def chunks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Dataset]:
        """The records, decoded a bounded chunk at a time (line-based types split at lines)."""
        reader = self.channel.reader()
        fmt = self.channel.format()
        media = self.channel.content_type
        for name, stream in self._sources:
            try:
                yield from _datasets(fmt, reader, stream, media, chunk_bytes)
            except DataError as exc:
                raise DataError(f"Channel {self.channel.name!r}, {name}: {exc}") from None

    def lines(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[str, bytes]]:
        """(object name, whole lines) about ``chunk_bytes`` at a time, for a plugin that
        parses the text itself; memory stays bounded."""
        for name, stream in self._sources:
            for piece in line_chunks(stream, chunk_bytes):
                yield name, piece

    def read(self) -> Dataset:
        """All of this epoch's records in one Dataset."""
        where = f"Channel {self.channel.name!r}"
        parts = []
        for name, stream in self._sources:
            try:
                parts.append(self.channel.reader()(stream.read(), self.channel.content_type))
            except DataError as exc:
                raise DataError(f"{where}, {name}: {exc}") from None
        return _concatenate(parts, where)


class Channel:
    """One input channel of a running job, in File (or FastFile) or Pipe mode."""

    def __init__(
        self,
        name: str,
        path: Path,
        content_type: MediaType,
        input_mode: str,
        distribution: str = "FullyReplicated",
        record_wrapper: str = "None",
        compression: str = "None",
        *,
        formats: FormatRegistry,
        pipe_wait_seconds: float = pipe.WAIT.default,
    ) -> None:
        self.name = name
        self.path = path
        self.content_type = content_type
        self.input_mode = input_mode
        self.distribution = distribution
        self.record_wrapper = record_wrapper
        self.compression = compression
        self.pipe_wait_seconds = pipe_wait_seconds
        self.formats = formats
        self._next_epoch = 0

    def __repr__(self) -> str:
        return f"Channel({self.name!r}, {self.content_type}, {self.input_mode})"

    @property
    def is_pipe(self) -> bool:
        return self.input_mode == "Pipe"

    def files(self) -> list[Path]:
        """Every data file in the channel, sorted, hidden files skipped (File mode)."""
        if self.is_pipe:
            raise UserError(
                f"Channel {self.name!r} is in Pipe mode and has no files; read it with "
                "channel.read() or channel.epochs()."
            )
        if not self.path.is_dir():
            return []
        return sorted(
            p
            for p in self.path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.parts)
        )

    def format(self) -> Format:
        """The format of the channel's content type; a UserError when none can read it."""
        fmt = self.formats.get(self.content_type.essence)
        if fmt is None or fmt.read is None:
            raise UserError(
                f"Channel {self.name!r} has content type {self.content_type.essence!r}, which "
                f"algoport cannot read; readable: {', '.join(self.formats.readable)}. Read "
                "channel.files() or the epoch's streams() yourself for other types."
            )
        return fmt

    def reader(self) -> Reader:
        """How the channel's bytes become a Dataset: its format's ``read``."""
        read = self.format().read
        assert read is not None  # format() refuses a format that cannot read
        return read

    @contextlib.contextmanager
    def open_epoch(self, number: int) -> Iterator[Epoch]:
        """Open epoch ``number``; in Pipe mode, closing it lets SageMaker start the next."""
        if not self.is_pipe:
            with contextlib.ExitStack() as stack:
                sources = (
                    (f"file {p.relative_to(self.path)}", stack.enter_context(open(p, "rb")))
                    for p in self.files()
                )
                yield Epoch(self, number, sources)
            return
        fifo = self.path.parent / f"{self.name}_{number}"
        with pipe.open_epoch(
            fifo,
            record_wrapper=self.record_wrapper,
            compression=self.compression,
            timeout=self.pipe_wait_seconds,
        ) as streams:
            yield Epoch(self, number, ((f"pipe {fifo.name}", s) for s in streams))

    def epochs(self) -> Iterator[Epoch]:
        """Epoch after epoch, without end: each is closed before the next opens."""
        while True:
            number = self._next_epoch
            self._next_epoch += 1
            with self.open_epoch(number) as epoch:
                yield epoch

    def read(self) -> Dataset:
        """All records of the channel (in Pipe mode, of its next epoch), decoded."""
        self.reader()
        if not self.is_pipe and not self.files():
            raise UserError(
                f"Channel {self.name!r} has no data files under {self.path}; check the "
                "channel's S3 prefix."
            )
        number = self._next_epoch
        self._next_epoch += 1
        with self.open_epoch(number) as epoch:
            return epoch.read()


def resolve_channels(
    configs: Mapping[str, ChannelConfig],
    specs: Sequence[ChannelSpec] | None,
    paths: ContractPaths,
    algorithm: str,
    formats: FormatRegistry,
    pipe_wait_seconds: float = pipe.WAIT.default,
) -> dict[str, Channel]:
    """Check the job's channels against the declarations; every problem at once."""
    problems: list[str] = []
    declared = {spec.name: spec for spec in specs} if specs is not None else None
    channels: dict[str, Channel] = {}
    for name, config in configs.items():
        spec = declared.get(name) if declared is not None else None
        if declared is not None and spec is None:
            problems.append(
                f"Channel {name!r} is not read by algorithm {algorithm!r}; it reads "
                f"{', '.join(declared) or 'no channels'}."
            )
            continue
        content_type = config.content_type or (spec.content_types[0] if spec else "text/csv")
        media = MediaType.parse(content_type)
        declared_types = (
            {d.essence: d for d in (MediaType.parse(t) for t in spec.content_types)} if spec else {}
        )
        if media.essence in declared_types:
            # Declared parameters are defaults: an unsupervised algorithm declares
            # text/csv;label_size=0.
            defaults = declared_types[media.essence].params
            media = MediaType(media.type, media.subtype, {**defaults, **media.params})
        if spec is not None and media.essence not in declared_types:
            problems.append(
                f"Channel {name!r} has ContentType {content_type!r}; algorithm {algorithm!r} "
                f"reads {', '.join(spec.content_types)} there."
            )
        if spec is not None and not spec.supports_mode(config.input_mode):
            problems.append(
                f"Channel {name!r} has TrainingInputMode {config.input_mode!r}; algorithm "
                f"{algorithm!r} supports {', '.join(spec.input_modes)} there."
            )
        channels[name] = Channel(
            name=name,
            path=paths.channel_dir(name),
            content_type=media,
            input_mode=config.input_mode,
            distribution=config.distribution,
            record_wrapper=config.record_wrapper,
            compression=config.compression,
            formats=formats,
            pipe_wait_seconds=pipe_wait_seconds,
        )
    for spec in (declared or {}).values():
        if spec.required and spec.name not in configs:
            problems.append(
                f"Channel {spec.name!r} is required by algorithm {algorithm!r} and missing; "
                f"add an input channel named {spec.name!r} ({', '.join(spec.content_types)})."
            )
    if problems:
        summary = problems[0]
        if len(problems) > 1:
            summary += f" (and {len(problems) - 1} more channel problem(s))"
        raise UserError(summary, details=problems)
    return channels
