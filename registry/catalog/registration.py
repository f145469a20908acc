"""Registration: what a plugin's register_* hooks hand zoo, validated and committed, or refused.

Ids live in one namespace across all plugins, so a name two plugins claim is refused naming both
(and the manifest file); the second plugin is marked failed and the rest of the catalog stays
usable. Everything one plugin registers in a hook is staged first and committed only whole.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from .. import __version__, settings
from ..errors import DuplicateRegistrationError, PluginError
from ..fsutil import write_cache
from ..identifiers import IDENTIFIER

if TYPE_CHECKING:
    from ..components import Component
    from ..manifest import Manifest, Variant
    from .catalog import Catalog

COMPONENT_HOOKS: dict[str, str] = {
    "source": "register_sources",
    "converter": "register_converters",
    "bundler": "register_bundlers",
    "verifier": "register_verifiers",
    "runtime": "register_runtimes",
    "format": "register_formats",
}


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
    from ..manifest import SCHEMA_VERSION, Manifest, load_manifest

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


def component_acceptor(catalog: "Catalog", kind: str) -> Callable:
    from ..components import Bundler, Converter, Format, Runtime, SourceKind, Verifier

    base = {"source": SourceKind, "converter": Converter, "bundler": Bundler, "verifier": Verifier, "runtime": Runtime,
            "format": Format}[kind]

    def accept(items: list[Any], plugin: str) -> Callable[[], None]:
        staged: dict[str, "Component"] = {}
        for item in items:
            if not isinstance(item, base):
                raise PluginError(
                    f"plugin '{plugin}' registered {item!r} as a {kind}, but it is not a "
                    f"registry.api.{base.__name__} instance",
                    fix=f"Register an instance of a {base.__name__} subclass.",
                )
            if not isinstance(item.name, str) or not re.fullmatch(IDENTIFIER, item.name):
                raise PluginError(
                    f"plugin '{plugin}' registered a {kind} named {item.name!r}, which is not a valid id",
                    fix="Use lowercase letters, digits, '.', '_' and '-'.",
                )
            if kind == "format" and not re.fullmatch(r"\.[a-z0-9][a-z0-9._-]{0,30}", item.suffix or ""):
                raise PluginError(
                    f"plugin '{plugin}' registered the format '{item.name}' with the suffix {item.suffix!r}, which is "
                    "no file name ending",
                    fix="Give the Format a suffix such as '.gguf': a dot, then lowercase letters, digits, '.', '_' or '-'.",
                )
            if item.name in staged:
                raise DuplicateRegistrationError(kind, item.name, plugin, plugin)
            if item.name in catalog.components[kind]:
                raise DuplicateRegistrationError(kind, item.name, catalog.components[kind][item.name], plugin)
            staged[item.name] = item

        return lambda: catalog.add_components(kind, plugin, staged)

    return accept


def accept_families(catalog: "Catalog", items: list[Any], plugin: str) -> Callable[[], None]:
    from ..errors import ManifestError
    from ..manifest import Manifest, parse_manifest, source_problems

    schemas = {name: source.options for name, source in catalog.loaded("source").items()}
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
        owner = catalog.families.get(manifest.family) or families.get(manifest.family)
        if owner:
            raise DuplicateRegistrationError("family", manifest.family, owner.plugin, plugin, where)
        # Family, model and variant names share one namespace across plugins: a query names one
        # thing. (One plugin may call a family and its model alike, as gpt2 does.)
        claimed = catalog.names.get(manifest.family) or names.get(manifest.family)
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
                existing = catalog.names.get(name) or names.get(name)
                if existing and existing != claim:
                    raise DuplicateRegistrationError("model or variant", name, existing.plugin, plugin, where)
                family = catalog.families.get(name)
                if family and family.plugin != plugin:
                    raise DuplicateRegistrationError("family or model", name, family.plugin, plugin, where)
                names[name] = claim

    return lambda: catalog.add_families(families, variants, names, watched)
