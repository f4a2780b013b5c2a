"""Finding, choosing and registering plugins; the one typed door to pluggy.

Only this module calls ``pm.hook.*``. Discovery reads entry-point metadata and imports
nothing; :func:`load_algorithm` imports the one selected algorithm (and the installed
extensions) into a plugin manager of its own, so a multi-model endpoint can hold models
of different algorithms side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from algoport import builtin_formats, hookspecs
from algoport.capabilities import Capabilities
from algoport.channels import Channel, ChannelSpec
from algoport.errors import AlgoportError, AlgorithmError, PluginError, UserError
from algoport.hyperparameters import HyperParameterSchema
from algoport.manifest import Manifest
from algoport.media import (
    Columns,
    ContentTypes,
    FormatRegistry,
    Invocation,
    prediction_columns,
    record_count,
)
from algoport.metrics import Metric
from algoport.settings import VARIABLES

ALGORITHMS_GROUP = "algoport.algorithms"
EXTENSIONS_GROUP = "algoport.extensions"
SELECT_VARIABLE = VARIABLES["algorithm"].name

# Hooks that belong to the algorithm alone; extensions may only wrap them.
ALGORITHM_HOOKS = (
    "hyperparameters",
    "check_hyperparameters",
    "channels",
    "metrics",
    "fit",
    "load",
    "predict",
    "content_types",
    "capabilities",
)
REQUIRED_HOOKS = ("load", "predict")


@dataclass(frozen=True)
class PluginInfo:
    """An installed plugin as package metadata describes it, not yet imported."""

    name: str
    group: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def label(self) -> str:
        where = f"{self.distribution} {self.version}" if self.distribution else "unknown package"
        return f"{self.name!r} ({where}, entry point {self.value})"

    def entry_point(self) -> metadata.EntryPoint:
        return metadata.EntryPoint(name=self.name, value=self.value, group=self.group)

    def load_object(self) -> Any:
        try:
            obj = self.entry_point().load()
        except Exception as exc:
            raise PluginError(
                f"Plugin {self.label} failed to import: {type(exc).__name__}: {exc}. "
                f"Reinstall {self.distribution or 'it'} or uninstall it."
            ) from exc
        if isinstance(obj, type):
            try:
                obj = obj()
            except Exception as exc:
                raise PluginError(
                    f"Plugin {self.label} is a class that failed to instantiate with no "
                    f"arguments: {type(exc).__name__}: {exc}."
                ) from exc
        return obj


def discover(group: str) -> dict[str, PluginInfo]:
    """Installed plugins of one entry-point group, by name; duplicates stop here."""
    found: dict[str, PluginInfo] = {}
    for entry_point in metadata.entry_points(group=group):
        dist = entry_point.dist
        info = PluginInfo(
            name=entry_point.name,
            group=group,
            value=entry_point.value,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        held = found.get(info.name)
        if held is not None and held != info:
            raise PluginError(
                f"Two plugins are named {info.name!r} in {group}: {held.label} and "
                f"{info.label}. Uninstall one; algoport will not choose between them."
            )
        found[info.name] = info
    return dict(sorted(found.items()))


def select_algorithm(
    installed: Mapping[str, PluginInfo],
    requested: str | None = None,
    manifest: Manifest | None = None,
) -> PluginInfo:
    """Pick the algorithm: ``ALGOPORT_ALGORITHM``, else the model's manifest, else the only one."""
    names = ", ".join(installed) or "none"
    if requested:
        if manifest is not None and manifest.algorithm != requested:
            raise UserError(
                f"The model was trained by algorithm {manifest.algorithm!r} but "
                f"{SELECT_VARIABLE} is {requested!r}. Unset {SELECT_VARIABLE} or set it to "
                f"{manifest.algorithm!r}."
            )
        if requested not in installed:
            raise PluginError(
                f"Algorithm {requested!r} ({SELECT_VARIABLE}) is not installed; installed: "
                f"{names}. Install its plugin package or fix the name."
            )
        return installed[requested]
    if manifest is not None:
        if manifest.algorithm not in installed:
            raise PluginError(
                f"The model was trained by algorithm {manifest.algorithm!r} "
                f"({manifest.distribution or 'unknown package'} {manifest.version or ''}), "
                f"which is not installed; installed: {names}. Install "
                f"{manifest.distribution or 'its plugin package'}."
            )
        return installed[manifest.algorithm]
    if len(installed) == 1:
        return next(iter(installed.values()))
    if not installed:
        raise PluginError(
            "No algorithm plugin is installed. Install one with pip (a package that declares "
            "an `algoport.algorithms` entry point); `algoport plugins` lists what is installed."
        )
    raise PluginError(
        f"Several algorithms are installed and none is selected: {names}. "
        f"Set {SELECT_VARIABLE} to one of them."
    )


