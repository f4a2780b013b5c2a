"""A multi-model endpoint: SageMaker's ``/models`` API, and the models one worker holds.

How a load reaches every worker: the worker that takes ``POST /models`` loads the model
itself, and registers it only once that worked (see ``model_registry.py``); the 200 means
the model loads. Every other worker loads it from the registration on the first invoke
that reaches it, so any worker answers any invoke after the 200. ``DELETE`` removes the
registration: every worker checks it before each invoke (one ``stat``), so a deleted model
is a 404 everywhere from then on; each worker frees its copy on its next request, or
within a second.

Memory: each worker may hold ``ALGOPORT_MODEL_MEMORY_MB / workers`` of models. A model's
footprint is the growth of the loading worker's resident memory (at least its size on
disk). A load that would pass a worker's share first unloads that worker's least recently
used models; they stay registered and load again on their next invoke, as SageMaker's
unloaded models stay on disk. A model larger than a whole share is a 507.

Loads run on their own thread, one at a time per worker (so each footprint is measured
alone); invokes of models already held never wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from algoport.errors import AlgoportError, UserError
from algoport.local.artifacts import extract_model
from algoport.manifest import Manifest
from algoport.memory import directory_bytes, resident_bytes
from algoport.plugins import (
    ALGORITHMS_GROUP,
    EXTENSIONS_GROUP,
    Algorithm,
    discover,
    load_algorithm,
    select_algorithm,
)
from algoport.serving.app import (
    TARGET_MODEL,
    ModelHost,
    answer_invocation,
    error_response,
    metrics_response,
    new_dispatcher,
)
from algoport.serving.model_registry import Generation, ModelRegistry, Registration
from algoport.serving.telemetry import ServingMetrics
from algoport.settings import MB, Settings

log = logging.getLogger("algoport.serve")

FORBIDDEN_ROOTS = ("/dev", "/proc", "/sys")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
SWEEP_SECONDS = 1.0


class ModelNotLoaded(UserError):
    http_status = 404


class ModelAlreadyLoaded(UserError):
    http_status = 409


class OutOfModelMemory(AlgoportError):
    kind = "out of memory"
    http_status = 507


@dataclass
class Resident:
    """A model one worker holds in memory, and which registration it was loaded from."""

    host: ModelHost
    registration: Registration
    generation: Generation


class WorkerModels:
    """The models one worker holds, least recently used first, within its share of memory."""

    def __init__(
        self, registry: ModelRegistry, settings: Settings, metrics: ServingMetrics
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.budget = max(1, settings.model_memory_bytes // settings.workers)
        metrics.budget.set(self.budget)
        self.resident: OrderedDict[str, Resident] = OrderedDict()
        self.lock = threading.Lock()  # guards ``resident``
        self.load_lock = threading.Lock()
        self.algorithms: dict[str, Algorithm] = {}  # one plugin manager per algorithm
        self.registry_version = registry.version()

    @property
    def bytes_in_use(self) -> int:
        with self.lock:
            return sum(r.registration.footprint_bytes for r in self.resident.values())

    def _algorithm(self, model_dir: Path) -> Algorithm:
        info = select_algorithm(
            discover(ALGORITHMS_GROUP), self.settings.algorithm, Manifest.read(model_dir)
        )
        if info.name not in self.algorithms:
            self.algorithms[info.name] = load_algorithm(info, discover(EXTENSIONS_GROUP))
        return self.algorithms[info.name]

    def _load_host(self, name: str, model_dir: Path) -> tuple[ModelHost, int]:
        """Load a model under ``load_lock``; its host and the memory it took."""
        try:
            algorithm = self._algorithm(model_dir)
            before = resident_bytes()
            started = time.perf_counter()
            host = ModelHost(algorithm, model_dir)
            host.load(self.settings.default_accept)
            self.metrics.loads.labels(algorithm.name).observe(time.perf_counter() - started)
            host.metrics = self.metrics.model(name, algorithm.name)
        except MemoryError:
            raise OutOfModelMemory(
                f"Model {name!r} ran out of memory while loading; unload other models "
                "or give the endpoint more memory."
            ) from None
        except AlgoportError as exc:
            raise UserError(f"Model {name!r} cannot be loaded from {model_dir}: {exc}") from exc
        except Exception as exc:
            raise UserError(
                f"Model {name!r} cannot be loaded from {model_dir}: the algorithm failed "
                f"in load: {type(exc).__name__}: {exc}"
            ) from exc
        return host, max(resident_bytes() - before, directory_bytes(model_dir))

    def load(self, name: str, model_dir: Path) -> Registration:
        """Load and register a new model (``POST /models``); runs on a thread."""
        with self.load_lock:
            host, footprint = self._load_host(name, model_dir)
        if footprint > self.budget:
            raise OutOfModelMemory(
                f"Model {name!r} takes {footprint // MB} MB per worker; each of the "
                f"{self.settings.workers} worker(s) may hold {self.budget // MB} MB of models "
                "(ALGOPORT_MODEL_MEMORY_MB divided by the workers). Raise it or use fewer workers."
            )
        registration = Registration(name, str(model_dir), host.algorithm.name, footprint)
        generation = self.registry.add(registration)
        if generation is None:
            raise ModelAlreadyLoaded(f"Model {name!r} is already loaded; delete it first.")
        self._hold(Resident(host, registration, generation))
        return registration

    def held(self, name: str) -> Resident | None:
        """``name``'s model if this worker holds its current registration; 404 if none."""
        generation = self.registry.generation(name)
        if generation is None:
            raise ModelNotLoaded(f"Model {name!r} is not loaded; load it with POST /models.")
        with self.lock:
            resident = self.resident.get(name)
            if resident is None or resident.generation != generation:
                return None
            self.resident.move_to_end(name)
            return resident

    def reload(self, name: str) -> Resident:
        """Load a registered model this worker does not hold; runs on a thread."""
        with self.load_lock:
            with contextlib.suppress(ModelNotLoaded):
                resident = self.held(name)  # loaded while this call waited for the lock
                if resident is not None:
                    return resident
            found = self.registry.get(name)
            if found is None:
                raise ModelNotLoaded(f"Model {name!r} is not loaded; load it with POST /models.")
            registration, generation = found
            self._make_room(registration.footprint_bytes)
            host, _ = self._load_host(name, Path(registration.url))
        resident = Resident(host, registration, generation)
        self._hold(resident)
        return resident

    def _hold(self, resident: Resident) -> None:
        name = resident.registration.name
        with self.lock:
            self.resident[name] = resident
        self._make_room(0, keep=name)
        self._update_gauges()
        log.info(
            "model %r (%s) loaded; %d MB of %d MB in use in this worker",
            name,
            resident.registration.algorithm,
            self.bytes_in_use // MB,
            self.budget // MB,
        )

    def _make_room(self, needed: int, keep: str | None = None) -> None:
        """Unload the least recently used models until ``needed`` more bytes fit."""
        with self.lock:
            in_use = sum(r.registration.footprint_bytes for r in self.resident.values())
            unloaded = []
            for name in list(self.resident):
                if in_use + needed <= self.budget:
                    break
                if name != keep:
                    in_use -= self.resident[name].registration.footprint_bytes
                    unloaded.append(name)
        if unloaded:
            self.unload(unloaded)
            log.info("unloaded least recently used model(s) to make room: %s", unloaded)

    def unload(self, names: list[str]) -> None:
        """Free the memory of the models named that this worker holds."""
        started = time.perf_counter()
        with self.lock:
            dropped = [self.resident.pop(name) for name in names if name in self.resident]
        algorithms = [resident.registration.algorithm for resident in dropped]
        del dropped
        if not algorithms:
            return
        gc.collect()  # models may hold reference cycles (estimators, boosters)
        seconds = (time.perf_counter() - started) / len(algorithms)
        for algorithm in algorithms:
            self.metrics.unloads.labels(algorithm).observe(seconds)
        self._update_gauges()

    def _update_gauges(self) -> None:
        with self.lock:
            self.metrics.loaded.set(len(self.resident))
            self.metrics.memory.set(
                sum(r.registration.footprint_bytes for r in self.resident.values())
            )

    def forget_deleted(self) -> None:
        """Drop the models deleted or replaced through other workers (cheap when none were)."""
        version = self.registry.version()
        if version == self.registry_version:
            return
        self.registry_version = version
        with self.lock:
            stale = [
                name
                for name, resident in self.resident.items()
                if self.registry.generation(name) != resident.generation
            ]
        self.unload(stale)


