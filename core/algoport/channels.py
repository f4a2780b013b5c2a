"""Training channels: what a plugin declares, what the job provides, and their check."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algoport.codecs import MediaType
from algoport.contract import ChannelConfig, ContractPaths
from algoport.errors import DataError, UserError
from algoport.formats import csv

FILE_MODES = ("File", "FastFile")


@dataclass(frozen=True)
class ChannelSpec:
    """A channel the algorithm reads, as its plugin declares it."""

    name: str
    required: bool = False
    content_types: Sequence[str] = ("text/csv",)
    input_modes: Sequence[str] = ("File",)
    description: str = ""

    def supports_mode(self, mode: str) -> bool:
        # FastFile looks exactly like File from inside the container.
        return mode in self.input_modes or (mode == "FastFile" and "File" in self.input_modes)


@dataclass(frozen=True)
class Dataset:
    """Features (one row per record) and labels, when the content type carries them."""

    features: np.ndarray
    labels: np.ndarray | None


Reader = Callable[[bytes, MediaType], Dataset]


def _read_csv(body: bytes, media_type: MediaType) -> Dataset:
    table = csv.decode_csv(body)
    label_size = media_type.params.get("label_size", "1")
    if label_size == "0":
        return Dataset(table, None)
    if label_size != "1":
        raise UserError(
            f"Content type {media_type} asks for label_size={label_size}; algoport reads "
            "label_size=1 (label in the first column) or label_size=0 (no label)."
        )
    labels, features = csv.split_label(table)
    return Dataset(features, labels)


READERS: dict[str, Reader] = {"text/csv": _read_csv}


@dataclass(frozen=True)
class Channel:
    """One input channel of a running job."""

    name: str
    path: Path
    content_type: MediaType
    input_mode: str
    distribution: str = "FullyReplicated"
    record_wrapper: str = "None"
    compression: str = "None"

    def files(self) -> list[Path]:
        """Every data file in the channel, sorted, hidden files skipped (File mode)."""
        if self.input_mode not in FILE_MODES:
            raise UserError(
                f"Channel {self.name!r} is in {self.input_mode} mode and has no files; "
                "read it with the channel's epoch iterator."
            )
        if not self.path.is_dir():
            return []
        return sorted(
            p
            for p in self.path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.parts)
        )

    def read(self) -> Dataset:
        """All of the channel's records, decoded by its content type, files in order."""
        reader = READERS.get(self.content_type.essence)
        if reader is None:
            raise UserError(
                f"Channel {self.name!r} has content type {self.content_type.essence!r}, which "
                f"algoport cannot read; readable: {', '.join(sorted(READERS))}."
            )
        files = self.files()
        if not files:
            raise UserError(
                f"Channel {self.name!r} has no data files under {self.path}; check the "
                "channel's S3 prefix."
            )
        parts = []
        for file in files:
            try:
                parts.append(reader(file.read_bytes(), self.content_type))
            except DataError as exc:
                raise DataError(f"Channel {self.name!r}, file {file.name}: {exc}") from None
        widths = {part.features.shape[1] for part in parts}
        if len(widths) > 1:
            raise DataError(
                f"Channel {self.name!r} files have different numbers of columns: "
                f"{sorted(widths)}; every file needs the same columns."
            )
        features = np.concatenate([p.features for p in parts])
        labels = None
        if parts[0].labels is not None:
            labels = np.concatenate([p.labels for p in parts if p.labels is not None])
        return Dataset(features, labels)


def resolve_channels(
    configs: Mapping[str, ChannelConfig],
    specs: Sequence[ChannelSpec] | None,
    paths: ContractPaths,
    algorithm: str,
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
        if spec is not None and media.essence not in spec.content_types:
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
