"""Small file-system helpers shared by the caches and the store."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes | str, *, durable: bool = False) -> None:
    """Write to a temp file beside `path`, then rename: readers see the old file or the new one.

    `durable` also fsyncs the file and its directory, for records that must survive a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_cache(path: Path, data: bytes | str) -> None:
    """Best effort: a read-only home only costs speed."""
    try:
        write_atomically(path, data)
    except OSError:
        pass
