"""The models a multi-model endpoint has loaded: one directory that every worker reads.

A worker that loads a model (``POST /models``) writes one entry here, created exclusively,
so of two concurrent loads of one name exactly one wins; ``DELETE`` removes it. Every
worker checks the entry before each invoke, so what one worker was told holds in all of
them from the next request on. An entry's identity (inode and modification time) tells a
worker that the model it holds was deleted and loaded again under the same name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

Generation = tuple[int, int]


@dataclass(frozen=True)
class Registration:
    """A loaded model: its name, directory, algorithm, and the memory one worker holds for it."""

    name: str
    url: str
    algorithm: str
    footprint_bytes: int


class ModelRegistry:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def temporary(cls) -> ModelRegistry:
        return cls(Path(tempfile.mkdtemp(prefix="algoport-models-")))

    def remove_all(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _entry(self, name: str) -> Path:
        # Names are opaque and up to 1024 characters; file names are neither.
        return self.directory / (hashlib.sha256(name.encode()).hexdigest() + ".json")

    def add(self, registration: Registration) -> Generation | None:
        """Register a model; None if its name is already registered."""
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(registration), handle)
            try:
                os.link(temporary, self._entry(registration.name))  # fails if it exists
            except FileExistsError:
                return None
        finally:
            os.unlink(temporary)
        return self.generation(registration.name)

    def remove(self, name: str) -> bool:
        try:
            self._entry(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def generation(self, name: str) -> Generation | None:
        """The identity of ``name``'s registration, None if it has none (one stat call)."""
        try:
            stat = self._entry(name).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def get(self, name: str) -> tuple[Registration, Generation] | None:
        entry = self._entry(name)
        try:
            with entry.open(encoding="utf-8") as handle:
                stat = os.fstat(handle.fileno())
                registration = Registration(**json.load(handle))
        except FileNotFoundError:
            return None
        return registration, (stat.st_ino, stat.st_mtime_ns)

    def all(self) -> list[Registration]:
        """Every registration, by name."""
        found = []
        for entry in self.directory.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                found.append(Registration(**json.loads(entry.read_text(encoding="utf-8"))))
        return sorted(found, key=lambda registration: registration.name)

    def version(self) -> int:
        """Changes whenever a model is registered or removed."""
        return os.stat(self.directory).st_mtime_ns
