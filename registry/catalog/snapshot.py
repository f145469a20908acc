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

from .. import __version__, settings
from ..fsutil import write_cache
from ..plugins import discover_entry_points

FORMAT = 5


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


def save(data: dict, watched: set[str]) -> None:
    """Keep a catalog's data (Catalog.to_data) with what it was read from."""
    config = settings.get()
    if config.no_cache:
        return
    record = {"key": key(), "watched": {path: _stat(path) for path in sorted(watched)}, "catalog": data}
    write_cache(config.cache_dir / "catalog-snapshot.json", json.dumps(record))


def load() -> dict | None:
    """The kept catalog data, or None when it is missing, stale or unreadable."""
    config = settings.get()
    if config.no_cache:
        return None
    try:
        record = json.loads((config.cache_dir / "catalog-snapshot.json").read_bytes())
        if record["key"] != key() or any(_stat(path) != stat for path, stat in record["watched"].items()):
            return None
        return record["catalog"] if isinstance(record["catalog"], dict) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
