"""What ``algoport check`` found: a :class:`Check` per rule, in one :class:`CheckResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# A passing check's reason is evidence, cut to a line; a failure's is shown whole.
PASSED_REASON_CHARS = 100


@dataclass(frozen=True)
class Check:
    """One rule of the contract and how the algorithm fared: passed, failed or skipped."""

    name: str
    outcome: str
    reason: str = ""


@dataclass
class CheckResult:
    """Every check of one algorithm; ``failed`` is empty when the algorithm conforms."""

    algorithm: str
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.outcome == FAILED]

    def record(self, name: str, problem: str | None, done: str = "") -> bool:
        """Record a check: failed with ``problem`` when there is one, else passed."""
        self.checks.append(Check(name, FAILED, problem) if problem else Check(name, PASSED, done))
        return not problem

    def skip(self, name: str, reason: str) -> None:
        self.checks.append(Check(name, SKIPPED, reason))

    def report(self) -> str:
        """The checks as a table, then a one-line verdict."""
        width = max((len(check.name) for check in self.checks), default=0)
        lines = [f"{'check'.ljust(width)}  result   reason"]
        lines += [
            f"{c.name.ljust(width)}  {c.outcome.ljust(7)}  {_shown_reason(c)}".rstrip()
            for c in self.checks
        ]
        failed = len(self.failed)
        verdict = "passes every check" if not failed else f"fails {failed} of {len(self.checks)}"
        return "\n".join([*lines, f"algorithm {self.algorithm!r} {verdict}"])

    def __str__(self) -> str:
        return self.report()


def _shown_reason(check: Check) -> str:
    reason = " ".join(check.reason.split())
    if check.outcome == PASSED and len(reason) > PASSED_REASON_CHARS:
        return reason[: PASSED_REASON_CHARS - 1] + "…"
    return reason
