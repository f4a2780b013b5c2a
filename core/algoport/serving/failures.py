"""What a request can fail with beyond the algorithm's own errors, and the status and
message each failure is answered with (a JSON error body, or a streamed reply's ERROR line)."""

from __future__ import annotations

from algoport.errors import AlgoportError, UserError
from algoport.settings import Settings

# How much of an oversized body is read and dropped so the client sees the 413, rather
# than a connection reset while it is still sending.
DRAIN_FACTOR = 4


class PayloadTooLarge(UserError):
    http_status = 413


class BodyTooSlow(UserError):
    http_status = 408


def payload_too_large(settings: Settings, shown: str) -> PayloadTooLarge:
    """The body (``shown``: its size) is larger than the payload limit."""
    limit = settings.max_payload_bytes
    source = (
        "SAGEMAKER_MAX_PAYLOAD_IN_MB"
        if settings.max_payload_mb is not None
        else "asynchronous inference's limit, SAGEMAKER_MAX_PAYLOAD_IN_MB unset"
    )
    return PayloadTooLarge(
        f"The request body has {shown}; the limit is {settings.payload_limit_mb} MB "
        f"({limit} bytes, {source}). Split it into smaller requests."
    )


def body_too_slow(settings: Settings, received: int, what: str = "The request body") -> BodyTooSlow:
    return BodyTooSlow(
        f"{what} did not arrive within {settings.body_timeout_seconds:g} s "
        f"(ALGOPORT_BODY_TIMEOUT_SECONDS); {received} bytes came. Send the whole body at once."
    )


def status_and_message(exc: Exception, settings: Settings) -> tuple[int, str]:
    """The HTTP status and the message a request that raised ``exc`` is answered with."""
    if isinstance(exc, AlgoportError):
        return exc.http_status, exc.message
    if isinstance(exc, TimeoutError):
        return (
            504,
            f"predict took longer than {settings.timeout_seconds} s "
            "(SAGEMAKER_MODEL_SERVER_TIMEOUT); send fewer records per request.",
        )
    return 500, f"Unexpected error while serving the request: {type(exc).__name__}: {exc}"
