"""XGBoost's errors, made readable for the person who started the job."""

from __future__ import annotations


def xgboost_message(error: BaseException) -> str:
    """XGBoost's message without its time stamp, source location and C++ stack trace."""
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    first = lines[0]
    location, sep, message = first.partition(": ")
    if sep and first.startswith("[") and "/" in location:
        return message
    return first
