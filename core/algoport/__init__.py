"""algoport: the SageMaker container contract as a runtime; algorithms are plugins.

The names here are the public API for plugin authors; ``algoport.hookspecs`` documents
the hooks.
"""

from algoport import hp
from algoport.channels import Channel, ChannelSpec, Dataset
from algoport.codecs import Codec, ContentTypes, Invocation, MediaType
from algoport.errors import AlgorithmError, DataError, PlatformError, UserError
from algoport.files import atomic_write
from algoport.hookspecs import hookimpl
from algoport.metrics import Metric
from algoport.training import TrainingJob
from algoport.version import __version__

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
