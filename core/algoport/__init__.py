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
    from algoport.channels import Channel, ChannelSpec
    from algoport.codecs import ContentTypes, Dataset, Format, Invocation, MediaType
    from algoport.contract import ResourceConfig
    from algoport.errors import AlgorithmError, DataError, PlatformError, UserError
    from algoport.files import atomic_write
    from algoport.hookspecs import hookimpl
    from algoport.metrics import Metric
    from algoport.training import TrainingJob

_HOMES = {
    "AlgorithmError": "algoport.errors",
    "Channel": "algoport.channels",
    "ChannelSpec": "algoport.channels",
    "ContentTypes": "algoport.codecs",
    "DataError": "algoport.errors",
    "Dataset": "algoport.codecs",
    "Format": "algoport.codecs",
    "Invocation": "algoport.codecs",
    "MediaType": "algoport.codecs",
    "Metric": "algoport.metrics",
    "PlatformError": "algoport.errors",
    "ResourceConfig": "algoport.contract",
    "TrainingJob": "algoport.training",
    "UserError": "algoport.errors",
    "atomic_write": "algoport.files",
    "hookimpl": "algoport.hookspecs",
}

__all__ = [
    "AlgorithmError",
    "Channel",
    "ChannelSpec",
    "ContentTypes",
    "DataError",
    "Dataset",
    "Format",
    "Invocation",
    "MediaType",
    "Metric",
    "PlatformError",
    "ResourceConfig",
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
