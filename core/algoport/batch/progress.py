"""Records predicted and records per second, on stderr, at most every few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO

EVERY_SECONDS = 2.0


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, every: float = EVERY_SECONDS) -> None:
        self.stream = stream
        self.every = every
        self.started = time.monotonic()
        self.shown = self.started
        self.records = 0

    def add(self, records: int) -> None:
        self.records += records
        now = time.monotonic()
        if now - self.shown >= self.every:
            self.shown = now
            self._print(f"{self.records} records, {self._rate(now):.0f} records/s")

    def note(self, text: str) -> None:
        self._print(text)

    def done(self, files: int, output: str) -> None:
        now = time.monotonic()
        self._print(
            f"{self.records} records of {files} file(s) in {now - self.started:.1f} s "
            f"({self._rate(now):.0f} records/s) → {output}"
        )

    def _rate(self, now: float) -> float:
        return self.records / max(now - self.started, 1e-9)

    def _print(self, text: str) -> None:
        print(f"algoport batch: {text}", file=self.stream, flush=True)
