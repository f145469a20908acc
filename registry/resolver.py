"""Turns what a user typed (an id, an alias, or a model plus options) into exactly one variant."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .catalog import Catalog
from .errors import AmbiguousVariantError, UnknownVariantError, VariantMismatchError
from .manifest import Variant


@dataclass(frozen=True)
class Filters:
    family: str | None = None
    backend: str | None = None
    quant: str | None = None
    platform: str | None = None
    format: str | None = None

    # option name -> (variant attribute, the CLI flag that sets it)
    FIELDS = {
        "backend": ("backend", "--backend"),
        "quant": ("quantization_label", "--quant"),
        "platform": ("platforms", "--platform"),
        "format": ("format", "--format"),
        "family": ("family", "--family"),
    }

    def given(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.FIELDS if getattr(self, k) is not None}

    def mismatch(self, variant: Variant) -> str | None:
        """The first option this variant does not satisfy, as 'backend is gpu, not cpu'."""
        for option, wanted in self.given().items():
            attr, _ = self.FIELDS[option]
            actual = getattr(variant, attr)
            if isinstance(actual, list):
                if wanted not in actual:
                    return f"{option} {wanted} is not supported (it supports {', '.join(actual)})"
            elif actual != wanted:
                return f"its {option} is {actual}, not {wanted}"
        return None

    def matches(self, variant: Variant) -> bool:
        return self.mismatch(variant) is None


def filter_variants(catalog: Catalog, filters: Filters) -> list[Variant]:
    return [v for v in catalog.variants.values() if filters.matches(v)]


def suggestions(catalog: Catalog, query: str, n: int = 3) -> list[str]:
    names = sorted(set(catalog.names) | set(catalog.families))
    close = difflib.get_close_matches(query, names, n=n, cutoff=0.6)
    if not close:
        close = [name for name in names if query and query in name][:n]
    return close


def resolve(catalog: Catalog, query: str, filters: Filters | None = None) -> Variant:
    """One variant for `query`, or an error that says how to get one.

    Order: exact variant id or alias, then model name or alias, then family name.
    """
    filters = filters or Filters()
    owner = catalog.names.get(query)
    if owner and owner[1].startswith("variant:"):
        variant = catalog.variants[owner[1].removeprefix("variant:")]
        problem = filters.mismatch(variant)
        if problem:
            raise VariantMismatchError(
                f"'{query}' is the variant {variant.id}, but {problem}.",
                fix=f"Drop that option, or ask for the model instead: `zoo info {variant.model}` lists its variants.",
            )
        return variant
    if owner:
        family, model = owner[1].removeprefix("model:").split("/", 1)
        pool = [v for v in catalog.variants.values() if v.family == family and v.model == model]
    elif query in catalog.families:
        pool = [v for v in catalog.variants.values() if v.family == query]
    else:
        raise UnknownVariantError(query, suggestions(catalog, query))
    candidates = [v for v in pool if filters.matches(v)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        available = ", ".join(sorted(f"{v.id} ({v.backend}, {v.quantization_label})" for v in pool))
        given = " ".join(f"{Filters.FIELDS[k][1]} {v}" for k, v in filters.given().items())
        raise UnknownVariantError(query, [], detail=f" with {given}; it has {available}")
    missing = [
        flag
        for option, (attr, flag) in Filters.FIELDS.items()
        if option not in filters.given()
        and option != "platform"
        and len({str(getattr(v, attr)) for v in candidates}) > 1
    ]
    raise AmbiguousVariantError(query, sorted(v.id for v in candidates), missing)
