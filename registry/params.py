"""Build options: a converter declares the `Param`s it takes; zoo checks and types every value once.

Values come from three places, each overriding the one before: the declared default, the recipe's
`params` in the manifest (already typed by TOML) and the user's `--param KEY=VALUE` (always text).
The converter, its bundlers and its checks then all read the same merged mapping.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, get_args, get_origin

from .components import Param
from .errors import BuildError

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


PARAM_TYPES = (str, int, float, bool, list[int], list[str], list[float])
"""The types a `Param` may declare: what `--param KEY=VALUE` text converts to."""


def type_problem(kind: Any) -> str | None:
    """Why a declared Param type cannot be given on the command line, or None when it can."""
    if kind in PARAM_TYPES:
        return None
    return (f"its type {getattr(kind, '__name__', kind)!r} is none zoo converts --param text to "
            "(str, int, float, bool, list[int], list[str], list[float])")


def type_name(kind: Any) -> str:
    if get_origin(kind) is list:
        return f"a comma-separated list of {type_name(get_args(kind)[0]).removeprefix('a ')}s"
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(kind, getattr(kind, "__name__", str(kind)))


def _convert(value: Any, kind: Any) -> Any:
    """`value` as `kind`; raise ValueError when it is not one. Text is parsed, typed values are checked."""
    if get_origin(kind) is list:
        (item,) = get_args(kind) or (str,)
        parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
        if not isinstance(parts, list) or not parts or any(p == "" for p in parts):
            raise ValueError
        return [_convert(p, item) for p in parts]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        return float(value)
    if isinstance(value, (dict, list)):
        raise ValueError
    return str(value)


def merge(component: str, declared: Mapping[str, Param], recipe: Mapping[str, Any], overrides: Mapping[str, Any],
          *, variant: str) -> Mapping[str, Any]:
    """The effective options of one build, read-only. An option the component does not declare is
    refused (a recipe's only when the component declares any, so a plugin that reads its own recipe
    keys without declaring them keeps working), as is a value of the wrong type."""
    names = ", ".join(f"{name} ({p.description})" for name, p in declared.items()) or "none"
    unknown = [k for k in overrides if k not in declared] + ([k for k in recipe if k not in declared] if declared else [])
    if unknown:
        where = "--param" if unknown[0] in overrides else f"{variant}'s recipe"
        raise BuildError(f"The {component} converter has no option {unknown[0]!r} (given in {where}).",
                         fix=f"Its options are: {names}." if declared else f"The {component} converter takes no --param options.")
    merged: dict[str, Any] = {name: p.default for name, p in declared.items() if p.default is not None}
    for source, values in (("the recipe", recipe), ("--param", overrides)):
        for key, value in values.items():
            kind = declared[key].type if key in declared else None
            try:
                merged[key] = value if kind is None else _convert(value, kind)
            except (ValueError, TypeError):
                raise BuildError(f"{key}={value!r} (from {source}) is not {type_name(kind)}.",
                                 fix=f"Give {key} as {type_name(kind)} ({declared[key].description}).") from None
    return MappingProxyType(merged)


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """`--param KEY=VALUE` pairs as text; the converter's declarations type them later."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BuildError(f"--param {pair!r} is not KEY=VALUE.", fix="Write it like --param kv_cache_max_len=128.")
        out[key.strip()] = value.strip()
    return out
