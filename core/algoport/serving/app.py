"""The HTTP routes of one serving worker: ``/ping``, ``/invocations``, ``/execution-parameters``,
``/metrics``."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from algoport.errors import AlgorithmError, PlatformError, UserError
from algoport.media import (
    Columns,
    Format,
    FormatRegistry,
    Invocation,
    MediaType,
    decoded_size_limit,
    encode_predictions,
)
from algoport.plugins import Algorithm
from algoport.serving import streaming
from algoport.serving.batching import Batcher
from algoport.serving.deadlines import deadline
from algoport.serving.dispatch import Dispatcher
from algoport.serving.failures import (
    DRAIN_FACTOR,
    body_too_slow,
    payload_too_large,
    status_and_message,
)
from algoport.serving.telemetry import ModelMetrics, ServingMetrics
from algoport.settings import REALTIME_PAYLOAD_MB, Settings

log = logging.getLogger("algoport.serve")

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
# As ASGI servers give header names: lower-case bytes.
CUSTOM_ATTRIBUTES_KEY = CUSTOM_ATTRIBUTES.lower().encode()
TARGET_MODEL_KEY = TARGET_MODEL.lower().encode()
INFERENCE_ID_KEY = b"x-amzn-sagemaker-inference-id"


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
        self.metrics: ModelMetrics | None = None

    def load(self, default_accept: str | None = None) -> None:
        """Load the formats and the model; ``default_accept`` must be a type produced.

        A single-model worker calls :func:`freeze_start_up` next; a multi-model endpoint
        does not, since its models come and go.
        """
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
        self.ready.set()
        log.info("model loaded; ready for requests")

    def invoke(
        self, body: bytes, decoder: Format, encoder: Format, invocation: Invocation
    ) -> bytes:
        """Decode, predict, encode: the whole request, in one hand-off (see dispatch.py)."""
        return self.answer(self.decode(body, decoder, invocation), encoder, invocation)

    def decode(self, body: bytes, decoder: Format, invocation: Invocation) -> Any:
        assert decoder.decode is not None
        started = time.perf_counter()
        data = decoder.decode(body, invocation.content_type)
        if self.metrics is not None:
            self.metrics.observe("decode", time.perf_counter() - started)
        return data

    def answer(self, data: Any, encoder: Format, invocation: Invocation) -> bytes:
        """Predict the decoded ``data`` and encode the predictions."""
        return self.encode(self.predict(data, invocation), encoder, invocation)

    def predict(self, data: Any, invocation: Invocation) -> Columns:
        """The algorithm's predictions for decoded ``data``, checked: one row per record."""
        started = time.perf_counter()
        columns = self.algorithm.predict_columns(self.model, data, invocation)
        if self.metrics is not None:
            self.metrics.observe("predict", time.perf_counter() - started)
        return columns

    def encode(self, columns: Columns, encoder: Format, invocation: Invocation) -> bytes:
        started = time.perf_counter()
        payload = encode_predictions(encoder, columns, invocation.accept, self.algorithm.name)
        if self.metrics is not None:
            self.metrics.observe("encode", time.perf_counter() - started)
        return payload


def freeze_start_up() -> None:
    """Move what start-up built, which lives as long as the worker, out of the garbage
    collector's full passes: they took ~45 ms each with scikit-learn loaded and stalled the
    requests of that moment. No collection first: it found nothing to free after loading a
    scikit-learn model, and held the first /ping 200 back by ~35 ms."""
    gc.freeze()


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def new_dispatcher(
    settings: Settings, on_fatal: Callable[[BaseException], None] | None
) -> Dispatcher:
    """The worker's prediction threads; ``on_fatal`` hears when they all hang."""

    def on_stuck(message: str) -> None:
        log.error("%s", message)
        if on_fatal is not None:
            on_fatal(PredictionsStuck(message))

    return Dispatcher(
        settings.predict_threads,
        settings.timeout_seconds,
        settings.inline_predict_ms / 1000,
        on_stuck,
    )


