"""The plugin host: finds `zoo` entry points, loads them once, and records how each one fared.

Built-in plugins are found exactly like third-party ones (the `zoo` entry-point group); they are
told apart by where their code lives (zoo's own `plugins/` folder, declared by zoo's distribution),
never by a name another package could take, so that ZOO_LOAD_PLUGINS and
ZOO_DISABLE_PLUGIN_AUTOLOAD can never switch the built-ins off by accident, nor a stray
`zoo-*.dist-info` on the path pass itself off as one.

One broken plugin must never take the CLI down: an import error, a hook with a misspelled name
or a hook that raises marks that plugin failed (named, with its error) and the rest carry on.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__, settings
from .fsutil import write_cache

ENTRY_POINT_GROUP = "zoo"
BUILTIN_DISTRIBUTION = "zoo"
BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"


@dataclass(frozen=True)
class EntryPointInfo:
    name: str
    value: str
    distribution: str
    version: str
    builtin: bool = False
    """Declared by zoo's distribution for a module in zoo's own plugins/ folder (see _is_builtin)."""


def _is_builtin(distribution: str, version: str, value: str) -> bool:
    """Whether an entry point is one of zoo's own: its distribution and version are zoo's, and the
    module it names is a file in zoo's plugins/ folder (found without running it)."""
    import importlib.util

    module = value.partition(":")[0].strip()
    if distribution != BUILTIN_DISTRIBUTION or version != __version__ or not module.startswith("plugins."):
        return False
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
    return origin is not None and origin.is_relative_to(BUILTIN_PLUGINS_DIR)


@dataclass
class PluginRecord:
    """How one plugin fared; `zoo plugins` prints these."""

    name: str
    distribution: str
    version: str
    builtin: bool
    status: str = "loaded"  # loaded | failed | disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)
    traceback: str | None = None
    """The failure's full traceback, shown by `zoo plugins` under ZOO_DEBUG=1."""

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ entry-point discovery


def _path_fingerprint() -> list[tuple[str, int]]:
    """Installing or removing a distribution changes the mtime of the sys.path entry holding it."""
    out = []
    for entry in sys.path:
        try:
            out.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return out


def _scan_entry_points() -> list[EntryPointInfo]:
    import importlib.metadata as metadata  # ~30 ms to import; only on a cache miss

    found: dict[tuple[str, str, bool], EntryPointInfo] = {}
    for dist in metadata.distributions():
        eps = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        if not eps:
            continue
        dist_name = dist.metadata["Name"] or "unknown"
        for ep in eps:
            info = EntryPointInfo(ep.name, ep.value, dist_name, dist.version, _is_builtin(dist_name, dist.version, ep.value))
            # The first distribution on sys.path wins, as it does for imports; a look-alike never
            # hides a built-in, whose name it then finds taken.
            found.setdefault((dist_name, ep.name, info.builtin), info)
    return sorted(found.values(), key=lambda e: (not e.builtin, e.name))


def discover_entry_points() -> list[EntryPointInfo]:
    """All `zoo` entry points, built-ins first; cached on disk keyed by the sys.path fingerprint."""
    config = settings.get()
    key = hashlib.sha256(json.dumps([2, __version__, sys.version, _path_fingerprint()]).encode()).hexdigest()[:32]
    cache = config.cache_dir / "entry-points.json"
    if not config.no_cache:
        try:
            cached = json.loads(cache.read_text())
            if cached.get("key") == key:
                return [EntryPointInfo(**e) for e in cached["entry_points"]]
        except (OSError, ValueError, TypeError, KeyError):
            pass
    entry_points = _scan_entry_points()
    if not config.no_cache:
        write_cache(cache, json.dumps({"key": key, "entry_points": [asdict(e) for e in entry_points]}))
    return entry_points


# ------------------------------------------------------------------ the host


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _where(exc: BaseException) -> str:
    """' (at FILE:LINE)' of the line that raised: a syntax error's own, else the innermost frame."""
    import sysconfig
    import traceback

    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    stdlib = sysconfig.get_paths()["stdlib"]
    frames = traceback.extract_tb(exc.__traceback__)
    # The plugin's own line, not the standard library's (os.environ's KeyError is raised inside os).
    frames = [f for f in frames if not f.filename.startswith(("<", stdlib))] or frames
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _full_traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))


