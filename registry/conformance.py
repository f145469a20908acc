"""Does a plugin hold together? The checks behind `zoo plugins check NAME` and the test kit.

A plugin conforms when it loads, registers something, and everything it registers is usable:
manifests valid (the catalog already refused invalid ones), ids unique, every source kind,
converter, bundler and check its variants name provided by some loaded plugin, each check able to
read the format it is attached to, and toolchain requirements that pip can parse.
"""

from __future__ import annotations

from .catalog import Catalog


def check_plugin(name: str, catalog: Catalog) -> list[str]:
    """Problems with plugin `name` in `catalog` (an empty list means it conforms)."""
    record = catalog.records.get(name)
    if record is None:
        installed = ", ".join(sorted(r for r, rec in catalog.records.items() if not rec.builtin)) or "none"
        return [f"no plugin named '{name}' is installed (third-party plugins: {installed}); "
                "check the entry point in the package's pyproject.toml and ZOO_LOAD_PLUGINS"]
    if record.status == "disabled":
        return [f"'{name}' is installed but disabled by ZOO_LOAD_PLUGINS / ZOO_DISABLE_PLUGIN_AUTOLOAD"]
    if record.status != "loaded":
        return [f"'{name}' failed to load: {record.error}"]
    problems: list[str] = []
    provides = catalog.provided_by(name)
    if not provides:
        problems.append(f"'{name}' registers nothing: implement at least one register_* hook (`zoo plugins` shows its hooks)")
    catalog.component("converter", "")  # load the component objects if this catalog came from a snapshot
    objects = catalog._objects or {}
    for kind, registered in catalog.components.items():
        for component_name, owner in registered.items():
            if owner != name:
                continue
            component = objects.get(kind, {}).get(component_name)
            problems += _component_problems(kind, component_name, component)
    families = {f.name for f in catalog.families.values() if f.plugin == name}
    for variant_id, row in catalog.rows.items():
        if row["family"] not in families:
            continue
        problems += [f"{variant_id}: {p.problem}" for p in catalog.dangling_references() if p.key_path == variant_id]
        for output in row["outputs"]:
            extension = output["path"].rsplit(".", 1)[-1]
            for check in output["checks"]:
                verifier = objects.get("verifier", {}).get(check)
                if verifier is not None and verifier.formats and extension not in verifier.formats:
                    problems.append(f"{variant_id}: the check '{check}' reads {', '.join(verifier.formats)} files, "
                                    f"not {output['path']}")
    return problems


def _component_problems(kind: str, name: str, component) -> list[str]:
    problems = []
    if component is None:
        return [f"{kind} '{name}' could not be loaded"]
    if not (component.description or "").strip():
        problems.append(f"{kind} '{name}' has no description (shown by `zoo plugins` and the docs)")
    toolchain = getattr(component, "toolchain", None)
    if kind == "converter" and toolchain is None:
        problems.append(f"converter '{name}' declares no toolchain; converters run in one (registry.components.Toolchain)")
    if toolchain is not None:
        from packaging.requirements import InvalidRequirement, Requirement

        for requirement in toolchain.requirements:
            try:
                Requirement(requirement)
            except InvalidRequirement as exc:
                problems.append(f"{kind} '{name}': toolchain requirement {requirement!r} is not valid ({exc})")
    if kind in ("verifier", "runtime") and not getattr(component, "formats", ()):
        problems.append(f"{kind} '{name}' lists no formats")
    return problems
