"""What the hosts training one model do together: agree, sum, share a checkpoint.

Every host calls the same operations in the same order; with one host each is the identity.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from xgboost import collective


class Peers(Protocol):
    """The hosts training one model; on one host every operation is the identity."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    def any(self, flag: bool) -> bool:
        """True on every host when it is true on any host."""
        ...

    def max(self, value: int) -> int: ...

    def min(self, value: int) -> int: ...

    def sum(self, value: int) -> int: ...

    def share(self, payload: bytes | None) -> bytes | None:
        """Rank 0's payload, on every host (the others pass None)."""
        ...


class LoneHost:
    """A job on one host."""

    rank = 0
    size = 1

    def any(self, flag: bool) -> bool:
        return flag

    def max(self, value: int) -> int:
        return value

    def min(self, value: int) -> int:
        return value

    def sum(self, value: int) -> int:
        return value

    def share(self, payload: bytes | None) -> bytes | None:
        return payload


LONE_HOST = LoneHost()


class Collective:
    """The hosts of a joined XGBoost collective; every host must call each method in turn."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank = rank
        self.size = size

    def _reduce(self, value: int, op: collective.Op) -> int:
        return int(collective.allreduce(np.array([value], dtype=np.int64), op)[0])

    def any(self, flag: bool) -> bool:
        return self._reduce(int(flag), collective.Op.MAX) > 0

    def max(self, value: int) -> int:
        return self._reduce(value, collective.Op.MAX)

    def min(self, value: int) -> int:
        return self._reduce(value, collective.Op.MIN)

    def sum(self, value: int) -> int:
        return self._reduce(value, collective.Op.SUM)

    def share(self, payload: bytes | None) -> bytes | None:
        # A sum in which only rank 0 adds anything, rather than collective.broadcast, which
        # unpickles what it receives.
        mine = payload if self.rank == 0 else None
        length = self.max(-1 if mine is None else len(mine))
        if length < 0:
            return None
        buffer = np.zeros(length, dtype=np.uint8)
        if mine is not None:
            buffer[:] = np.frombuffer(mine, dtype=np.uint8)
        return bytes(collective.allreduce(buffer, collective.Op.SUM))
