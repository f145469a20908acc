"""Is what arrived the object the server holds, whole and unchanged? What the server says about it.

A download in several requests (a resume after a kill, pieces on several connections) stitches
bytes from different answers together. Unless every answer is the same object, the file can be a
mix that never existed on the server, and on a first pull nothing pins its digest yet. So the
first answer's validator (a strong ETag, else Last-Modified) is kept beside the partial
(`<partial>.object`, bounded JSON, untrusted like the partial itself), every later range request
carries it as `If-Range` (RFC 9110: the server sends the whole new object instead of a range of
it), and an answer that names another object all the same ends the download (ObjectChanged),
which then starts over from nothing.

Storage services also say what the object hashes to: Google Cloud Storage, which serves Kaggle's
files, sends `X-Goog-Hash: crc32c=...` on every object (md5 only on non-composite ones). zoo
computes crc32c beside sha256 over the very bytes it writes (google-crc32c, in C at many GB/s)
and refuses a file whose checksum differs: a bit flipped in transit no longer becomes a pin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import google_crc32c

from ..fsutil import write_atomically

_RECORD_LIMIT = 8 << 10
_HEADER_LIMIT = 1024


class ObjectChanged(Exception):
    """An answer names another object than the one the earlier bytes came from."""


class Digests:
    """sha256, and crc32c when a storage server announced one, of the same bytes in one pass."""

    def __init__(self, crc32c: bool = False) -> None:
        self.sha256 = hashlib.sha256()
        self.crc32c = google_crc32c.Checksum() if crc32c else None

    def update(self, data) -> None:
        self.sha256.update(data)
        if self.crc32c is not None:
            # Its C extension takes bytes only; the copy and the checksum together cost a tenth of sha256's time.
            self.crc32c.update(bytes(data))

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()

    def crc32c_base64(self) -> str | None:
        return base64.b64encode(self.crc32c.digest()).decode() if self.crc32c is not None else None


def file_crc32c(path: Path) -> str:
    """The crc32c of a whole file (base64), for a download that learned of the checksum midway."""
    checksum = google_crc32c.Checksum()
    with open(path, "rb", buffering=0) as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            checksum.update(block)
    return base64.b64encode(checksum.digest()).decode()


def _storage_crc32c(headers) -> str | None:
    """The crc32c in `X-Goog-Hash` (several headers or one comma-separated list), as base64."""
    for value in headers.getlist("X-Goog-Hash") if hasattr(headers, "getlist") else [headers.get("X-Goog-Hash", "")]:
        for part in str(value)[:_HEADER_LIMIT].split(","):
            name, _, encoded = part.strip().partition("=")
            if name.lower() == "crc32c" and encoded:
                try:
                    if len(base64.b64decode(encoded.strip(), validate=True)) == 4:
                        return encoded.strip()
                except ValueError:
                    pass
    return None


@dataclass
class RemoteObject:
    """What the answers so far said about the object a partial holds bytes of."""

    path: Path
    etag: str | None = None
    last_modified: str | None = None
    crc32c: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def beside(cls, partial: Path) -> "RemoteObject":
        """The record kept beside `partial`; an empty one when there is none or it is not zoo's."""
        path = partial.with_name(partial.name + ".object")
        found = cls(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                data = json.loads(fh.read(_RECORD_LIMIT + 1)[:_RECORD_LIMIT])
        except (OSError, ValueError, RecursionError):
            return found
        if isinstance(data, dict):
            for key in ("etag", "last_modified", "crc32c"):
                value = data.get(key)
                if isinstance(value, str) and 0 < len(value) <= _HEADER_LIMIT and value.isprintable():
                    setattr(found, key, value)
        return found

    def condition(self) -> dict[str, str]:
        """The If-Range header for a range of this object: its strong ETag, else its modification date."""
        if self.etag:
            return {"If-Range": self.etag}
        if self.last_modified:
            return {"If-Range": self.last_modified}
        return {}

    def observe(self, response) -> None:
        """Take note of an answer's validator and checksum; ObjectChanged when it names another object."""
        headers = response.headers
        etag = (headers.get("ETag") or "")[:_HEADER_LIMIT]
        seen = {"etag": etag if etag and not etag.startswith("W/") else None,  # a weak ETag names no exact bytes
                "last_modified": (headers.get("Last-Modified") or "")[:_HEADER_LIMIT] or None,
                "crc32c": _storage_crc32c(headers)}
        with self._lock:
            for key, value in seen.items():
                known = getattr(self, key)
                if value is not None and known is not None and value != known:
                    raise ObjectChanged(f"its {key.replace('_', '-')} went from {known!r} to {value!r}")
            changed = False
            for key, value in seen.items():
                if value is not None and getattr(self, key) is None:
                    setattr(self, key, value)
                    changed = True
            if changed:
                try:
                    write_atomically(self.path, json.dumps({"etag": self.etag, "last_modified": self.last_modified,
                                                            "crc32c": self.crc32c}))
                except OSError:
                    pass  # a full disk: a later resume merely checks less

    def forget(self) -> None:
        """A fresh start: nothing said so far holds."""
        with self._lock:
            self.etag = self.last_modified = self.crc32c = None
            self.path.unlink(missing_ok=True)
