"""Rules that span fields, so no single field validator can see them: ids unique in the file,
defaults that settle every backend, outputs that name downloaded files, and each source table
checked with its kind's declared options."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from ..errors import ManifestProblem
from .problems import problems_from_validation_error
from .schema import Manifest, ModelSpec, Variant


def _default_problems(model: ModelSpec, mpath: str) -> list[ManifestProblem]:
    """`defaults` names this model's variants, each once, and settles `--backend` for every backend it has."""
    ids = [v.id for v in model.variants]
    problems = []
    for d, name in enumerate(model.defaults):
        if name not in ids:
            problems.append(ManifestProblem(f"{mpath}.defaults[{d}]", f"'{name}' is not a variant of {model.name}",
                                            f"use one of {', '.join(ids)}"))
        elif model.defaults.index(name) != d:
            problems.append(ManifestProblem(f"{mpath}.defaults[{d}]", f"'{name}' is listed twice", "list each variant once"))
    if model.defaults:
        listed = {v.backend for v in model.variants if v.id in model.defaults}
        for backend in sorted({v.backend for v in model.variants} - listed):
            problems.append(ManifestProblem(
                f"{mpath}.defaults", f"no {backend} variant is listed, so `--backend {backend}` would still match several",
                f"add the {backend} variant users should get by default"))
    return problems


def cross_checks(manifest: Manifest) -> list[ManifestProblem]:
    """Rules that span fields, so a single field validator cannot see them."""
    problems: list[ManifestProblem] = []
    seen: dict[str, str] = {}

    def claim(name: str, where: str) -> None:
        if name in seen:
            problems.append(
                ManifestProblem(where, f"'{name}' is already used at {seen[name]}", "give every id and alias a unique name")
            )
        else:
            seen[name] = where

    for m, model in enumerate(manifest.models):
        mpath = f"models[{m}]"
        claim(model.name, f"{mpath}.name")
        problems += _default_problems(model, mpath)
        if model.by_reference is not None and any((spec.recipe or model.recipe) is None for spec in model.variants):
            problems.append(ManifestProblem(
                f"{mpath}.by_reference",
                "`zoo build NAME:REFERENCE` builds a variant from the repo named, but this model has ready-made variants",
                "give the model a recipe (every variant must be built), or remove by_reference",
            ))
        for a, alias in enumerate(model.aliases):
            claim(alias, f"{mpath}.aliases[{a}]")
        for v, spec in enumerate(model.variants):
            vpath = f"{mpath}.variants[{v}]"
            if spec.id != model.name:
                claim(spec.id, f"{vpath}.id")
            for a, alias in enumerate(spec.aliases):
                claim(alias, f"{vpath}.aliases[{a}]")
            problems += _variant_problems(manifest, model, spec, vpath)
    return problems


def _variant_problems(manifest: Manifest, model, spec, vpath: str) -> list[ManifestProblem]:
    """The rules one variant must meet once its model's defaults are applied to it."""
    problems: list[ManifestProblem] = []
    variant = Variant.from_specs(manifest, model, spec, plugin="", manifest_path="")
    if spec.ready_made and spec.files is None:
        problems.append(ManifestProblem(
            f"{vpath}.files", "a ready_made variant of a model with a recipe must list the files it downloads",
            "add files = [{ path = ..., role = 'weights', size = ... }] to this variant"))
    if variant.accelerator == "web" and "web" not in variant.platforms:
        problems.append(ManifestProblem(f"{vpath}.accelerator", "a file compiled for the web must list the web platform",
                                        "set platforms = ['web'] on this variant"))
    if "web" in variant.platforms and variant.backend != "gpu":
        problems.append(
            ManifestProblem(
                f"{vpath}.platforms",
                "the web runtime runs only models encoded for the gpu backend, but this variant is 'cpu'",
                "drop 'web' from platforms for this variant, or list platforms on the variant itself",
            )
        )
    if variant.recipe is None and not any(f.role == "weights" for f in variant.files):
        problems.append(
            ManifestProblem(
                f"{vpath}.files",
                "a prebuilt variant (no recipe) must list the weights file it downloads",
                "add a [[...files]] entry with role = 'weights', or add a recipe to build it",
            )
        )
    names = [f.path for f in variant.files]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(ManifestProblem(f"{vpath}.files", f"'{dup}' is listed twice", "list each file once"))
    if variant.recipe is None:
        for o, output in enumerate(variant.outputs):
            if output.path not in names:
                where = f"{vpath}.outputs[{o}].path" if spec.outputs else f"{vpath}.files"
                problems.append(ManifestProblem(
                    where,
                    f"the output '{output.path}' is none of the files this ready-made variant downloads "
                    f"({', '.join(names) or 'none'}), so its checks could never run",
                    "name the downloaded file in outputs (or list it in files)",
                ))
    return problems


def source_problems(manifest: Manifest, sources: dict[str, type[BaseModel] | None]) -> list[ManifestProblem]:
    """Each `source` table's options checked with its kind's declared model (`sources`: kind -> the
    plugin's SourceOptions subclass, or None for a kind that declares none). A kind nobody
    registered is left to the catalog, which reports it as a dangling reference."""
    problems: list[ManifestProblem] = []
    for m, model in enumerate(manifest.models):
        tables = [(f"models[{m}].source", model.source)]
        if model.by_reference is not None and model.by_reference.kind in sources:
            found = getattr(sources[model.by_reference.kind], "model_fields", None)
            unknown = sorted(set(model.by_reference.model_extra or {}) - set(found if found is not None else ()))
            if found is not None and unknown:
                problems.append(ManifestProblem(f"models[{m}].by_reference.{unknown[0]}",
                                                f"the '{model.by_reference.kind}' source has no option '{unknown[0]}'",
                                                f"use one of {', '.join(found)}"))
        tables += [(f"models[{m}].variants[{v}].source", spec.source) for v, spec in enumerate(model.variants)]
        for where, source in tables:
            if source is None or source.kind not in sources:
                continue
            schema, options = sources[source.kind], dict(source.model_extra or {})
            if schema is None:
                continue
            try:
                schema.model_validate(options)
            except ValidationError as exc:
                problems += problems_from_validation_error(exc, root=schema, prefix=where)
    return problems
