"""Moving bytes over HTTP: resumable across crashes, hashed while they arrive, bounded by size.

Why zoo has its own byte mover instead of calling the hub client's download: huggingface_hub 2.4
restarts from zero after a crash (its .incomplete file is per-process), and moves a 1 GiB file at
0.3x curl's speed on loopback. So the hub client resolves what it is good at (revision, redirect
to the CDN, metadata, auth) and this module fetches the bytes: one streaming GET with a large
buffer, appended to a partial file that a later run resumes with `Range`, hashed as it lands.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .errors import DiskError, NetworkError

CHUNK = 1 << 20  # 1 MiB reads: big enough that Python overhead disappears next to the copy


@dataclass
class DownloadResult:
    sha256: str
    size: int
    resumed_from: int
    """Bytes that were already on disk when this run started."""


class _TrailingHasher:
    """sha256 in a second thread that reads the partial file back, trailing the writer.

    Measured here, 1 GiB arrives in 0.32 s, hashes in 0.53 s and takes 0.2 s to fsync: hashed in
    the download loop those add up. Handing blocks to a thread through a queue overlaps the
    network with hashing, but a bounded queue keeps the writer only that far ahead, so the fsync
    still waits for the hash. Reading back from the page cache instead bounds memory by one
    buffer and lets the writer finish, and fsync, while the hash catches up (1 GiB into tmpfs:
    1.12 s for the whole pull against 1.18 s with the queue; hashing an mmap of the file in
    place was no faster). hashlib and os.preadv release the GIL, so the threads use two cores.
    """

    def __init__(self, path: Path, hasher, start: int) -> None:
        import threading

        self.hasher = hasher
        self.hashed = start
        self.written = start
        self.done = False
        self.error: BaseException | None = None
        self.ready = threading.Condition()
        self.fd = os.open(path, os.O_RDONLY)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buffer = bytearray(4 * CHUNK)
        view = memoryview(buffer)
        try:
            while True:
                with self.ready:
                    while self.hashed == self.written and not self.done:
                        self.ready.wait()
                    target = self.written
                    if self.hashed == target and self.done:
                        return
                while self.hashed < target:
                    n = os.preadv(self.fd, [view[: min(len(buffer), target - self.hashed)]], self.hashed)
                    if n <= 0:
                        raise OSError(f"the partial file shrank below {target} bytes while it was hashed")
                    self.hasher.update(view[:n])
                    self.hashed += n
        except BaseException as exc:  # surfaced by finish(), in the downloading thread
            self.error = exc

    def wrote(self, total: int) -> None:
        with self.ready:
            self.written = total
            self.ready.notify()

    def finish(self):
        """Wait until every byte written so far is hashed; returns the hasher."""
        with self.ready:
            self.done = True
            self.ready.notify()
        self.thread.join()
        os.close(self.fd)
        if self.error is not None:
            raise _LocalWriteFailed(self.error) from self.error
        return self.hasher


class _LocalWriteFailed(Exception):
    """Writing to the local disk failed (ENOSPC, EACCES)."""


def _write_all(fd: int, block: bytes) -> None:
    view = memoryview(block)
    while view:
        view = view[_local_write(os.write, fd, view):]


def _local_write(operation, *args):
    """Run one file operation of a download, telling the disk's failures apart from the network's.

    requests' errors are OSErrors too, so the two must be separated where the call is made.
    """
    try:
        return operation(*args)
    except OSError as exc:
        raise _LocalWriteFailed(exc) from exc


class _ServerMisbehaved(Exception):
    """A protocol violation: not worth retrying blindly, but the partial may be kept or dropped."""


def hash_existing(path: Path, limit: int | None = None) -> tuple["hashlib._Hash", int]:
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as fh:
        while True:
            want = CHUNK * 8 if limit is None else min(CHUNK * 8, limit - done)
            if want <= 0:
                break
            block = fh.read(want)
            if not block:
                break
            h.update(block)
            done += len(block)
    return h, done


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _session():
    import requests

    session = requests.Session()
    session.headers["Accept-Encoding"] = "identity"
    return session


def download(
    url: str,
    partial: Path,
    *,
    expected_size: int | None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    retries: int = 5,
    on_bytes: Callable[[int], None] | None = None,
    describe: str = "",
) -> DownloadResult:
    """Fetch `url` into `partial`, resuming from whatever `partial` already holds.

    Raises NetworkError after `retries` failed attempts (each attempt resumes where the last
    stopped) or at once when the server breaks the protocol (more bytes than announced, a
    Content-Range that does not match the request).
    """
    import requests
    import urllib3

    partial.parent.mkdir(parents=True, exist_ok=True)
    resumed_from = partial.stat().st_size if partial.exists() else 0
    if expected_size is not None and resumed_from > expected_size:
        partial.unlink()
        resumed_from = 0
    hasher, offset = hash_existing(partial) if resumed_from else (hashlib.sha256(), 0)
    if on_bytes and offset:
        on_bytes(offset)
    what = describe or urlsplit(url).path.rsplit("/", 1)[-1]
    session = _session()
    attempt = 0
    last_error: Exception | None = None
    while True:
        if expected_size is not None and offset == expected_size:
            return DownloadResult(hasher.hexdigest(), offset, resumed_from)
        request_headers = dict(headers or {})
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        try:
            with _get_following_same_origin(session, url, request_headers, timeout) as response:
                if response.status_code in (401, 403, 404):
                    raise NetworkError(
                        f"The server answered {response.status_code} for {what} ({_safe_url(url)}).",
                        fix="Check that the file still exists and that your credentials can read it.",
                    )
                if response.status_code == 416 and expected_size is not None and offset >= expected_size:
                    return DownloadResult(hasher.hexdigest(), offset, resumed_from)
                if response.status_code >= 500 or response.status_code == 429:
                    raise requests.ConnectionError(f"HTTP {response.status_code}")
                if response.status_code not in (200, 206):
                    raise _ServerMisbehaved(f"unexpected HTTP status {response.status_code}")
                if offset and response.status_code == 200:
                    # The server ignored Range: start over rather than append a second copy.
                    offset, hasher = 0, hashlib.sha256()
                    with open(partial, "wb"):
                        pass
                if response.status_code == 206:
                    content_range = response.headers.get("Content-Range", "")
                    if not content_range.startswith(f"bytes {offset}-"):
                        raise _ServerMisbehaved(f"asked for bytes {offset}- but got Content-Range '{content_range}'")
                length = response.headers.get("Content-Length")
                announced = offset + int(length) if length is not None else None
                if expected_size is not None and announced is not None and announced != expected_size:
                    raise _ServerMisbehaved(f"the server announces {announced} bytes where {expected_size} were expected")
                limit = expected_size if expected_size is not None else announced
                out = _local_write(os.open, partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    trailing = _TrailingHasher(partial, hasher, offset)
                except OSError as exc:
                    os.close(out)
                    raise _LocalWriteFailed(exc) from exc
                try:
                    raw = response.raw
                    while True:
                        block = raw.read(CHUNK, decode_content=False)
                        if not block:
                            break
                        if limit is not None and offset + len(block) > limit:
                            raise _ServerMisbehaved(f"the server sent more than the {limit} bytes announced")
                        _write_all(out, block)
                        offset += len(block)
                        trailing.wrote(offset)
                        if on_bytes:
                            on_bytes(len(block))
                    if limit is None or offset == limit:
                        _local_write(os.fsync, out)  # durable before the rename into the store; overlaps the hash
                finally:
                    os.close(out)
                    hasher = trailing.finish()  # every byte written is hashed, even when the loop stops early
                if limit is not None and offset < limit:
                    raise requests.ConnectionError(f"connection closed after {offset} of {limit} bytes")
                if limit is None:
                    return DownloadResult(hasher.hexdigest(), offset, resumed_from)
        except _ServerMisbehaved as exc:
            partial.unlink(missing_ok=True)
            raise NetworkError(
                f"The server misbehaved while sending {what}: {exc}. The partial download was discarded.",
                fix="Try again later; if it persists the server or a proxy in between is broken.",
            ) from None
        except _LocalWriteFailed as failed:
            # Not the network's fault and not worth retrying; a full disk keeps no partial behind.
            partial.unlink(missing_ok=True)
            raise DiskError.writing(failed.__cause__, what, partial.parent) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
            attempt += 1
            last_error = exc
            if attempt >= retries:
                raise NetworkError(
                    f"Downloading {what} failed {attempt} times ({type(last_error).__name__}: "
                    f"{_first_line(last_error)}); {offset} bytes are kept and the next run resumes from there.",
                    fix="Check the connection and run the same command again, or raise ZOO_HTTP_TIMEOUT / ZOO_HTTP_RETRIES.",
                ) from None
            time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2))


def _get_following_same_origin(session, url: str, headers: dict[str, str], timeout: float):
    """GET, following redirects only within the origin: the hub client already resolved the file's
    host, and a server that moves the download to another host midway is refused, not followed."""
    for _ in range(5):
        response = session.get(url, headers=headers, stream=True, timeout=(timeout, timeout), allow_redirects=False)
        if response.status_code not in (301, 302, 303, 307, 308):
            return response
        location = response.headers.get("Location", "")
        response.close()
        target = _resolve_location(url, location)
        if not same_origin(target, url):
            raise _ServerMisbehaved(f"it redirected the download to another host ({_safe_url(target)})")
        url = target
    raise _ServerMisbehaved("too many redirects")


def _resolve_location(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _safe_url(url: str) -> str:
    """The URL without its query string, which may carry signed credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The id git (and the Hugging Face Hub's ETag) gives a small, non-LFS file."""
    h = hashlib.sha1()
    h.update(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()
