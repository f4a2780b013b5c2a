"""The three kinds of failure, and how each reaches a person.

Every error algoport raises on purpose is one of these. In training the kind becomes the
first words of ``/opt/ml/output/failure`` and picks the exit code; in serving it picks the
HTTP status. A message states the key fact first, then what was expected and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence


class AlgoportError(Exception):
    """Base of every error algoport raises on purpose."""

    kind = "error"
    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def __str__(self) -> str:
        return self.message


class UserError(AlgoportError):
    """The job's input is wrong: hyperparameters, channels, data, a request body.

    The person who started the job can fix it without touching the algorithm.
    """

    kind = "user error"
    exit_code = 2
    http_status = 400


class DataError(UserError):
    """Data does not parse as its content type says (a request body or a channel file)."""


class AlgorithmError(AlgoportError):
    """The algorithm plugin failed or broke its contract with the core."""

    kind = "algorithm error"
    exit_code = 1
    http_status = 500


class PlatformError(AlgoportError):
    """The container's surroundings are wrong: missing paths, broken installs, bad config."""

    kind = "platform error"
    exit_code = 3
    http_status = 500


class PluginError(PlatformError):
    """A plugin cannot be found, imported or registered."""
