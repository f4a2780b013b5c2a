"""Logging for people: one format, the level from ``SAGEMAKER_CONTAINER_LOG_LEVEL``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

LEVEL_VARIABLE = "SAGEMAKER_CONTAINER_LOG_LEVEL"


def log_level(environ: Mapping[str, str] | None = None) -> int:
    """SageMaker passes a number (20) or, from some tools, a name (INFO)."""
    raw = (os.environ if environ is None else environ).get(LEVEL_VARIABLE, "").strip()
    if not raw:
        return logging.INFO
    if raw.isdigit():
        return int(raw)
    level = logging.getLevelName(raw.upper())
    return level if isinstance(level, int) else logging.INFO


def setup_logging(environ: Mapping[str, str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level(environ))
