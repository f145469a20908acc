"""The catalog snapshot: a loaded catalog as plain JSON, so light commands never import a plugin.

Loading the catalog means importing every plugin and validating every manifest with pydantic,
which costs more than the rest of `zoo list` together. The snapshot is valid while the installed
distributions, the plugin modules, the manifest files and zoo's version are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from .. import __version__, settings
from ..fsutil import write_cache
from ..plugins import PluginRecord, discover_entry_points
from .registration import Claim, Family

if TYPE_CHECKING:
    from .catalog import Catalog

FORMAT = 4


def key() -> str:
    config = settings.get()
    parts = [
        FORMAT,
        __version__,
        sys.version,
        config.load_plugins,
        config.disable_plugin_autoload,
        [asdict(ep) for ep in discover_entry_points()],
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def save(catalog: "Catalog") -> None:
    """Only a catalog with no failed plugin is snapshotted, so failures are re-tried every run."""
    config = settings.get()
    if config.no_cache or any(r.status == "failed" for r in catalog.records.values()):
        return
    data = {
        "key": key(),
        "watched": {path: _stat(path) for path in sorted(catalog._watched)},
        "families": {name: asdict(f) for name, f in catalog.families.items()},
        "rows": catalog.rows,
        "names": catalog.names,
        "components": catalog.components,
        "default_checks": catalog.default_checks,
        "default_run_checks": catalog.default_run_checks,
        "descriptions": catalog.descriptions,
        "records": {name: r.as_dict() for name, r in catalog.records.items()},
    }
    write_cache(config.cache_dir / "catalog-snapshot.json", json.dumps(data))


def load() -> "Catalog | None":
    """The snapshot as a Catalog, or None when it is missing, stale or unreadable."""
    from .catalog import Catalog

    config = settings.get()
    if config.no_cache:
        return None
    try:
        data = json.loads((config.cache_dir / "catalog-snapshot.json").read_bytes())
        if data["key"] != key():
            return None
        if any(_stat(path) != stat for path, stat in data["watched"].items()):
            return None
        catalog = Catalog()
        catalog.families = {n: Family(**{**f, "models": tuple(f["models"])}) for n, f in data["families"].items()}
        catalog.rows = data["rows"]
        catalog.names = {n: Claim(*v) for n, v in data["names"].items()}
        catalog.components = data["components"]
        catalog.default_checks = data["default_checks"]
        catalog.default_run_checks = data.get("default_run_checks", {})
        catalog.descriptions = data["descriptions"]
        catalog.records = {n: PluginRecord(**r) for n, r in data["records"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return catalog
