"""Small file-system helpers shared by the caches and the store."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def temp_beside(path: Path, suffix: str = ".tmp"):
    """A new file in `path`'s folder, created exclusively under a random name: (open binary file, its path).

    A predictable name (`.x.tmp`, `.x.<pid>.tmp`) opened plainly would follow a link another user
    planted there and write wherever it points; mkstemp creates with O_EXCL, so it never opens
    anything that already exists. The mode is the usual one for new files (0666 less the umask),
    not mkstemp's 0600, since these files replace the user's own.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return os.fdopen(fd, "wb"), Path(name)


def write_atomically(path: Path, data: bytes | str, *, durable: bool = False) -> None:
    """Write to a temp file beside `path`, then rename: readers see the old file or the new one.

    `durable` also fsyncs the file and its directory, for records that must survive a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fh, tmp = temp_beside(path)
    try:
        with fh:
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


def copy_atomically(source: Path, target: Path) -> None:
    """Copy `source` to `target` through an exclusive temp file and a rename (see temp_beside)."""
    fh, tmp = temp_beside(target)
    try:
        with fh, open(source, "rb") as src:
            shutil.copyfileobj(src, fh, 8 << 20)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