def selected_algorithm(requested: str | None, model_dir: Path | None = None) -> Algorithm:
    """The algorithm this process runs: ``requested`` (``ALGOPORT_ALGORITHM``), else the
    model's manifest, else the only one installed."""
    manifest = Manifest.read(model_dir) if model_dir is not None else None
    info = select_algorithm(discover(ALGORITHMS_GROUP), requested, manifest)
    return load_algorithm(info, discover(EXTENSIONS_GROUP))


def _register(pm: pluggy.PluginManager, obj: Any, info: PluginInfo) -> None:
    try:
        pm.register(obj, name=info.name if info.group == ALGORITHMS_GROUP else info.label)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"Plugin {info.label} implements a hook wrongly: {exc}") from exc
    except ValueError as exc:
        raise PluginError(f"Plugin {info.label} cannot be registered: {exc}") from exc


def build_plugin_manager(
    algorithm: PluginInfo,
    algorithm_object: Any,
    extensions: Sequence[tuple[PluginInfo, Any]] = (),
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(builtin_formats, name=builtin_formats.NAME)
    for info, obj in extensions:
        _register(pm, obj, info)
        for hook in ALGORITHM_HOOKS:
            impl = getattr(obj, hook, None)
            options = getattr(impl, f"{hookspecs.PROJECT}_impl", None)
            if options is not None and not (options.get("wrapper") or options.get("hookwrapper")):
                raise PluginError(
                    f"Extension {info.label} implements {hook!r}, which belongs to the "
                    "algorithm; an extension may only wrap it with @hookimpl(wrapper=True)."
                )
    _register(pm, algorithm_object, algorithm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"A plugin implements a hook algoport does not have: {exc}") from exc
    implemented = {impl.function.__name__ for impl in _own_impls(pm, algorithm_object)}
    missing = [hook for hook in REQUIRED_HOOKS if hook not in implemented]
    if missing:
        raise PluginError(
            f"Algorithm {algorithm.label} does not implement {', '.join(missing)}; an "
            "algorithm plugin needs at least load and predict (see algoport.hookspecs)."
        )
    return pm


def _own_impls(pm: pluggy.PluginManager, obj: Any) -> list[pluggy.HookImpl]:
    return [
        impl
        for caller in pm.get_hookcallers(obj) or []
        for impl in caller.get_hookimpls()
        if impl.plugin is obj
    ]


def load_algorithm(info: PluginInfo, extensions: Mapping[str, PluginInfo]) -> Algorithm:
    """Import the algorithm and every extension, and build its plugin manager."""
    loaded = [(ext, ext.load_object()) for ext in extensions.values()]
    obj = info.load_object()
    return Algorithm(info, build_plugin_manager(info, obj, loaded), obj)


class Algorithm:
    """The typed face of one algorithm's plugin manager; the rest of the core uses this."""

    def __init__(self, info: PluginInfo, pm: pluggy.PluginManager, plugin: Any) -> None:
        self.info = info
        self.name = info.name
        self._pm = pm
        self._plugin = plugin

    def _implements(self, hook: str) -> bool:
        return any(
            impl.plugin_name == self.name for impl in getattr(self._pm.hook, hook).get_hookimpls()
        )

    def _declared(self, hook: str) -> Any:
        try:
            return getattr(self._pm.hook, hook)()
        except AlgoportError:
            raise
        except Exception as exc:
            raise AlgorithmError(
                f"Algorithm {self.name!r} failed in its {hook} hook: {type(exc).__name__}: {exc}"
            ) from exc

    @cached_property
    def hyperparameters(self) -> HyperParameterSchema:
        return HyperParameterSchema(self._declared("hyperparameters") or (), self.name)

    @cached_property
    def channels(self) -> list[ChannelSpec] | None:
        declared = self._declared("channels")
        if declared is None:
            return None
        for spec in declared:
            if not isinstance(spec, ChannelSpec):
                raise AlgorithmError(
                    f"Algorithm {self.name!r} declared channel {spec!r}; expected "
                    "algoport.ChannelSpec."
                )
        return list(declared)

    @cached_property
    def metrics(self) -> list[Metric]:
        return list(self._declared("metrics") or ())

    @cached_property
    def capabilities(self) -> Capabilities:
        declared = self._declared("capabilities")
        if declared is None:
            return Capabilities()
        if not isinstance(declared, Capabilities):
            raise AlgorithmError(
                f"Algorithm {self.name!r} declared capabilities {declared!r}; expected "
                "algoport.Capabilities."
            )
        return declared

    def formats(self) -> FormatRegistry:
        """Build the algorithm's format registry: every plugin's formats, clashes refused.

        Called once at start-up (training and serving alike), so that a clash or a declared
        content type without a format stops start-up, not a request.
        """
        contributed = [(impl.plugin_name, result) for impl, result in self._formats_by_plugin()]
        declared: ContentTypes | None = self._declared("content_types")
        return FormatRegistry(
            contributed, declared, builtin_plugin=builtin_formats.NAME, algorithm=self.name
        )

    def _formats_by_plugin(self) -> list[tuple[pluggy.HookImpl, Any]]:
        results = []
        for impl in self._pm.hook.formats.get_hookimpls():
            try:
                results.append((impl, impl.function()))
            except Exception as exc:
                raise PluginError(
                    f"Plugin {impl.plugin_name!r} failed in its formats hook: {exc}"
                ) from exc
        return results

    def check_hyperparameters(
        self, values: Mapping[str, Any], channels: Mapping[str, Channel]
    ) -> list[str]:
        try:
            problems = self._pm.hook.check_hyperparameters(values=values, channels=channels)
        except AlgoportError:
            raise
        except Exception as exc:
            raise AlgorithmError(
                f"Algorithm {self.name!r} failed in its check_hyperparameters hook: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return [str(problem) for problem in problems or ()]

    @property
    def can_fit(self) -> bool:
        return self._implements("fit")

    def fit(self, job: Any) -> None:
        self._pm.hook.fit(job=job)

    def load(self, model_dir: Path) -> Any:
        openers = [impl.plugin_name for impl in self._pm.hook.open_model.get_hookimpls()]
        if len(openers) > 1:
            raise PluginError(
                f"Plugins {openers[0]!r} and {openers[1]!r} both implement open_model; only "
                "one may say which directory load reads. Uninstall one of them."
            )
        opened = self._pm.hook.open_model(model_dir=model_dir)
        if opened is None:
            return self._pm.hook.load(model_dir=model_dir)
        with opened as readable_dir:
            return self._pm.hook.load(model_dir=readable_dir)

    def predict(self, model: Any, data: Any, invocation: Invocation) -> Any:
        alone = self._sole_predict
        if alone is not None:
            function, argnames = alone
            arguments = {"model": model, "data": data, "invocation": invocation}
            return function(*[arguments[name] for name in argnames])
        return self._pm.hook.predict(model=model, data=data, invocation=invocation)

    @cached_property
    def _sole_predict(self) -> tuple[Callable[..., Any], tuple[str, ...]] | None:
        """The one predict implementation and the arguments it takes, when no other
        implementation or wrapper shares the hook: called directly, as pluggy would call it.
        pluggy's dispatch cost ~5 µs, a few percent of a 1-row request."""
        impls = self._pm.hook.predict.get_hookimpls()
        if len(impls) != 1 or impls[0].hookwrapper or impls[0].wrapper:
            return None
        return impls[0].function, tuple(impls[0].argnames)

    def predict_columns(self, model: Any, data: Any, invocation: Invocation) -> Columns:
        """``predict``, its result checked into named columns, one row per record.

        An exception the plugin did not mean (not an AlgoportError) becomes an AlgorithmError.
        """
        try:
            result = self.predict(model, data, invocation)
        except AlgoportError:
            raise
        except Exception as exc:
            raise AlgorithmError(
                f"Algorithm {self.name!r} failed in predict: {type(exc).__name__}: {exc}"
            ) from exc
        return prediction_columns(result, record_count(data))
