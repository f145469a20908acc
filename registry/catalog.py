"""The catalog: every family, variant and component that the loaded plugins registered.

Ids live in one namespace across all plugins, so a name two plugins claim is refused naming both;
the second plugin is marked failed and the rest of the catalog stays usable.

Loading the catalog means importing every plugin and validating every manifest with pydantic,
which costs more than the rest of `zoo list` together. So a loaded catalog is also written as a
snapshot (plain JSON), valid while the installed distributions, the plugin modules, the manifest
files and zoo's version are unchanged; light commands read the snapshot and never import a plugin
or pydantic. Anything that needs a plugin's code (`component()`) loads the plugins for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from . import __version__, settings
from .errors import DuplicateRegistrationError, ManifestProblem, PluginError
from .fsutil import write_cache
from .plugins import PluginHost, PluginRecord, discover_entry_points

if TYPE_CHECKING:
    from .components import Component
    from .manifest import Manifest, Variant

COMPONENT_HOOKS: dict[str, str] = {
    "source": "register_sources",
    "converter": "register_converters",
    "bundler": "register_bundlers",
    "verifier": "register_verifiers",
    "runtime": "register_runtimes",
}
SNAPSHOT_FORMAT = 3


class Claim(NamedTuple):
    """What a name a user can type means: a variant (id or alias), or a model (name or alias)."""

    plugin: str
    family: str
    model: str
    variant: str | None = None
    """Set when the name is a variant's id or alias; None for a model's name or alias."""


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    plugin: str
    manifest_path: str
    models: tuple[str, ...]


def variant_row(variant: "Variant") -> dict[str, Any]:
    """A variant as plain JSON data, with the derived fields light commands need."""
    row = variant.model_dump(mode="json")
    row["prebuilt"] = variant.prebuilt
    row["quantization_label"] = variant.quantization_label
    return row


def load_manifest_cached(path: Path) -> "Manifest":
    """Validated manifests are cached as JSON, keyed by path, mtime, size and zoo's version."""
    from .manifest import SCHEMA_VERSION, Manifest, load_manifest

    config = settings.get()
    try:
        stat = path.stat()
    except OSError:
        return load_manifest(path)  # raises the proper ManifestError
    if config.no_cache:
        return load_manifest(path)
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
    def __init__(self) -> None:
        self.families: dict[str, Family] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        """Variant id -> the variant as JSON data (see `variant_row`)."""
        self.names: dict[str, Claim] = {}
        """Every name a user can type (variant ids and aliases, model names and aliases) -> what it means."""
        self.components: dict[str, dict[str, str]] = {kind: {} for kind in COMPONENT_HOOKS}
        """kind -> component name -> plugin that registered it."""
        self.descriptions: dict[str, dict[str, str]] = {kind: {} for kind in COMPONENT_HOOKS}
        """kind -> component name -> its description (`zoo plugins`)."""
        self.default_checks: dict[str, list[str]] = {}
        """File format (extension) -> the verifiers that check every file of it (`Verifier.by_default`)."""
        self.records: dict[str, PluginRecord] = {}
        self.host: PluginHost | None = None
        self._objects: dict[str, dict[str, "Component"]] | None = None
        self._alone: dict[str, "Catalog | None"] = {}
        """Plugin name -> a catalog of that plugin alone (see `component`)."""
        self._variants: dict[str, "Variant"] = {}
        self._watched: set[str] = set()

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, host: PluginHost | None = None) -> "Catalog":
        """Import the plugins and collect what they register."""
        if host is None:
            host = PluginHost()
            host.load_entry_points()
        catalog = cls()
        catalog.host = host
        catalog._objects = {kind: {} for kind in COMPONENT_HOOKS}
        for kind, hook in COMPONENT_HOOKS.items():
            host.call_register_hook(hook, catalog._component_acceptor(kind))
        host.call_register_hook("register_families", catalog._accept_families)
        catalog.records = host.records
        for name, record in host.records.items():
            record.provides = catalog.provided_by(name)
            plugin = host.pm.get_plugin(name)
            module = sys.modules.get(getattr(plugin, "__module__", None) or getattr(plugin, "__name__", ""))
            if module is not None and getattr(module, "__file__", None):
                catalog._watched.add(module.__file__)
        return catalog

    def _component_acceptor(self, kind: str) -> Callable:
        from .components import Bundler, Converter, Runtime, SourceKind, Verifier
        from .manifest import check_identifier

        base = {"source": SourceKind, "converter": Converter, "bundler": Bundler, "verifier": Verifier, "runtime": Runtime}[kind]

        def accept(items: list[Any], plugin: str) -> Callable[[], None]:
            staged: dict[str, "Component"] = {}
            for item in items:
                if not isinstance(item, base):
                    raise PluginError(
                        f"plugin '{plugin}' registered {item!r} as a {kind}, but it is not a "
                        f"{base.__module__}.{base.__name__} instance",
                        fix=f"Register an instance of a {base.__name__} subclass.",
                    )
                try:
                    check_identifier(item.name)
                except ValueError:
                    raise PluginError(
                        f"plugin '{plugin}' registered a {kind} named {item.name!r}, which is not a valid id",
                        fix="Use lowercase letters, digits, '.', '_' and '-'.",
                    ) from None
                if item.name in staged:
                    raise DuplicateRegistrationError(kind, item.name, plugin, plugin)
                if item.name in self.components[kind]:
                    raise DuplicateRegistrationError(kind, item.name, self.components[kind][item.name], plugin)
                staged[item.name] = item

            def commit() -> None:
                assert self._objects is not None
                self._objects[kind].update(staged)
                self.components[kind].update({name: plugin for name in staged})
                self.descriptions[kind].update({name: item.description for name, item in staged.items()})
                for name, item in staged.items():
                    if kind == "verifier" and item.by_default and not item.runs_model:
                        for fmt in item.formats:
                            self.default_checks.setdefault(fmt, []).append(name)

            return commit

        return accept

    def _accept_families(self, items: list[Any], plugin: str) -> Callable[[], None]:
        from .errors import ManifestError
        from .manifest import Manifest, parse_manifest, source_problems

        assert self._objects is not None
        schemas = {name: source.options for name, source in self._objects["source"].items()}
        families: dict[str, Family] = {}
        variants: dict[str, "Variant"] = {}
        names: dict[str, Claim] = {}
        watched: list[str] = []
        for item in items:
            if isinstance(item, (str, Path)):
                path = Path(item)
                manifest, where = load_manifest_cached(path), str(path)
                watched.append(str(path))
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
            problems = source_problems(manifest, schemas)
            if problems:
                raise ManifestError(where, problems)
            owner = self.families.get(manifest.family) or families.get(manifest.family)
            if owner:
                raise DuplicateRegistrationError("family", manifest.family, owner.plugin, plugin, where)
            # Family, model and variant names share one namespace across plugins: a query names one
            # thing. (One plugin may call a family and its model alike, as gpt2 does.)
            claimed = self.names.get(manifest.family) or names.get(manifest.family)
            if claimed and claimed.plugin != plugin:
                raise DuplicateRegistrationError("family or model", manifest.family, claimed.plugin, plugin, where)
            families[manifest.family] = Family(
                manifest.family, manifest.description, plugin, where, tuple(m.name for m in manifest.models)
            )
            for variant in manifest.variants(plugin=plugin, manifest_path=where):
                variants[variant.id] = variant
                model_claim = Claim(plugin, variant.family, variant.model)
                variant_claim = model_claim._replace(variant=variant.id)
                claims = [(variant.id, variant_claim)] + [(alias, variant_claim) for alias in variant.aliases]
                claims += [(variant.model, model_claim)] + [(alias, model_claim) for alias in variant.model_aliases]
                for name, claim in claims:
                    existing = self.names.get(name) or names.get(name)
                    if existing and existing != claim:
                        raise DuplicateRegistrationError("model or variant", name, existing.plugin, plugin, where)
                    family = self.families.get(name)
                    if family and family.plugin != plugin:
                        raise DuplicateRegistrationError("family or model", name, family.plugin, plugin, where)
                    names[name] = claim

        def commit() -> None:
            self.families.update(families)
            self._variants.update(variants)
            self.rows.update({vid: variant_row(v) for vid, v in variants.items()})
            self.names.update(names)
            self._watched.update(watched)

        return commit

    # ------------------------------------------------------------------ snapshot

    @staticmethod
    def _snapshot_key() -> str:
        config = settings.get()
        parts = [
            SNAPSHOT_FORMAT,
            __version__,
            sys.version,
            config.load_plugins,
            config.disable_plugin_autoload,
            [asdict(ep) for ep in discover_entry_points()],
        ]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    @staticmethod
    def _stat(path: str) -> list[int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_mtime_ns, st.st_size]

    def save_snapshot(self) -> None:
        """Only a catalog with no failed plugin is snapshotted, so failures are re-tried every run."""
        config = settings.get()
        if config.no_cache or any(r.status == "failed" for r in self.records.values()):
            return
        data = {
            "key": self._snapshot_key(),
            "watched": {path: self._stat(path) for path in sorted(self._watched)},
            "families": {name: asdict(f) for name, f in self.families.items()},
            "rows": self.rows,
            "names": self.names,
            "components": self.components,
            "default_checks": self.default_checks,
            "descriptions": self.descriptions,
            "records": {name: r.as_dict() for name, r in self.records.items()},
        }
        write_cache(config.cache_dir / "catalog-snapshot.json", json.dumps(data))

    @classmethod
    def from_snapshot(cls) -> "Catalog | None":
        config = settings.get()
        if config.no_cache:
            return None
        try:
            data = json.loads((config.cache_dir / "catalog-snapshot.json").read_bytes())
            if data["key"] != cls._snapshot_key():
                return None
            if any(cls._stat(path) != stat for path, stat in data["watched"].items()):
                return None
            catalog = cls()
            catalog.families = {n: Family(**{**f, "models": tuple(f["models"])}) for n, f in data["families"].items()}
            catalog.rows = data["rows"]
            catalog.names = {n: Claim(*v) for n, v in data["names"].items()}
            catalog.components = data["components"]
            catalog.default_checks = data["default_checks"]
            catalog.descriptions = data["descriptions"]
            catalog.records = {n: PluginRecord(**r) for n, r in data["records"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return catalog

    # ------------------------------------------------------------------ queries

    def variant(self, variant_id: str) -> "Variant":
        """The validated Variant (rebuilt from the snapshot's JSON on first use)."""
        if variant_id not in self._variants:
            from .manifest import Variant

            self._variants[variant_id] = Variant.model_validate(
                {k: v for k, v in self.rows[variant_id].items() if k not in ("prebuilt", "quantization_label")}
            )
        return self._variants[variant_id]

    def component(self, kind: str, name: str) -> "Component | None":
        """The registered object itself.

        A catalog from a snapshot knows which plugin registered it, and imports just that plugin
        (1 ms, against 11 ms for every plugin and manifest, which `zoo pull` paid before its first
        byte). Anything else, such as a name nobody registered, loads every plugin for real.
        """
        if self._objects is None:
            owner = self.components[kind].get(name)
            if owner is not None:
                if owner not in self._alone:
                    self._alone[owner] = self._load_alone(owner)
                alone = self._alone[owner]
                if alone is not None and (found := alone.component(kind, name)) is not None:
                    return found
            full = Catalog.load()
            self._objects, self.host = full._objects, full.host
        return self._objects[kind].get(name)

    @staticmethod
    def _load_alone(plugin: str) -> "Catalog | None":
        entry_points = [ep for ep in discover_entry_points() if ep.name == plugin]
        if not entry_points:
            return None
        host = PluginHost()
        host.load_entry_points(entry_points)
        return Catalog.load(host)

    def registered(self, kind: str) -> dict[str, "Component"]:
        """Every loaded component of a kind, by name (imports the plugins if this catalog is a snapshot)."""
        self.component(kind, "")
        assert self._objects is not None
        return dict(self._objects[kind])

    def load_manifest(self, path: Path) -> "Manifest":
        """Read and validate a manifest file as registration would: its schema, then each source
        table with the loaded source kinds' options (`zoo manifest validate`)."""
        from .errors import ManifestError
        from .manifest import load_manifest, source_problems

        manifest = load_manifest(path)
        problems = source_problems(manifest, {name: s.options for name, s in self.registered("source").items()})
        if problems:
            raise ManifestError(path, problems)
        return manifest

    def checks_for(self, variant: "Variant", output) -> list[str]:
        """The checks an output gets: its format's default checks, then those its manifest lists."""
        return self.output_checks(output.path, output.checks)

    def output_checks(self, path: str, listed: list[str]) -> list[str]:
        fmt = path.rsplit(".", 1)[-1] if "." in path else ""
        return [c for c in self.default_checks.get(fmt, []) if c not in listed] + list(listed)

    def toolchains(self) -> dict:
        """Every toolchain a loaded converter, bundler or verifier declares, by name."""
        self.component("converter", "")  # loads the plugins if this catalog came from a snapshot
        assert self._objects is not None
        found = {}
        for kind in ("converter", "bundler", "verifier", "runtime"):
            for component in self._objects[kind].values():
                toolchain = getattr(component, "toolchain", None)
                if toolchain is not None:
                    found.setdefault(toolchain.name, toolchain)
        return dict(sorted(found.items()))

    def runtime_for(self, artifact_format: str):
        """The first loaded runtime that runs artifacts of this format, or None."""
        self.component("runtime", "")
        assert self._objects is not None
        return next((r for r in self._objects["runtime"].values() if artifact_format in r.formats), None)

    def provided_by(self, plugin: str) -> list[str]:
        out = [f"family:{f.name}" for f in self.families.values() if f.plugin == plugin]
        for kind, registered in self.components.items():
            out += [f"{kind}:{name}" for name, owner in registered.items() if owner == plugin]
        return out

    def failed_plugins(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "failed"]

    def dangling_references(self) -> list[ManifestProblem]:
        """Names a variant uses that no plugin registered (a source kind, converter, bundler or check)."""
        problems = []
        for vid, row in self.rows.items():
            wanted = [("source", row["source"]["kind"])]
            if row["recipe"]:
                wanted.append(("converter", row["recipe"]["converter"]))
            if row["bundle"]:
                wanted += [("bundler", b) for b in row["bundle"]["bundlers"]]
            wanted += [("verifier", check) for out in row["outputs"] for check in out["checks"]]
            for kind, name in wanted:
                if name not in self.components[kind]:
                    problems.append(
                        ManifestProblem(
                            vid,
                            f"uses the {kind} '{name}', which no loaded plugin registers",
                            "install the plugin that provides it, or check `zoo plugins`",
                        )
                    )
        return problems


_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    """The process-wide catalog: from the snapshot when it is still valid, else loaded and snapshotted."""
    global _catalog
    if _catalog is None:
        _catalog = Catalog.from_snapshot()
        if _catalog is None:
            _catalog = Catalog.load()
            _catalog.save_snapshot()
    return _catalog


def reset() -> None:
    """Forget the loaded catalog (tests, and long-lived processes after installing plugins)."""
    global _catalog
    _catalog = None
