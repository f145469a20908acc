"""Turns what a user typed (an id, an alias, or a model plus options) into exactly one variant.

It works on the catalog's plain rows, so resolving a name never needs pydantic or a plugin import.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .errors import AmbiguousVariantError, UnknownVariantError, VariantMismatchError

# option -> (row key, the CLI flag that sets it)
OPTIONS: dict[str, tuple[str, str]] = {
    "family": ("family", "--family"),
    "backend": ("backend", "--backend"),
    "quant": ("quantization_label", "--quant"),
    "format": ("format", "--format"),
    "platform": ("platforms", "--platform"),
    "accelerator": ("accelerator", "--accelerator"),
}


@dataclass(frozen=True)
class Filters:
    family: str | None = None
    backend: str | None = None
    quant: str | None = None
    platform: str | None = None
    format: str | None = None
    accelerator: str | None = None

    def given(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in OPTIONS if getattr(self, k) is not None}

    def mismatch(self, row: dict[str, Any]) -> str | None:
        """The first option this variant does not satisfy, e.g. 'its backend is gpu, not cpu'."""
        for option, wanted in self.given().items():
            actual = row.get(OPTIONS[option][0])
            if option == "accelerator":  # npu matches every chip's file, npu:qualcomm-sm8750 one
                if actual != wanted and not str(actual).startswith(f"{wanted}:"):
                    return f"it is compiled for {actual}, not {wanted}"
                continue
            if isinstance(actual, list):
                if wanted not in actual:
                    return f"it does not run on {wanted} (only {', '.join(actual)})"
            elif actual != wanted:
                return f"its {option} is {actual}, not {wanted}"
        return None

    def matches(self, row: dict[str, Any]) -> bool:
        return self.mismatch(row) is None


def filter_rows(catalog: Catalog, filters: Filters) -> list[dict[str, Any]]:
    return [row for row in catalog.rows.values() if filters.matches(row)]


def suggestions(catalog: Catalog, query: str, n: int = 3) -> list[str]:
    names = sorted(set(catalog.names) | set(catalog.families))
    close = difflib.get_close_matches(query, names, n=n, cutoff=0.6)
    return close or [name for name in names if query and query in name][:n]


def candidates(catalog: Catalog, query: str, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Every variant `query` may mean under `filters`; raises UnknownVariantError when there is none."""
    filters = filters or Filters()
    claim = catalog.names.get(query)
    if claim and claim.variant:
        row = catalog.rows[claim.variant]
        problem = filters.mismatch(row)
        if problem:
            raise VariantMismatchError(
                f"'{query}' is the variant {row['id']}, but {problem}.",
                fix=f"Drop that option, or ask for the model instead: `zoo info {row['model']}` lists its variants.",
            )
        return [row]
    if claim:
        pool = [r for r in catalog.rows.values() if r["family"] == claim.family and r["model"] == claim.model]
    elif query in catalog.families:
        pool = [r for r in catalog.rows.values() if r["family"] == query]
    else:
        raise UnknownVariantError(query, suggestions(catalog, query))
    found = [r for r in pool if filters.matches(r)]
    if not found:
        available = ", ".join(sorted(f"{r['id']} ({r['backend']}, {r['quantization_label']})" for r in pool))
        given = " ".join(f"{OPTIONS[k][1]} {v}" for k, v in filters.given().items())
        raise UnknownVariantError(query, [], detail=f" with {given}; it has {available}")
    return found


def resolve(catalog: Catalog, query: str, filters: Filters | None = None, purpose: str | None = None) -> dict[str, Any]:
    """The one variant row for `query`, or an error that says how to pick one.

    Order: exact variant id or alias, then model name or alias, then family name. `purpose` ("pull"
    or "build") keeps the ready-made, or the buildable, variants of a model that has both. When several
    variants remain, the first of them in the model's `defaults` is chosen; the row then carries
    `chosen_by_default` ({"query", "others"}) so the command can say so and how to pick another.
    """
    filters = filters or Filters()
    found = candidates(catalog, query, filters)
    if purpose is not None and len(found) > 1:  # a model with both kinds: pull takes a ready-made one, build a buildable one
        found = [r for r in found if r["prebuilt"] == (purpose == "pull")] or found
    if len(found) == 1:
        return found[0]
    ranked = sorted((r for r in found if r.get("default_rank") is not None), key=lambda r: r["default_rank"])
    if ranked and len({r["model"] for r in found}) == 1:  # the model's declared default, as Ollama's default tag
        chosen = ranked[0]
        return dict(chosen, chosen_by_default={"query": query, "others": sorted(r["id"] for r in found if r is not chosen)})
    missing = [
        flag
        for option, (key, flag) in OPTIONS.items()
        if option not in filters.given() and option != "platform" and len({str(r[key]) for r in found}) > 1
    ]
    raise AmbiguousVariantError(query, sorted(r["id"] for r in found), missing)
