"""algoport: the SageMaker container contract as a runtime; algorithms are plugins.

The names here are the public API for plugin authors; ``algoport.hookspecs`` documents
the hooks. They are imported on first use, so ``import algoport`` stays cheap and the
console scripts can report a broken installation instead of dying on import.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from algoport.version import __version__ as __version__

# The public API, and the only list of it: type checkers read these imports; at run time
# each name is imported from its home on first use (see __getattr__).
if TYPE_CHECKING:
    from algoport import hp as hp
    from algoport.capabilities import Capabilities as Capabilities
    from algoport.channels import Channel as Channel
    from algoport.channels import ChannelSpec as ChannelSpec
    from algoport.channels import Epoch as Epoch
    from algoport.contract import ResourceConfig as ResourceConfig
    from algoport.errors import AlgorithmError as AlgorithmError
    from algoport.errors import DataError as DataError
    from algoport.errors import PlatformError as PlatformError
    from algoport.errors import UserError as UserError
    from algoport.files import atomic_write as atomic_write
    from algoport.hookspecs import hookimpl as hookimpl
    from algoport.media import ContentTypes as ContentTypes
    from algoport.media import Dataset as Dataset
    from algoport.media import Format as Format
    from algoport.media import Invocation as Invocation
    from algoport.media import MediaType as MediaType
    from algoport.media import check_decoded_size as check_decoded_size
    from algoport.metrics import Metric as Metric
    from algoport.settings import Variable as Variable
    from algoport.training import TrainingJob as TrainingJob


@functools.cache
def _public_homes() -> dict[str, str]:
    """Public name → the module it comes from, read from the imports above."""
    import ast

    with open(__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    )
    return {
        alias.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return sorted([*_public_homes(), "__version__"])
    home = _public_homes().get(name)
    if home is None:
        raise AttributeError(f"module 'algoport' has no attribute {name!r}")
    value = (
        importlib.import_module(f"{home}.{name}")
        if home == __name__
        else getattr(importlib.import_module(home), name)
    )
    globals()[name] = value
    return value