def checked_model_dir(url: object) -> Path:
    """The directory a ``POST /models`` names; 400 or 404 when it can't be a model."""
    if not isinstance(url, str) or not url:
        raise UserError('"url" must be the path of the model\'s directory.')
    path = Path(os.path.normpath(url))
    for where in (path, path.resolve()):
        if any(where.is_relative_to(root) for root in FORBIDDEN_ROOTS):
            raise UserError(f"{url} is under {', '.join(FORBIDDEN_ROOTS)}; refused.")
    if not path.exists():
        raise ModelNotLoaded(f"{url} does not exist; give the directory of an extracted model.")
    if not path.is_dir():
        raise UserError(f"{url} is not a directory; give the directory of an extracted model.")
    return path


def _page(request: Request) -> tuple[int, int]:
    """``limit`` and ``next_page_token`` (an offset, as MMS pages) from the query."""
    query = request.query_params
    limit_text = query.get("limit", str(DEFAULT_PAGE_SIZE))
    token = query.get("next_page_token", "0")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE_SIZE:
        raise UserError(f"limit is {limit_text!r}; expected an integer from 1 to {MAX_PAGE_SIZE}.")
    if not token.isdigit():
        raise UserError(f"next_page_token is {token!r}; pass back the one GET /models returned.")
    return int(limit_text), int(token)


