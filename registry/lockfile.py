"""ZOO_HOME/zoo.lock: digests pinned on first use for files whose manifest pins none.

The first verified download of such a file records its sha256 and size here (and the user is
told); every later pull must match it. `zoo pull --locked` refuses files pinned nowhere, and
`zoo manifest pin` copies these digests into a manifest.
"""

from __future__ import annotations

import json
from typing import Any

from filelock import FileLock

from . import settings
from .fsutil import write_atomically

FORMAT = 1


def _read() -> dict[str, Any]:
    try:
        data = json.loads(settings.get().lock_file.read_text())
    except (OSError, ValueError):
        return {"format": FORMAT, "variants": {}}
    data.setdefault("variants", {})
    return data


def pins(variant_id: str) -> dict[str, dict[str, Any]]:
    """path -> {"sha256", "size"} recorded for this variant."""
    return _read()["variants"].get(variant_id, {}).get("files", {})


def entry(variant_id: str) -> dict[str, Any]:
    return _read()["variants"].get(variant_id, {})


def record(variant_id: str, files: dict[str, dict[str, Any]], resolved: dict[str, Any]) -> None:
    path = settings.get().lock_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        data = _read()
        current = data["variants"].setdefault(variant_id, {"files": {}})
        current["files"].update(files)
        if resolved:
            current["resolved"] = resolved
        write_atomically(path, json.dumps(data, indent=2, sort_keys=True), durable=True)
