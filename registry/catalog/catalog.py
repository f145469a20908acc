"""The catalog: every family, variant and component that the loaded plugins registered, and the
queries the commands ask of it. A catalog comes from loading the plugins (`Catalog.load`, through
registration.py) or from the snapshot (snapshot.py); `component()` imports a plugin's code only
when a command needs it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ManifestProblem
from ..plugins import PluginHost, PluginRecord, discover_entry_points
from . import snapshot
from .registration import COMPONENT_HOOKS, Claim, Family, accept_families, component_acceptor, variant_row

if TYPE_CHECKING:
    from ..components import Component
    from ..manifest import Manifest, Variant


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
        self.formats: dict[str, dict[str, Any]] = {}
        """Format name -> its suffix, its check and its platforms (`Format`), kept so light commands need no plugin."""
        self.default_checks: dict[str, list[str]] = {}
        """Format name -> the verifiers that check every file of it (`Format.verifier`, `Verifier.by_default`)."""
        self.runtime_formats: dict[str, list[str]] = {}
        """Runtime name -> the formats it runs, in registration order, so `runtime_for` imports one plugin only."""
        self.default_run_checks: dict[str, list[str]] = {}
        """File format -> default checks that run the model: builds run them where `Verifier.applies_to`."""
        self.records: dict[str, PluginRecord] = {}
        self.host: PluginHost | None = None
        self._objects: dict[str, dict[str, "Component"]] | None = None
        self._alone: dict[str, "Catalog | None"] = {}
        """Plugin name -> a catalog of that plugin alone (see `component`)."""
        self._variants: dict[str, "Variant"] = {}
        self.watched: set[str] = set()
        """The files this catalog was read from (plugin modules, manifests): a snapshot is stale once one changes."""

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
            host.call_register_hook(hook, component_acceptor(catalog, kind))
        host.call_register_hook("register_families", lambda items, plugin: accept_families(catalog, items, plugin))
        catalog.records = host.records
        for name, record in host.records.items():
            record.provides = catalog.provided_by(name)
            plugin = host.pm.get_plugin(name)
            module = sys.modules.get(getattr(plugin, "__module__", None) or getattr(plugin, "__name__", ""))
            if module is not None and getattr(module, "__file__", None):
                catalog.watched.add(module.__file__)
        return catalog

    def save_snapshot(self) -> None:
        """Only a catalog with no failed plugin is snapshotted, so failures are re-tried every run."""
        if not any(r.status == "failed" for r in self.records.values()):
            snapshot.save(self.to_data(), self.watched)

    @classmethod
    def from_snapshot(cls) -> "Catalog | None":
        data = snapshot.load()
        if data is None:
            return None
        try:
            return cls.from_data(data)
        except (KeyError, TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ (de)serialisation and registration

    def to_data(self) -> dict[str, Any]:
        """The catalog as plain JSON data: everything but the plugins' objects, which `component()` loads."""
        return {
            "families": {name: asdict(f) for name, f in self.families.items()},
            "rows": self.rows,
            "names": self.names,
            "components": self.components,
            "formats": self.formats,
            "runtime_formats": self.runtime_formats,
            "default_checks": self.default_checks,
            "default_run_checks": self.default_run_checks,
            "descriptions": self.descriptions,
            "records": {name: r.as_dict() for name, r in self.records.items()},
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Catalog":
        """The catalog `to_data` described (KeyError or TypeError for data it did not write)."""
        catalog = cls()
        catalog.families = {n: Family(**{**f, "models": tuple(f["models"])}) for n, f in data["families"].items()}
        catalog.rows = data["rows"]
        catalog.names = {n: Claim(*v) for n, v in data["names"].items()}
        catalog.components = data["components"]
        catalog.formats = data["formats"]
        catalog.runtime_formats = data["runtime_formats"]
        catalog.default_checks = data["default_checks"]
        catalog.default_run_checks = data.get("default_run_checks", {})
        catalog.descriptions = data["descriptions"]
        catalog.records = {n: PluginRecord(**r) for n, r in data["records"].items()}
        return catalog

    def add_components(self, kind: str, plugin: str, components: dict[str, "Component"]) -> None:
        """Commit what one plugin registered of a kind (registration checked it whole first)."""
        assert self._objects is not None
        self._objects[kind].update(components)
        self.components[kind].update({name: plugin for name in components})
        self.descriptions[kind].update({name: item.description for name, item in components.items()})
        for name, item in components.items():
            if kind == "runtime":
                self.runtime_formats[name] = list(item.formats)
            if kind == "format":
                self.formats[name] = {"suffix": item.suffix, "verifier": item.verifier, "platforms": list(item.platforms)}
                if item.verifier:
                    checks = self.default_checks.setdefault(name, [])
                    if item.verifier not in checks:
                        checks.insert(0, item.verifier)
            if kind == "verifier" and item.by_default:
                defaults = self.default_run_checks if item.runs_model else self.default_checks
                for fmt in item.formats:
                    if name not in defaults.setdefault(fmt, []):
                        defaults[fmt].append(name)

    def add_families(self, families: dict[str, Family], variants: dict[str, "Variant"], names: dict[str, Claim],
                     read_from: list[str]) -> None:
        """Commit the families one plugin registered, their variants and the names they claim."""
        self.families.update(families)
        self._variants.update(variants)
        self.rows.update({vid: variant_row(v) for vid, v in variants.items()})
        self.names.update(names)
        self.watched.update(read_from)

    def loaded(self, kind: str) -> dict[str, "Component"]:
        """The components of a kind loaded so far, without importing anything (registration's view)."""
        return dict(self._objects[kind]) if self._objects is not None else {}

    # ------------------------------------------------------------------ queries

    def variant(self, variant_id: str) -> "Variant":
        """The validated Variant (rebuilt from the snapshot's JSON on first use)."""
        if variant_id not in self._variants:
            from ..manifest import Variant

            self._variants[variant_id] = Variant.model_validate(
                {k: v for k, v in self.rows[variant_id].items() if k not in ("prebuilt", "quantization_label")}
            )
        return self._variants[variant_id]

    def variant_id_of(self, entry) -> str | None:
        """The catalog variant a store entry is an artifact of: its own id, or, for a build under an id
        of its own (`--from DIR`, `--lora`, `MODEL:REFERENCE`), the variant it was built as; None for
        an entry no loaded manifest describes."""
        for candidate in (entry.id, entry.source.get("variant")):
            if candidate in self.rows:
                return candidate
        return None

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
        from ..errors import ManifestError
        from ..manifest import load_manifest, source_problems

        manifest = load_manifest(path)
        problems = source_problems(manifest, {name: s.options for name, s in self.registered("source").items()})
        if problems:
            raise ManifestError(path, problems)
        return manifest

    def checks_for(self, variant: "Variant", output) -> list[str]:
        """The checks an output gets: its format's default checks, then those its manifest lists."""
        return self.output_checks(output.path, output.checks)

    def build_checks_for(self, variant: "Variant", output) -> list[str]:
        """The checks a build runs on an output: `checks_for`, then each default check that runs the model
        and applies to this variant (the Web runtime for web-capable gpu variants). Pulls never run those."""
        checks = self.checks_for(variant, output)
        for name in self.default_run_checks.get(self.format_of(output.path) or "", []):
            verifier = self.component("verifier", name)
            if name not in checks and verifier is not None and verifier.applies_to(variant, output):
                checks.append(name)
        return checks

    def output_checks(self, path: str, listed: list[str]) -> list[str]:
        defaults = self.default_checks.get(self.format_of(path) or "", [])
        return [c for c in defaults if c not in listed] + list(listed)

    def format_of(self, path: str) -> str | None:
        """The registered format whose suffix the file name ends in (the longest such suffix), or None."""
        name = path.rsplit("/", 1)[-1].lower()
        matches = [(len(f["suffix"]), fmt) for fmt, f in self.formats.items() if name.endswith(f["suffix"])]
        return max(matches)[1] if matches else None

    def toolchains(self) -> dict:
        """Every toolchain a loaded converter, bundler, verifier or runtime declares, and zoo's signing one, by name."""
        self.component("converter", "")  # loads the plugins if this catalog came from a snapshot
        assert self._objects is not None
        from ..signing import SIGNING

        found = {SIGNING.name: SIGNING}  # zoo's own: `zoo sign` and signature checks
        for kind in ("converter", "bundler", "verifier", "runtime"):
            for component in self._objects[kind].values():
                toolchain = getattr(component, "toolchain", None)
                if toolchain is not None:
                    found.setdefault(toolchain.name, toolchain)
        return dict(sorted(found.items()))

    def runtime_for(self, artifact_format: str):
        """The first loaded runtime that runs artifacts of this format, or None. Only the plugin that
        registered it is imported (a snapshot knows which): `zoo run` starts its job 0.13 s sooner."""
        name = next((n for n, formats in self.runtime_formats.items() if artifact_format in formats), None)
        return self.component("runtime", name) if name is not None else None

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
            wanted.append(("format", row["format"]))
            fmt = self.formats.get(row["format"])
            if fmt is not None:
                wanted += [("verifier", fmt["verifier"])] if fmt["verifier"] else []
                main = row["outputs"][0]["path"]
                if not main.lower().endswith(fmt["suffix"]):
                    problems.append(ManifestProblem(vid, f"its main output '{main}' does not end in {fmt['suffix']}, "
                                                    f"the suffix of its format '{row['format']}'",
                                                    f"rename it to end in {fmt['suffix']}, or change format"))
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