def create_multi_model_app(
    registry: ModelRegistry,
    settings: Settings,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> Starlette:
    """The Starlette app of one worker of a multi-model endpoint (SAGEMAKER_MULTI_MODEL)."""
    metrics = ServingMetrics()
    models = WorkerModels(registry, settings, metrics)
    dispatcher = new_dispatcher(settings, on_fatal)

    async def sweep() -> None:
        """Free deleted models' memory in a worker that gets no requests, too."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            await asyncio.to_thread(models.forget_deleted)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(sweep())
        yield
        sweeper.cancel()
        dispatcher.shutdown()

    async def answer(request: Request, handler: Callable[[], Any]) -> Response:
        """Run a management call; its AlgoportError becomes a JSON error response."""
        try:
            models.forget_deleted()
            response: Response = await handler()
            return response
        except AlgoportError as exc:
            level = logging.ERROR if exc.http_status >= 500 else logging.WARNING
            log.log(level, "%s %s %d: %s", request.method, request.url.path, exc.http_status, exc)
            return error_response(exc.http_status, exc.message)

    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def get_metrics(request: Request) -> Response:
        return metrics_response(metrics)

    async def load_model(request: Request) -> Response:
        async def handler() -> Response:
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise UserError('The body is not JSON; send {"model_name": …, "url": …}.') from None
            name = body.get("model_name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not name:
                raise UserError('"model_name" must be a non-empty string.')
            model_dir = checked_model_dir(body.get("url"))
            if registry.generation(name) is not None:
                raise ModelAlreadyLoaded(f"Model {name!r} is already loaded; delete it first.")
            started = time.perf_counter()
            registration = await asyncio.to_thread(models.load, name, model_dir)
            log.info(
                "POST /models %r: %s model loaded in %.2f s",
                name,
                registration.algorithm,
                time.perf_counter() - started,
            )
            return JSONResponse({"status": f"Model {name!r} loaded"})

        return await answer(request, handler)

    async def list_models(request: Request) -> Response:
        async def handler() -> Response:
            limit, offset = _page(request)
            registrations = registry.all()
            page = registrations[offset : offset + limit]
            listing: dict[str, Any] = {
                "models": [{"modelName": r.name, "modelUrl": r.url} for r in page]
            }
            if offset + limit < len(registrations):
                listing["nextPageToken"] = str(offset + limit)
            return JSONResponse(listing)

        return await answer(request, handler)

    async def describe_model(request: Request) -> Response:
        name = request.path_params["name"]

        async def handler() -> Response:
            found = registry.get(name)
            if found is None:
                raise ModelNotLoaded(f"Model {name!r} is not loaded.")
            registration = found[0]
            return JSONResponse(
                {
                    "modelName": registration.name,
                    "modelUrl": registration.url,
                    "algorithm": registration.algorithm,
                }
            )

        return await answer(request, handler)

    async def delete_model(request: Request) -> Response:
        name = request.path_params["name"]

        async def handler() -> Response:
            if not registry.remove(name):
                raise ModelNotLoaded(f"Model {name!r} is not loaded.")
            models.unload([name])
            log.info("DELETE /models %r: unloaded", name)
            return JSONResponse({"status": f"Model {name!r} unloaded"})

        return await answer(request, handler)

    async def invoke_held(request: Request, name: str) -> Response:
        target = request.headers.get(TARGET_MODEL)
        if target is not None:
            log.info("%s %s target model %s", request.method, request.url.path, target)
        resident = models.held(name)
        if resident is None:
            resident = await asyncio.to_thread(models.reload, name)
        return await answer_invocation(request, resident.host, settings, dispatcher)

    async def invoke(request: Request) -> Response:
        name = request.path_params["name"]
        return await answer(request, lambda: invoke_held(request, name))

    async def invoke_endpoint(request: Request) -> Response:
        """What boto3's ``invoke_endpoint(TargetModel=…)`` sends, pointed at this server."""

        async def handler() -> Response:
            target = request.headers.get(TARGET_MODEL)
            if not target:
                raise UserError(
                    f"This is a multi-model endpoint; name the model in {TARGET_MODEL} "
                    "(TargetModel in invoke_endpoint)."
                )
            if settings.model_archives is not None and registry.generation(target) is None:
                await asyncio.to_thread(_load_archive, models, settings.model_archives, target)
            return await invoke_held(request, target)

        return await answer(request, handler)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/models", load_model, methods=["POST"]),
            Route("/models", list_models, methods=["GET"]),
            Route("/models/{name:path}/invoke", invoke, methods=["POST"]),
            Route("/models/{name:path}", describe_model, methods=["GET"]),
            Route("/models/{name:path}", delete_model, methods=["DELETE"]),
            Route("/endpoints/{endpoint}/invocations", invoke_endpoint, methods=["POST"]),
            Route("/metrics", get_metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _load_archive(models: WorkerModels, archives: Path, target: str) -> None:
    """Extract ``archives/target`` and load it as model ``target``, as SageMaker does on the
    first invoke of a TargetModel; the extracted files stay for later loads."""
    archive = (archives / target).resolve()
    if not archive.is_relative_to(archives.resolve()) or not archive.is_file():
        raise ModelNotLoaded(
            f"TargetModel {target!r} is not a model archive in {archives}; name a *.tar.gz "
            "file there, relative to it."
        )
    digest = hashlib.sha256(target.encode()).hexdigest()[:32]
    place = models.settings.base_dir / "models" / digest
    place.mkdir(parents=True, exist_ok=True)
    model_dir = place / "model"
    with (place / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be extracting it
        if not model_dir.exists():
            extract_model(archive, model_dir)
    with contextlib.suppress(ModelAlreadyLoaded):  # another worker loaded it meanwhile
        models.load(target, model_dir)
