"""algoport: the SageMaker container contract as a runtime; algorithms are plugins.

The names here are the public API for plugin authors; ``algoport.hookspecs`` documents
the hooks. They are imported on first use, so ``import algoport`` stays cheap and the
console scripts can report a broken installation instead of dying on import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from algoport.version import __version__

if TYPE_CHECKING:
    from algoport import hp
    from algoport.channels import Channel, ChannelSpec, Dataset
    from algoport.codecs import Codec, ContentTypes, Invocation, MediaType
    from algoport.errors import AlgorithmError, DataError, PlatformError, UserError
    from algoport.files import atomic_write
    from algoport.hookspecs import hookimpl
    from algoport.metrics import Metric
    from algoport.training import TrainingJob

_HOMES = {
    "AlgorithmError": "algoport.errors",
    "Channel": "algoport.channels",
    "ChannelSpec": "algoport.channels",
    "Codec": "algoport.codecs",
    "ContentTypes": "algoport.codecs",
    "DataError": "algoport.errors",
    "Dataset": "algoport.channels",
    "Invocation": "algoport.codecs",
    "MediaType": "algoport.codecs",
    "Metric": "algoport.metrics",
    "PlatformError": "algoport.errors",
    "TrainingJob": "algoport.training",
    "UserError": "algoport.errors",
    "atomic_write": "algoport.files",
    "hookimpl": "algoport.hookspecs",
}

__all__ = [
    "AlgorithmError",
    "Channel",
    "ChannelSpec",
    "Codec",
    "ContentTypes",
    "DataError",
    "Dataset",
    "Invocation",
    "MediaType",
    "Metric",
    "PlatformError",
    "TrainingJob",
    "UserError",
    "__version__",
    "atomic_write",
    "hookimpl",
    "hp",
]


def __getattr__(name: str) -> Any:
    if name == "hp":
        return importlib.import_module("algoport.hp")
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'algoport' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
