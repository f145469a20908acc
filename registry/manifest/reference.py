"""The manifest reference (docs/manifest.md), rendered from the pydantic models so it cannot drift."""

from __future__ import annotations

import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from . import schema as m

SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("The file", m.Manifest, "Top-level keys of a manifest (one TOML file per family)."),
    ("models[]", m.ModelSpec, "A model and what its variants share; `[[models]]`."),
    ("models[].variants[]", m.VariantSpec, "One artifact; keys left out are inherited from the model; `[[models.variants]]`."),
    ("license", m.License, ""),
    ("source", m.Source, "The table's other keys belong to its kind; the loaded source kinds' keys follow."),
    ("files[]", m.FileSpec, "Each file is checked against size and sha256 before it enters the store."),
    ("recipe", m.Recipe, "How a variant is built when it is not downloaded ready-made."),
    ("bundle", m.BundleStep, ""),
    ("bundle.prompt_template", m.PromptTemplate, ""),
    ("lora", m.LoraOptions, ""),
    ("outputs[]", m.OutputSpec, "Default: one output named `<id>.<format>` with the format's default checks."),
    ("inference", m.Inference, "Defaults matching the MediaPipe LLM Inference API's options."),
    ("quantization (per-part bit widths)", m.BitWidths, "Instead of int4/int8/fp16/fp32 (MediaPipe converter only)."),
]


def _type_name(annotation: typing.Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        names = [_type_name(a) for a in args]
        return " or ".join(dict.fromkeys(names))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return getattr(annotation, "__name__", str(annotation))


def _source_kinds() -> list[tuple[str, type[BaseModel], str]]:
    """The loaded source kinds that declare options, each with its keys' model (built-ins under tests)."""
    from ..catalog import get_catalog

    return [(name, source.options, source.description) for name, source in sorted(get_catalog().registered("source").items())
            if source.options is not None]


def render() -> str:
    lines = [
        "# Manifest reference",
        "",
        "Generated from `registry/manifest/schema.py` and the loaded source kinds by `zoo manifest schema --markdown`; a test fails when it drifts.",
        "The JSON Schema is `manifests/schema.json` (`zoo manifest schema`). Unknown keys are errors.",
        "",
    ]
    sections = list(SECTIONS)
    at = next(i for i, (title, _, _) in enumerate(sections) if title == "source") + 1
    sections[at:at] = [(f"source (kind = \"{name}\")", options, description) for name, options, description in _source_kinds()]
    for title, model, text in sections:
        lines += [f"## {title}", ""]
        if text:
            lines += [text, ""]
        lines += ["| key | type | required | default | meaning |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            default = "" if field.is_required() else (
                "" if field.default is PydanticUndefined or field.default is None else f"`{field.default!r}`")
            if field.default_factory is not None:
                default = "empty"
            doc = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {_type_name(field.annotation)} | {'yes' if field.is_required() else ''} | {default} | {doc} |")
        lines.append("")
    return "\n".join(lines)
