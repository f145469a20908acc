"""The catalog of what the loaded plugins registered: `registration` (validating what plugins hand
zoo), `snapshot` (the JSON copy light commands read), `catalog` (the Catalog and its queries).
This package holds the process-wide catalog."""

from __future__ import annotations

from .catalog import Catalog
from .registration import COMPONENT_HOOKS, Claim, Family, load_manifest_cached, variant_row

__all__ = ["COMPONENT_HOOKS", "Catalog", "Claim", "Family", "get_catalog", "load_manifest_cached", "reset", "variant_row"]

_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    """The process-wide catalog: from the snapshot when it is still valid, else loaded and snapshotted."""
    global _catalog
    if _catalog is None:
        _catalog = Catalog.from_snapshot()
        if _catalog is None:
            _catalog = Catalog.load()
            _catalog.save_snapshot()
    return _catalog


def reset() -> None:
    """Forget the loaded catalog (tests, and long-lived processes after installing plugins)."""
    global _catalog
    _catalog = None