def create_app(
    host: ModelHost,
    settings: Settings,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> ASGIApp:
    """The ASGI app of one worker; the model loads when the app starts.

    ``on_fatal`` hears of what leaves the worker unable to serve: the model failed to load,
    or predictions hang.
    """

    dispatcher = new_dispatcher(settings, on_fatal)
    batcher = Batcher(host, dispatcher, settings)
    metrics = ServingMetrics()
    host.metrics = metrics.model("", host.algorithm.name)
    execution_parameters = json.dumps(
        {
            "MaxConcurrentTransforms": settings.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb or REALTIME_PAYLOAD_MB,
        }
    ).encode()

    def load_in_background() -> None:
        try:
            host.load(settings.default_accept)
            freeze_start_up()
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

    async def get_metrics(request: Request) -> Response:
        return metrics_response(metrics)

    invocations = InvocationsEndpoint(host, settings, dispatcher, batcher)

    routed = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            # What boto3's invoke_endpoint sends when pointed at this server (endpoint_url).
            Route("/endpoints/{endpoint}/invocations", invocations, methods=["POST"]),
            Route("/execution-parameters", get_execution_parameters, methods=["GET"]),
            Route("/metrics", get_metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return InvocationsFirst(routed, invocations)


class InvocationsFirst:
    """Hands ``POST /invocations`` straight to its endpoint, everything else to ``routed``.

    Starlette's middleware and router, and its wrapping of a function endpoint in exception
    handling and a Request, cost ~15 µs of a 1-row request whose whole cost is ~180 µs of
    CPU (``bench/inprocess.py``); the endpoint answers every failure itself.
    """

    def __init__(self, routed: ASGIApp, invocations: ASGIApp) -> None:
        self.routed = routed
        self.invocations = invocations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        invocation = scope["type"] == "http" and scope["path"] == "/invocations"
        if invocation and scope["method"] == "POST":
            await self.invocations(scope, receive, send)
        else:
            await self.routed(scope, receive, send)


class InvocationsEndpoint:
    """``POST /invocations`` of a single-model worker, as a bare ASGI app."""

    def __init__(
        self, host: ModelHost, settings: Settings, dispatcher: Dispatcher, batcher: Batcher
    ) -> None:
        self.host = host
        self.settings = settings
        self.dispatcher = dispatcher
        self.batcher = batcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if self.host.ready.is_set():
            request = Request(scope, receive)
            response = await answer_invocation(
                request, self.host, self.settings, self.dispatcher, self.batcher
            )
        else:
            response = error_response(
                503, "The model is still loading; retry once /ping answers 200."
            )
        await response(scope, receive, send)


async def answer_invocation(
    request: Request,
    host: ModelHost,
    settings: Settings,
    dispatcher: Dispatcher,
    batcher: Batcher | None = None,
) -> Response:
    """The answer to an invocation of ``host``'s loaded model; every failure a JSON error.

    ``/invocations`` and a multi-model endpoint's ``/models/<name>/invoke`` both answer here.
    """
    response = await _answer(request, host, settings, dispatcher, batcher)
    if host.metrics is not None:
        host.metrics.count(response.status_code)
    return response


def metrics_response(metrics: ServingMetrics) -> Response:
    body, content_type = metrics.exposition()
    return Response(body, headers={"Content-Type": content_type})


async def _answer(
    request: Request,
    host: ModelHost,
    settings: Settings,
    dispatcher: Dispatcher,
    batcher: Batcher | None,
) -> Response:
    try:
        return await _invoke(request, host, settings, dispatcher, batcher)
    except Exception as exc:
        status, message = status_and_message(exc, settings)
        return _failed(request, status, message, None if isinstance(exc, TimeoutError) else exc)


def _failed(
    request: Request, status: int, message: str, exc: BaseException | None = None
) -> Response:
    if status >= 500:
        log.error("POST %s %d: %s", request.url.path, status, message, exc_info=exc)
    else:
        log.warning("POST %s %d: %s", request.url.path, status, message)
    return error_response(status, message)


async def _invoke(
    request: Request,
    host: ModelHost,
    settings: Settings,
    dispatcher: Dispatcher,
    batcher: Batcher | None,
) -> Response:
    headers = _request_headers(request)
    framing = _framing(headers, host, settings)
    if framing is None:
        body = await read_body(request, headers.get(b"content-length"), settings)
        if not body:
            raise UserError("The request body is empty; send one or more records.")
    formats = host.formats
    assert formats is not None  # set before ready
    decoder, content_type = formats.decoder(_text(headers.get(b"content-type")))
    encoder, accept = formats.encoder(_text(headers.get(b"accept")), settings.default_accept)
    invocation = Invocation(
        content_type=content_type,
        accept=accept,
        custom_attributes=_text(headers.get(CUSTOM_ATTRIBUTES_KEY)),
        target_model=_text(headers.get(TARGET_MODEL_KEY)),
        inference_id=_text(headers.get(INFERENCE_ID_KEY)),
    )

    if framing is not None:
        answers = streaming.ChunkAnswers(host, decoder, encoder, invocation, settings)
        payload = await streaming.respond(request, framing, answers, dispatcher, settings)
    else:

        def invoke() -> bytes:
            with decoded_size_limit(settings.max_decoded_bytes):
                return host.invoke(body, decoder, encoder, invocation)

        if batcher is not None and batcher.enabled:
            payload = await batcher.invoke(body, decoder, encoder, invocation)
        else:
            payload = await dispatcher.run(invoke, len(body))
    if isinstance(payload, streaming.Streamed):
        response_headers = {}
        if invocation.response_custom_attributes is not None:
            response_headers[CUSTOM_ATTRIBUTES] = invocation.response_custom_attributes
        return streaming.StreamedReply(payload, accept.essence, response_headers)
    raw_headers = [
        (b"content-length", b"%d" % len(payload)),
        (b"content-type", _content_type_header(accept.essence)),
    ]
    if invocation.response_custom_attributes is not None:
        raw_headers.append(
            (CUSTOM_ATTRIBUTES_KEY, invocation.response_custom_attributes.encode("latin-1"))
        )
    return Reply(payload, raw_headers)


class Reply(Response):
    """A 200 with its whole body, its headers given ready-made (``Response`` builds them from
    a mapping, some µs of a 1-row request)."""

    def __init__(self, body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


@functools.cache
def _content_type_header(essence: str) -> bytes:
    """What Starlette's ``Response(media_type=essence)`` sends as Content-Type."""
    if essence.startswith("text/"):
        essence += "; charset=utf-8"
    return essence.encode("latin-1")


def _request_headers(request: Request) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name; the first of a repeated one, as Starlette's
    ``Headers.get``, in one pass instead of a scan per header read."""
    headers: dict[bytes, bytes] = {}
    for name, value in request.scope["headers"]:
        headers.setdefault(name, value)
    return headers


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _framing(
    headers: dict[bytes, bytes], host: ModelHost, settings: Settings
) -> streaming.Framing | None:
    """How to cut the request into chunks, or None for the whole-body path."""
    declared = headers.get(b"content-length", b"")
    if (
        not settings.stream_chunk_bytes
        or not host.independent_rows
        # A body of known size within one chunk takes the whole-body path (and batching).
        or (
            declared.isdigit()
            and not settings.stream_chunk_bytes < int(declared) <= settings.max_payload_bytes
        )
    ):
        return None
    formats = host.formats
    assert formats is not None
    try:
        decoder, _ = formats.decoder(_text(headers.get(b"content-type")))
        encoder, _ = formats.encoder(_text(headers.get(b"accept")), settings.default_accept)
    except UserError:
        return None  # refused after the body is read, as every other request
    return streaming.framing_of(decoder, encoder)


async def read_body(request: Request, declared: bytes | None, settings: Settings) -> bytes:
    """The request body; PayloadTooLarge past the size limit, BodyTooSlow past the time limit.

    ``declared`` is the Content-Length header, if any.
    """
    limit = settings.max_payload_bytes
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline(settings.body_timeout_seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    too_large = True
                if not too_large:
                    chunks.append(chunk)
                elif size > DRAIN_FACTOR * limit:
                    break
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise body_too_slow(settings, size) from None
    if too_large:
        shown = (
            f"{declared.decode()} bytes"
            if declared is not None and declared.isdigit()
            else f"more than {limit} bytes"
        )
        raise payload_too_large(settings, shown)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


__all__ = ["MediaType", "ModelHost", "create_app"]
