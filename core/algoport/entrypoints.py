"""The ``train`` and ``serve`` commands SageMaker runs by name, kept algoport's.

A console script belongs to whichever distribution pip installed last. Ray declares a
``serve`` of its own (Ray Serve's CLI, in the ``ray`` distribution itself, whatever its
extras), so installing Ray after algoport, e.g. ``pip install 'algoport[ray]'`` into an
environment that has algoport already, makes ``serve`` start Ray Serve. Only a single
pip run that installs algoport itself after Ray leaves algoport's in place; nothing at
install time can undo a later ``pip install -U ray``. So algoport checks its scripts when
it runs (``algoport plugins``, ``algoport batch``) and ``algoport install-entrypoints``
writes them again. In the image, ``ENTRYPOINT ["algoport"]`` runs ``algoport serve``
whatever ``serve`` on the PATH is.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from algoport.errors import UserError
from algoport.files import atomic_write_text

# Command name → the function in algoport.cli it runs.
ENTRYPOINTS = {"train": "train_entrypoint", "serve": "serve_entrypoint"}
FIX = "algoport install-entrypoints"


def scripts_dir() -> Path:
    """Where pip puts this environment's console scripts (``<venv>/bin``)."""
    return Path(sysconfig.get_path("scripts"))


def _import_line(function: str) -> str:
    return f"from algoport.cli import {function}"


def launcher(function: str) -> str:
    """A console script as pip writes one, running ``algoport.cli.<function>``."""
    return (
        f"#!{sys.executable}\n"
        "import sys\n"
        f"{_import_line(function)}\n"
        "if __name__ == '__main__':\n"
        f"    sys.exit({function}())\n"
    )


def _owner(name: str, text: str) -> str:
    """Which installed distribution wrote the script ``name``, told by what it imports."""
    for entry_point in metadata.entry_points(group="console_scripts", name=name):
        module, _, attribute = entry_point.value.partition(":")
        if f"from {module} import {attribute.split('.')[0]}" in text and entry_point.dist:
            return f"{entry_point.dist.metadata['Name']}'s ({entry_point.value})"
    return "another program's"


def problems(directory: Path | None = None) -> list[str]:
    """What is wrong with ``train`` and ``serve`` here, one sentence each; empty when fine."""
    directory = directory or scripts_dir()
    found = []
    for name, function in ENTRYPOINTS.items():
        path = directory / name
        if not path.is_file():
            found.append(f"`{name}` is missing from {directory}.")
            continue
        text = path.read_text(errors="replace")
        if _import_line(function) not in text:
            found.append(f"`{name}` in {directory} is {_owner(name, text)}, not algoport's.")
    return found


def warning(directory: Path | None = None) -> str | None:
    """One message for people, naming the fix, when ``train`` or ``serve`` is not algoport's."""
    found = problems(directory)
    if not found:
        return None
    return (
        f"{' '.join(found)} SageMaker runs `train` and `serve` by name; run `{FIX}` to "
        "write algoport's again (installing Ray after algoport replaces `serve`)."
    )


def install(directory: Path | None = None) -> list[str]:
    """Write algoport's ``train`` and ``serve`` where they are not; the names written."""
    if os.name != "posix":
        raise UserError(f"{FIX} writes POSIX scripts; SageMaker runs them on Linux.")
    directory = directory or scripts_dir()
    written = []
    for name, function in ENTRYPOINTS.items():
        path = directory / name
        if path.is_file() and _import_line(function) in path.read_text(errors="replace"):
            continue
        atomic_write_text(path, launcher(function))
        path.chmod(0o755)
        written.append(name)
    return written
