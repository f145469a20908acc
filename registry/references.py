"""`zoo build MODEL:REFERENCE`: a catalog model built from a repo the user names (`hf:ORG/REPO@REV`).

A model whose manifest sets `by_reference` (a source table without the repo) lends a variant its
recipe, checks and defaults; the source kind turns the reference into the missing keys, and the
kind's own options model validates the result. The variant made this way gets its own id (the
catalog variant's id plus a slug of the reference), so its inputs, its build and its zoo.lock pins
never mix with another repo's.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from .errors import ZooError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .manifest import Variant

MAX_REFERENCE = 256


def split(query: str) -> tuple[str, str] | None:
    """('hf', 'Qwen/Qwen3-0.6B@main') for 'hf:Qwen/Qwen3-0.6B@main'; None for a plain name."""
    name, colon, reference = query.partition(":")
    return (name, reference) if colon and name else None


def slug(reference: str) -> str:
    """A store-safe, readable, collision-free name for a reference: 'qwen-qwen3-0.6b-main-1a2b3c4d'."""
    return _readable(reference, "ref", 60) + "-" + hashlib.sha256(reference.encode()).hexdigest()[:8]


def checkpoint_slug(name: str, digest: str) -> str:
    """The entry-id suffix of a `--from` build: the checkpoint's folder or file name and the first
    hex digits of its content digest ('smollm2-135m-instruct.q4_1.gguf-1a2b3c4d'), so two
    checkpoints never share an entry and the same bytes always land in the same one."""
    return _readable(name, "checkpoint", 48) + "-" + digest[:8]


def _readable(text: str, fallback: str, length: int) -> str:
    return re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-._")[:length].strip("-._") or fallback


def takers(catalog: "Catalog") -> list[str]:
    """The models that build from a reference."""
    return sorted({row["model"] for row in catalog.rows.values() if row.get("by_reference")})


def for_reference(catalog: "Catalog", variant: "Variant", reference: str) -> "Variant":
    """`variant` rebuilt to take its inputs from `reference`; a ZooError saying how to write it otherwise."""
    from pydantic import ValidationError

    from .manifest import Source, problems_from_validation_error

    template = variant.by_reference
    if template is None:
        others = takers(catalog)
        raise ZooError(
            f"{variant.model} is not built from a repo you name, so '{variant.model}:{reference}' means nothing to zoo.",
            fix=f"Run `zoo build {variant.model}`"
            + (f"; to build a repo of your own, use {', '.join(f'`zoo build {m}:...`' for m in others)}." if others else "."),
        )
    kind = catalog.component("source", template.kind)
    if kind is None or kind.reference_syntax is None:
        raise ZooError(f"{variant.model} builds from '{template.kind}' references, which no loaded plugin reads.",
                       fix="Install the plugin that provides that source; `zoo plugins` shows what is loaded.")
    written = f"zoo build {variant.model}:{kind.reference_syntax}"
    if not reference or len(reference) > MAX_REFERENCE or any(c.isspace() or not c.isprintable() for c in reference):
        raise ZooError(f"'{reference[:MAX_REFERENCE]}' is not a {kind.name} reference.", fix=f"Write it as `{written}`.")
    keys = kind.reference_options(reference)
    merged = dict(template.model_extra or {}) | keys
    if kind.options is not None:
        try:
            kind.options.model_validate(merged)
        except ValidationError as exc:
            first = problems_from_validation_error(exc, root=kind.options)[0]
            raise ZooError(f"'{reference}' is not a {kind.name} reference: {first.problem}.",
                           fix=f"Write it as `{written}`" + (f" ({first.fix})" if first.fix else "") + ".") from None
    return variant.model_copy(update={
        "id": f"{variant.id}.{slug(reference)}",
        "aliases": [],
        "model_aliases": [],
        "description": f"{reference} from {kind.name}, built as {variant.id}.",
        "source": Source(kind=template.kind, **merged),
        "default_rank": None,
        "reference": reference,
    })
