"""The catalog: every family, variant and component that the loaded plugins registered.

It is built once per process (`get_catalog()`), from whatever the plugin host loaded. Ids live in
one namespace across all plugins, so a name that two plugins claim is refused naming both; the
second plugin is marked failed and the rest of the catalog stays usable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__, settings
from .components import Bundler, Component, Converter, SourceKind, Verifier
from .errors import DuplicateRegistrationError, ManifestProblem, PluginError
from .manifest import SCHEMA_VERSION, Manifest, Variant, check_identifier, load_manifest, parse_manifest
from .fsutil import write_cache
from .plugins import PluginHost

COMPONENT_HOOKS: dict[str, tuple[str, type[Component]]] = {
    "source": ("register_sources", SourceKind),
    "converter": ("register_converters", Converter),
    "bundler": ("register_bundlers", Bundler),
    "verifier": ("register_verifiers", Verifier),
}


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    plugin: str
    manifest_path: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class Registered:
    component: Component
    plugin: str


def load_manifest_cached(path: Path) -> Manifest:
    """Validated manifests are cached as JSON, keyed by path, mtime, size and zoo's version.

    Re-validating the JSON with pydantic-core is several times cheaper than TOML parsing plus the
    cross-field checks, and keeps `zoo list` fast with many plugins installed.
    """
    config = settings.get()
    if config.no_cache:
        return load_manifest(path)
    try:
        stat = path.stat()
    except OSError:
        return load_manifest(path)  # raises the proper ManifestError
    key = hashlib.sha256(
        f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}|{__version__}|{SCHEMA_VERSION}".encode()
    ).hexdigest()[:32]
    cached = config.cache_dir / "manifests" / f"{key}.json"
    try:
        return Manifest.model_validate_json(cached.read_bytes())
    except (OSError, ValueError):
        pass
    manifest = load_manifest(path)
    write_cache(cached, manifest.model_dump_json())
    return manifest


class Catalog:
    def __init__(self, host: PluginHost):
        self.host = host
        self.families: dict[str, Family] = {}
        self.variants: dict[str, Variant] = {}
        self.components: dict[str, dict[str, Registered]] = {kind: {} for kind in COMPONENT_HOOKS}
        # Every name a user can type (variant ids and aliases, model names and aliases), with its owner.
        self.names: dict[str, tuple[str, str]] = {}

    @classmethod
    def load(cls, host: PluginHost | None = None) -> "Catalog":
        if host is None:
            host = PluginHost()
            host.load_entry_points()
        catalog = cls(host)
        for kind, (hook, base) in COMPONENT_HOOKS.items():
            host.call_register_hook(hook, catalog._component_acceptor(kind, base))
        host.call_register_hook("register_families", catalog._accept_families)
        for name, record in host.records.items():
            record.provides = catalog.provided_by(name)
        return catalog

    # ------------------------------------------------------------------ registration

    def _component_acceptor(self, kind: str, base: type[Component]) -> Callable:
        def accept(items: list[Any], plugin: str) -> Callable[[], None]:
            staged: dict[str, Registered] = {}
            for item in items:
                if not isinstance(item, base):
                    raise PluginError(
                        f"plugin '{plugin}' registered {item!r} as a {kind}, but it is not a "
                        f"{base.__module__}.{base.__name__} instance",
                        fix=f"Register an instance of a {base.__name__} subclass.",
                    )
                try:
                    check_identifier(item.name)
                except Exception:
                    raise PluginError(
                        f"plugin '{plugin}' registered a {kind} named {item.name!r}, which is not a valid id",
                        fix="Use lowercase letters, digits, '.', '_' and '-'.",
                    ) from None
                taken = self.components[kind].get(item.name) or staged.get(item.name)
                if taken:
                    raise DuplicateRegistrationError(kind, item.name, taken.plugin, plugin)
                staged[item.name] = Registered(item, plugin)
            return lambda: self.components[kind].update(staged)

        return accept

    def _accept_families(self, items: list[Any], plugin: str) -> Callable[[], None]:
        staged_families: dict[str, Family] = {}
        staged_variants: dict[str, Variant] = {}
        staged_names: dict[str, tuple[str, str]] = {}
        for item in items:
            if isinstance(item, (str, Path)):
                path = Path(item)
                manifest = load_manifest_cached(path)
                where = str(path)
            elif isinstance(item, dict):
                where = f"<dict registered by plugin {plugin}>"
                manifest = parse_manifest(item, where)
            elif isinstance(item, Manifest):
                where, manifest = f"<manifest registered by plugin {plugin}>", item
            else:
                raise PluginError(
                    f"plugin '{plugin}' passed {item!r} to register_families",
                    fix="Pass a pathlib.Path to a TOML manifest, or a dict with the manifest's data.",
                )
            family = manifest.family
            owner = self.families.get(family) or staged_families.get(family)
            if owner:
                raise DuplicateRegistrationError("family", family, owner.plugin, plugin)
            staged_families[family] = Family(
                family, manifest.description, plugin, where, tuple(m.name for m in manifest.models)
            )
            for variant in manifest.variants(plugin=plugin, manifest_path=where):
                staged_variants[variant.id] = variant
                target = f"model:{family}/{variant.model}"
                for name, owned_by in (
                    [(variant.id, f"variant:{variant.id}")]
                    + [(alias, f"variant:{variant.id}") for alias in variant.aliases]
                    + [(variant.model, target)]
                    + [(alias, target) for alias in variant.model_aliases]
                ):
                    claim = (plugin, owned_by)
                    existing = self.names.get(name) or staged_names.get(name)
                    if existing and existing != claim:
                        raise DuplicateRegistrationError("model or variant", name, existing[0], plugin)
                    staged_names[name] = claim

        def commit() -> None:
            self.families.update(staged_families)
            self.variants.update(staged_variants)
            self.names.update(staged_names)

        return commit

    # ------------------------------------------------------------------ queries

    def provided_by(self, plugin: str) -> list[str]:
        out = [f"family:{f.name}" for f in self.families.values() if f.plugin == plugin]
        for kind, registered in self.components.items():
            out += [f"{kind}:{name}" for name, r in registered.items() if r.plugin == plugin]
        return out

    def component(self, kind: str, name: str) -> Component | None:
        found = self.components[kind].get(name)
        return found.component if found else None

    def models_of(self, family: str) -> list[str]:
        return list(self.families[family].models) if family in self.families else []

    def failed_plugins(self) -> list:
        return [r for r in self.host.records.values() if r.status == "failed"]

    def dangling_references(self) -> list[ManifestProblem]:
        """Names a variant uses that no plugin registered (a source kind, converter, bundler or check)."""
        problems = []
        for v in self.variants.values():
            wanted = [("source", v.source.kind)]
            if v.recipe:
                wanted.append(("converter", v.recipe.converter))
            if v.bundle:
                wanted += [("bundler", b) for b in v.bundle.bundlers]
            wanted += [("verifier", c) for o in v.outputs for c in o.checks]
            for kind, name in wanted:
                if name not in self.components[kind]:
                    problems.append(
                        ManifestProblem(
                            v.id, f"uses the {kind} '{name}', which no loaded plugin registers",
                            f"install the plugin that provides it, or check `zoo plugins`",
                        )
                    )
        return problems


_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    """The process-wide catalog, loaded on first use."""
    global _catalog
    if _catalog is None:
        _catalog = Catalog.load()
    return _catalog


def reset() -> None:
    """Forget the loaded catalog (tests, and long-lived processes after installing plugins)."""
    global _catalog
    _catalog = None