def _explain_validation(exc: Exception) -> str:
    """pluggy's refusal of a hook implementation, with the hook's own signature."""
    import inspect
    import re

    from . import hookspecs

    text = str(exc)
    hook = re.search(r"for hook '(\w+)'", text)
    spec = getattr(hookspecs, hook.group(1), None) if hook else None
    unknown = re.search(r"Argument\(s\) (\{.*?\})", text)
    if spec is None or unknown is None:
        return _describe(exc)
    signature = f"{spec.__name__}{inspect.signature(spec)}"
    return (f"its {hook.group(1)} takes argument(s) {unknown.group(1)} that the hook does not have; "
            f"the hook's signature is {signature} (name the argument `register`)")


class PluginHost:
    """A pluggy manager plus the record of every plugin it tried to load.

    pluggy and the hook specs are imported only here: a command served from the catalog snapshot
    alone (`zoo list`, `zoo --help`) loads no plugin, so it never needs them."""

    def __init__(self) -> None:
        import pluggy

        from . import hookspecs

        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    # -- loading

    def _allowed(self, ep: EntryPointInfo) -> bool:
        if ep.builtin:
            return True
        config = settings.get()
        if config.load_plugins is not None:
            return ep.name in config.load_plugins or ep.distribution in config.load_plugins
        return not config.disable_plugin_autoload

    def load_entry_points(self, entry_points: list[EntryPointInfo] | None = None) -> None:
        for ep in discover_entry_points() if entry_points is None else entry_points:
            record = PluginRecord(ep.name, ep.distribution, ep.version, ep.builtin)
            if ep.name in self.records:
                record.status, record.error = "failed", (
                    f"the plugin name '{ep.name}' is already taken by "
                    f"'{self.records[ep.name].distribution}'; one of the two packages must rename its entry point"
                )
                self.records[f"{ep.name} ({ep.distribution})"] = record
                continue
            self.records[ep.name] = record
            if not self._allowed(ep):
                record.status = "disabled"
                continue
            try:
                module_name, _, attr = ep.value.partition(":")
                plugin = importlib.import_module(module_name.strip())
                for part in filter(None, attr.strip().split(".")):
                    plugin = getattr(plugin, part)
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything on import
                if isinstance(exc, KeyboardInterrupt):
                    raise
                record.status, record.error = "failed", f"failed to import {ep.value}: {_describe(exc)}{_where(exc)}"
                record.traceback = _full_traceback(exc)
                continue
            self.register(plugin, ep.name)

    def register(self, plugin: object, name: str, *, distribution: str = "", version: str = "") -> PluginRecord:
        """Register one plugin object (module or instance). Never raises for a bad plugin."""
        record = self.records.get(name) or PluginRecord(name, distribution or name, version, builtin=False)
        self.records[name] = record
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy.PluginValidationError, ValueError for a name taken
            import pluggy

            explained = _explain_validation(exc) if isinstance(exc, pluggy.PluginValidationError) else _describe(exc)
            record.status, record.error = "failed", explained
            return record
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = [caller.name for caller in callers if not caller.has_spec()]
        if unknown:
            self.pm.unregister(name=name)
            import difflib

            from . import hookspecs

            known = [n for n in dir(hookspecs) if n.startswith("register_")]
            hints = []
            for bad in unknown:
                close = difflib.get_close_matches(bad, known, n=1)
                hints.append(f"'{bad}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            record.status = "failed"
            record.error = f"implements unknown hook {', '.join(hints)}; zoo's hooks are {', '.join(known)}"
            return record
        record.hooks = sorted(caller.name for caller in callers)
        return record

    # -- calling register_* hooks with a callback that knows who is calling

    def call_register_hook(self, hook_name: str, accept) -> None:
        """Call `hook_name` on each loaded plugin in turn.

        `accept(items, plugin_name)` validates one plugin's registrations and returns a callable
        that commits them; it raises ZooError to refuse them. A plugin
        whose hook raises, or registers something refused, is marked failed and everything it
        registered in this hook is dropped; other plugins are unaffected.
        """
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order: built-ins first, so they keep their ids
            record = self.records.get(impl.plugin_name)
            if record is None or record.status != "loaded":
                continue
            pending: list[object] = []
            try:
                kwargs = {"register": pending.append}
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
                commit = accept(pending, impl.plugin_name)
            except BaseException as exc:  # noqa: BLE001 - report, never crash or exit the host (SystemExit too)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                from .errors import ZooError

                message = exc.message if isinstance(exc, ZooError) else _describe(exc) + _where(exc)
                if isinstance(exc, ZooError) and exc.fix and exc.fix not in message:
                    message += f" Fix: {exc.fix}"
                record.status, record.error = "failed", f"{hook_name} failed: {message}"
                record.traceback = _full_traceback(exc)
                continue
            commit()
