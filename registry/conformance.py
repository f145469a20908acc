"""Does a plugin hold together? The checks behind `zoo plugins check NAME` and the test kit.

A plugin conforms when it loads, registers something, and everything it registers is usable:
manifests valid (the catalog already refused invalid ones), ids unique, every source kind,
converter, bundler and check its variants name provided by some loaded plugin, each check able to
read the format it is attached to, and toolchain requirements that are exact pins (pip's name==1.2.3,
npm's name@1.2.3), the only kind a committed lock can be made from and checked against.
"""

from __future__ import annotations

import re

from .catalog import Catalog

_NPM_PINNED = re.compile(r"(@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*@\d+\.\d+\.\d+[\w.+-]*")
"""An npm package at one exact version: an npm toolchain is as pinned as a pip one."""


def _is_exact(requirement) -> bool:
    """One `==` version with no wildcard: what a toolchain's lock is made from, and all it may drift by."""
    specifiers = list(requirement.specifier)
    return len(specifiers) == 1 and specifiers[0].operator in ("==", "===") and "*" not in specifiers[0].version


def _is_options_model(value) -> bool:
    from pydantic import BaseModel

    return isinstance(value, type) and issubclass(value, BaseModel)


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
    objects = {kind: catalog.registered(kind) for kind in catalog.components}
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
        problems += [f"{variant_id}: {p}" for p in _recipe_problems(catalog, variant_id, objects)]
        for output in row["outputs"]:
            extension = output["path"].rsplit(".", 1)[-1]
            for check in output["checks"]:
                verifier = objects.get("verifier", {}).get(check)
                if verifier is not None and verifier.formats and extension not in verifier.formats:
                    problems.append(f"{variant_id}: the check '{check}' reads {', '.join(verifier.formats)} files, "
                                    f"not {output['path']}")
    return problems


def _recipe_problems(catalog: Catalog, variant_id: str, objects: dict) -> list[str]:
    """What the variant's converter refuses about its recipe (options, quantization), as `zoo build` would."""
    from .components import BuildOptions
    from .errors import ZooError
    from .params import merge

    row = catalog.rows[variant_id]
    converter = objects.get("converter", {}).get(row["recipe"]["converter"]) if row["recipe"] else None
    if converter is None:
        return []
    variant = catalog.variant(variant_id)
    try:
        converter.validate(variant, BuildOptions(merge(converter.name, converter.parameters, variant.recipe.params, {},
                                                       variant=variant_id)))
    except ZooError as exc:
        return [f"its converter '{converter.name}' refuses the recipe: {exc.message}"]
    except Exception as exc:  # noqa: BLE001 - a converter that crashes on a recipe does not conform
        return [f"its converter '{converter.name}' crashed checking the recipe ({type(exc).__name__}: {exc})"]
    return []


def _component_problems(kind: str, name: str, component) -> list[str]:
    problems = []
    if component is None:
        return [f"{kind} '{name}' could not be loaded"]
    if not (component.description or "").strip():
        problems.append(f"{kind} '{name}' has no description (shown by `zoo plugins` and the docs)")
    toolchain = getattr(component, "toolchain", None)
    if kind == "converter" and toolchain is None:
        problems.append(f"converter '{name}' declares no toolchain; converters run in one (registry.api.Toolchain)")
    if toolchain is not None and toolchain.kind == "npm":
        for requirement in toolchain.requirements:
            if not _NPM_PINNED.fullmatch(requirement):
                problems.append(f"{kind} '{name}': npm toolchain requirement {requirement!r} is not a pinned "
                                "name@version (e.g. '@scope/package@1.2.3')")
    elif toolchain is not None and toolchain.kind != "pip":
        problems.append(f"{kind} '{name}': toolchain kind {toolchain.kind!r} is neither 'pip' nor 'npm'")
    elif toolchain is not None:
        from packaging.requirements import InvalidRequirement, Requirement

        for requirement in toolchain.requirements:
            try:
                parsed = Requirement(requirement)
            except InvalidRequirement as exc:
                problems.append(f"{kind} '{name}': toolchain requirement {requirement!r} is not valid ({exc})")
                continue
            if not _is_exact(parsed):
                problems.append(f"{kind} '{name}': toolchain requirement {requirement!r} is not an exact pin; pin "
                                "one version (e.g. 'numpy==2.4.6'), and ship a lock made with `zoo toolchain lock`")
    from .params import type_problem

    for key, param in (getattr(component, "parameters", None) or {}).items():
        problem = type_problem(getattr(param, "type", None))
        if problem:  # a dict type passed, and delivered the user's text as a string
            problems.append(f"{kind} '{name}': option {key!r}: {problem}")
    if kind in ("verifier", "runtime") and not getattr(component, "formats", ()):
        problems.append(f"{kind} '{name}' lists no formats")
    if kind == "source" and component.options is not None and not _is_options_model(component.options):
        problems.append(f"source '{name}': options must be a pydantic model (a registry.api.SourceOptions subclass)")
    return problems
