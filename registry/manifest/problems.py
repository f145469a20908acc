"""Turning pydantic's validation errors into manifest problems: the key path an author wrote, a
plain message ("did you mean 'revision'?") and the fix."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from ..errors import ManifestProblem
from .schema import Manifest


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through Optional, list, Union and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    return found


def _known_keys(loc: tuple[Any, ...], root: type[BaseModel] | None = None) -> list[str]:
    """The keys allowed in the table that holds the unknown key at `loc` (under `root`, the Manifest)."""
    models: list[type[BaseModel]] = [root or Manifest]
    parts = list(loc[:-1])
    for part in parts:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                nxt += _models_in(field.annotation)
        models = nxt
    return sorted({name for model in models for name in model.model_fields})


def _fix_for(error: dict[str, Any], key_path: str, root: type[BaseModel] | None = None) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    leaf = key_path.rsplit(".", 1)[-1] if key_path else "the key"
    if ctx.get("fix"):
        return str(ctx["fix"])
    if kind == "extra_forbidden":
        known = _known_keys(tuple(error["loc"]), root)
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1, cutoff=0.6)
        allowed = f"the keys allowed here are {', '.join(known)}"
        return f"rename it to '{close[0]}'; {allowed}" if close else f"remove it; {allowed}"
    if kind == "missing":
        return f"add `{leaf} = ...` (see `zoo manifest schema` for its type)"
    if kind == "quantization":
        return "write quantization = 'int8' (or int4, fp16, fp32)"
    if kind in ("literal_error", "enum"):
        return f"use one of {ctx.get('expected', 'the allowed values')}"
    if kind == "unsafe_path":
        return "use a plain relative name such as 'model.safetensors' or 'tokenizer/vocab.json'"
    if kind == "sha256":
        return "paste the file's `sha256sum` output (64 lowercase hex digits), or leave sha256 out to pin on first download"
    if kind == "identifier":
        return "rename it, e.g. 'phi-2-gpu-int8'"
    if kind == "https_url":
        return "use an https:// URL; put credentials in environment variables, never in the manifest"
    if kind == "gated_without_accept_url":
        return "add accept_url = 'https://...' pointing at the licence page"
    if kind.startswith(("int_", "float_", "string_", "bool_", "list_", "dict_", "model_")) or kind.endswith("_type"):
        return f"give {leaf} a value of the right type (see `zoo manifest schema`)"
    if kind.startswith(("greater_than", "less_than", "too_short", "too_long")):
        return f"change {leaf} to satisfy that limit"
    return "correct the value (see `zoo manifest schema`)"


def problems_from_validation_error(exc: ValidationError, *, root: type[BaseModel] | None = None,
                                   prefix: str = "") -> list[ManifestProblem]:
    """One problem per pydantic error; `root` and `prefix` place errors of a nested model (a source's options)."""
    problems = []
    for error in exc.errors():
        key_path = ".".join(p for p in (prefix, _format_loc(tuple(error["loc"]))) if p)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            known = _known_keys(tuple(error["loc"]), root)
            close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1, cutoff=0.6)
            message = f"unknown key '{error['loc'][-1]}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        problem = ManifestProblem(key_path, message, _fix_for(error, key_path, root))
        if problem not in problems:
            problems.append(problem)
    return problems
