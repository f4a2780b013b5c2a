"""The HTTP routes of one serving worker: ``/ping``, ``/invocations``, ``/execution-parameters``."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from algoport.errors import AlgoportError, AlgorithmError, DataError, PlatformError, UserError
from algoport.media import (
    Columns,
    Format,
    FormatRegistry,
    Invocation,
    MediaType,
    decoded_size_limit,
    prediction_columns,
    record_count,
)
from algoport.plugins import Algorithm
from algoport.serving.batching import Batcher
from algoport.serving.deadlines import deadline
from algoport.serving.dispatch import Dispatcher
from algoport.settings import Settings

log = logging.getLogger("algoport.serve")

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


class PayloadTooLarge(UserError):
    http_status = 413


class BodyTooSlow(UserError):
    http_status = 408


class PredictionsStuck(AlgorithmError):
    """Every prediction thread is busy with requests long past the timeout."""


class ModelHost:
    """One algorithm's model, loaded in the background so the server answers at once."""

    def __init__(self, algorithm: Algorithm, model_dir: Path) -> None:
        self.algorithm = algorithm
        self.model_dir = model_dir
        self.model: Any = None
        self.formats: FormatRegistry | None = None
        # Whether requests may be predicted together (see batching.py).
        self.independent_rows = False
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def load(self, default_accept: str | None = None) -> None:
        """Load the formats and the model; ``default_accept`` must be a type produced."""
        log.info("loading model from %s with algorithm %r", self.model_dir, self.algorithm.name)
        try:
            # A format clash or an unproducible default must fail start-up, not a request.
            self.formats = self.algorithm.formats()
            self.formats.default_answer(default_accept)
            self.independent_rows = self.algorithm.capabilities.independent_rows
            self.model = self.algorithm.load(self.model_dir)
        except BaseException as exc:
            self.error = exc
            raise
        # What start-up built lives as long as the worker: out of the collector's full
        # passes, which took ~45 ms each with scikit-learn loaded and stalled the requests
        # of that moment.
        gc.collect()
        gc.freeze()
        self.ready.set()
        log.info("model loaded; ready for requests")

    def invoke(
        self, body: bytes, decoder: Format, encoder: Format, invocation: Invocation
    ) -> bytes:
        """Decode, predict, encode: the whole request, in one hand-off (see dispatch.py)."""
        assert decoder.decode is not None
        data = decoder.decode(body, invocation.content_type)
        return self.encode(self.predict(data, invocation), encoder, invocation)

    def predict(self, data: Any, invocation: Invocation) -> Columns:
        """The algorithm's predictions for decoded ``data``, checked: one row per record."""
        try:
            result = self.algorithm.predict(self.model, data, invocation)
        except AlgoportError:
            raise
        except Exception as exc:
            raise AlgorithmError(
                f"Algorithm {self.algorithm.name!r} failed in predict: {type(exc).__name__}: {exc}"
            ) from exc
        return prediction_columns(result, record_count(data))

    def encode(self, columns: Columns, encoder: Format, invocation: Invocation) -> bytes:
        assert encoder.encode is not None
        try:
            return encoder.encode(columns, invocation.accept)
        except DataError as exc:
            # The columns are the algorithm's output, not the client's data.
            raise AlgorithmError(
                f"Algorithm {self.algorithm.name!r} returned predictions that "
                f"{invocation.accept.essence} cannot hold: {exc.message}"
            ) from exc


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(
    host: ModelHost,
    settings: Settings,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> Starlette:
    """The Starlette app of one worker; the model loads when the app starts.

    ``on_fatal`` hears of what leaves the worker unable to serve: the model failed to load,
    or predictions hang.
    """

    def on_stuck(message: str) -> None:
        log.error("%s", message)
        if on_fatal is not None:
            on_fatal(PredictionsStuck(message))

    dispatcher = Dispatcher(
        settings.predict_threads,
        settings.timeout_seconds,
        settings.inline_predict_ms / 1000,
        on_stuck,
    )
    batcher = Batcher(host, dispatcher, settings)
    execution_parameters = json.dumps(
        {
            "MaxConcurrentTransforms": settings.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb,
        }
    ).encode()

    def load_in_background() -> None:
        try:
            host.load(settings.default_accept)
        except BaseException as exc:
            if isinstance(exc, PlatformError | UserError):  # configuration: no traceback
                log.error("cannot serve: %s: %s", exc.kind, exc)
            else:
                log.error("loading the model failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
            if on_fatal is not None:
                on_fatal(exc)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not host.ready.is_set():  # a replacement worker loads before it serves
            threading.Thread(target=load_in_background, name="load-model", daemon=True).start()
        yield
        dispatcher.shutdown()

    async def ping(request: Request) -> Response:
        if host.ready.is_set():
            return Response(status_code=200)
        return Response(status_code=503)

    async def get_execution_parameters(request: Request) -> Response:
        return Response(execution_parameters, media_type="application/json")

    async def invocations(request: Request) -> Response:
        try:
            return await _invoke(request)
        except AlgoportError as exc:
            return _failed(exc.http_status, exc.message, exc)
        except TimeoutError:
            return _failed(
                504,
                f"predict took longer than {settings.timeout_seconds} s "
                "(SAGEMAKER_MODEL_SERVER_TIMEOUT); send fewer records per request.",
            )
        except Exception as exc:
            message = f"Unexpected error while serving the request: {type(exc).__name__}: {exc}"
            return _failed(500, message, exc)

    def _failed(status: int, message: str, exc: BaseException | None = None) -> Response:
        if status >= 500:
            log.error("POST /invocations %d: %s", status, message, exc_info=exc)
        else:
            log.warning("POST /invocations %d: %s", status, message)
        return error_response(status, message)

    async def _invoke(request: Request) -> Response:
        if not host.ready.is_set():
            return error_response(503, "The model is still loading; retry once /ping answers 200.")
        headers = request.headers
        body = await read_body(request, settings)
        if not body:
            raise UserError("The request body is empty; send one or more records.")
        formats = host.formats
        assert formats is not None  # set before ready
        decoder, content_type = formats.decoder(headers.get("content-type"))
        encoder, accept = formats.encoder(headers.get("accept"), settings.default_accept)
        invocation = Invocation(
            content_type=content_type,
            accept=accept,
            custom_attributes=headers.get(CUSTOM_ATTRIBUTES),
            target_model=headers.get("x-amzn-sagemaker-target-model"),
            inference_id=headers.get("x-amzn-sagemaker-inference-id"),
        )

        def invoke() -> bytes:
            with decoded_size_limit(settings.max_decoded_bytes):
                return host.invoke(body, decoder, encoder, invocation)

        if batcher.enabled:
            payload = await batcher.invoke(body, decoder, encoder, invocation)
        else:
            payload = await dispatcher.run(invoke, len(body))
        response_headers = {}
        if invocation.response_custom_attributes is not None:
            response_headers[CUSTOM_ATTRIBUTES] = invocation.response_custom_attributes
        return Response(payload, media_type=accept.essence, headers=response_headers)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/execution-parameters", get_execution_parameters, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


# How much of an oversized body is read and dropped so the client sees the 413, rather
# than a connection reset while it is still sending.
DRAIN_FACTOR = 4


async def read_body(request: Request, settings: Settings) -> bytes:
    """The request body; PayloadTooLarge past the size limit, BodyTooSlow past the time limit."""
    limit = settings.max_payload_bytes
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline(settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    too_large = True
                if not too_large:
                    chunks.append(chunk)
                elif size > DRAIN_FACTOR * limit:
                    break
    except TimeoutError:
        raise BodyTooSlow(
            f"The request body did not arrive within {settings.body_timeout_seconds:g} s "
            f"(ALGOPORT_BODY_TIMEOUT_SECONDS); {size} bytes came. Send the whole body at once."
        ) from None
    if too_large:
        shown = f"{declared} bytes" if declared.isdigit() else f"more than {limit} bytes"
        raise PayloadTooLarge(
            f"The request body has {shown}; the limit is {settings.max_payload_mb} MB "
            f"({limit} bytes, SAGEMAKER_MAX_PAYLOAD_IN_MB). Split it into smaller requests."
        )
    return b"".join(chunks)


__all__ = ["MediaType", "ModelHost", "create_app"]
