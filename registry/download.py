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
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from . import __version__
from .errors import DiskError, NetworkError
from .remote_object import Digests, ObjectChanged, RemoteObject, file_crc32c

CHUNK = 1 << 20  # 1 MiB file reads: big enough that Python overhead disappears next to the copy


@dataclass
class DownloadResult:
    sha256: str
    size: int
    resumed_from: int
    """Bytes that were already on disk when this run started."""
    crc32c: str | None = None
    """The bytes' crc32c (base64, as storage services write it)."""
    storage_checked: bool = False
    """The storage server sent a checksum of the object, and these bytes match it."""


class _BlockHasher:
    """sha256 in a second thread, over the very buffers the socket was read into.

    Measured here (2 cores, 1 GiB over loopback into tmpfs), receiving costs 0.1 s of CPU,
    writing 0.33 s and sha256 0.52 s: in one loop they add up to about 1 s, against 0.87 s for
    curl. So the downloading thread receives into one of a few 4 MiB buffers, writing each piece
    as it arrives, and hands each full buffer to this thread, which hashes it in place and gives
    it back: 0.55-0.69 s. Reading the file back to hash it (one copy more) took 0.9 s, and 2 or
    8 MiB buffers were slower than 4 MiB, which stays in the cache between the write and the
    hash. hashlib releases the GIL for blocks this size, so the two threads use two cores.
    """

    BUFFER_SIZE = 4 << 20
    BUFFERS = 6

    def __init__(self, hasher, expected: int | None) -> None:
        import queue
        import threading

        self.hasher = hasher
        self.error: BaseException | None = None
        self.free: queue.SimpleQueue = queue.SimpleQueue()
        self.full: queue.SimpleQueue = queue.SimpleQueue()
        size, count = self.BUFFER_SIZE, self.BUFFERS
        if expected is not None:  # a small file gets one buffer of its size
            size = max(1 << 16, min(size, expected))
            count = max(1, min(count, -(-expected // size)))
        for _ in range(count):
            self.free.put(memoryview(bytearray(size)))
        self.thread = threading.Thread(target=self._run, name="zoo-sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.full.get()) is not None:
            buffer, length = item
            try:
                if self.error is None:
                    self.hasher.update(buffer[:length])
            except BaseException as exc:  # surfaced by finish(), in the downloading thread
                self.error = exc
            self.free.put(buffer)

    def buffer(self) -> memoryview:
        """A buffer to read into; waits while the hasher still holds all of them."""
        return self.free.get()

    def hash(self, buffer: memoryview, length: int) -> None:
        """Hand over the first `length` bytes of `buffer`, already written to the partial file."""
        self.full.put((buffer, length))

    def finish(self):
        """Wait until every block handed over is hashed; returns the hasher."""
        self.full.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.hasher


class _LocalWriteFailed(Exception):
    """Writing to the local disk failed (ENOSPC, EACCES)."""


def _write_all(fd: int, block: bytes) -> None:
    view = memoryview(block)
    while view:
        view = view[_local_write(os.write, fd, view):]


def _local_write(operation, *args):
    """Run one file operation of a download, telling the disk's failures apart from the network's.

    The socket's errors are OSErrors too, so the two must be separated where the call is made.
    """
    try:
        return operation(*args)
    except OSError as exc:
        raise _LocalWriteFailed(exc) from exc


class _RetryLater(Exception):
    """A failure worth retrying that no library raised: a 5xx or 429, or a body cut short."""


class _ServerMisbehaved(Exception):
    """A protocol violation: not worth retrying blindly, but the partial may be kept or dropped."""


class StorageChecksumDiffers(NetworkError):
    """The bytes that arrived do not hash to the checksum the storage server sent for the object."""

    def __init__(self, message: str, *, announced: str, got: str | None, fix: str):
        super().__init__(message, fix=fix)
        self.announced, self.got = announced, got


class SizeDiffers(NetworkError):
    """The server announces a size other than the one expected: the file there is not the one pinned."""

    def __init__(self, message: str, *, announced: int, expected: int):
        super().__init__(message, fix="Check that the manifest pins the file the hub now serves.")
        self.announced, self.expected = announced, expected


def hash_existing(path: Path, limit: int | None = None, *, crc32c: bool = False) -> tuple[Digests, int]:
    h = Digests(crc32c)
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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) as urllib3, the library that connects, reads the URL.

    Python's urlsplit and urllib3 disagree on some strings (`http://a:1\\@b:2/` is b:2 to one and
    a:1 to the other), so a check made with one parser and a connection made with the other
    can be fooled into sending a token to another port or host. Every origin zoo compares comes
    from here, and a URL with userinfo, a backslash, whitespace or a control character is refused
    outright (ValueError): no hub has a reason to send one.
    """
    import urllib3

    if any(ch == "\\" or ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValueError("it holds a backslash, whitespace or a control character")
    parsed = urllib3.util.parse_url(url)
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("its scheme is not http or https")
    if parsed.auth is not None or "@" in (parsed.netloc or ""):
        raise ValueError("it carries a user name or password")
    if not parsed.host:
        raise ValueError("it names no host")
    return scheme, parsed.host.lower().strip("[]"), parsed.port or _DEFAULT_PORTS[scheme]


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs reach the same server; False when either is refused by `origin`."""
    try:
        return origin(a) == origin(b)
    except ValueError:
        return False


def _pool_for(url: str, ca_certs: str | None = None, connections: int = 1):
    """A urllib3 pool for `url`, through the proxy the environment names for it (HTTPS_PROXY, NO_PROXY).

    urllib3 is the layer requests wraps, and the download needs none of requests' extras, while
    importing requests cost every Hugging Face pull 23 ms (its charset detection tables; the hub
    client itself talks through httpx). What requests did for the download is kept: proxies from
    the environment, with their credentials, and certifi's CA bundle unless REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE names another.
    """
    from urllib.parse import unquote
    from urllib.request import getproxies, proxy_bypass

    import certifi
    import urllib3

    ca_certs = ca_certs or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(parts.hostname or ""):
        auth = urllib3.util.parse_url(proxy).auth
        proxy_headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
        return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, ca_certs=ca_certs, maxsize=connections)
    return urllib3.PoolManager(ca_certs=ca_certs, maxsize=connections)


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
    max_bytes: int = 64 << 30,
    ca_certs: str | None = None,
    connections: int = 1,
    piece_bytes: int = 16 << 20,
) -> DownloadResult:
    """Fetch `url` into `partial`, resuming from whatever `partial` already holds.

    A file of known size of at least two pieces of `piece_bytes` comes over up to `connections`
    connections at once (registry/ranged.py); any other over one stream.

    Raises NetworkError after `retries` failed attempts (each attempt resumes where the last
    stopped) or at once when the server breaks the protocol (more bytes than announced, a
    Content-Range that does not match the request, more than `max_bytes` where nobody said how
    many to expect: the partial is discarded then, so no hostile server fills the disk).
    `ca_certs` names a CA bundle to trust instead of the default one (a registry's own certificate).
    """
    partial.parent.mkdir(parents=True, exist_ok=True)
    drop_if_not_regular(partial)
    what = describe or urlsplit(url).path.rsplit("/", 1)[-1]
    try:
        origin(url)
    except ValueError as exc:
        raise NetworkError(f"The source gave an address for {what} that zoo refuses: {exc}.",
                           fix="Check the hub endpoint (HF_ENDPOINT, ZOO_KAGGLE_ENDPOINT) or the manifest's URL.") from None
    split = expected_size is not None and connections > 1 and expected_size >= 2 * piece_bytes
    pool = _pool_for(url, ca_certs, connections if split else 1)
    remote = RemoteObject.beside(partial)
    if not partial.exists():
        remote.forget()  # what was said about bytes that are gone binds nothing
    try:
        try:
            result = _fetch(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what,
                            max_bytes, split, connections, piece_bytes)
        except ObjectChanged as changed:
            # Bytes of two different objects must never be stitched together: start over, once, on one stream.
            _discard(partial, remote)
            try:
                result = _stream(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what,
                                 max_bytes, probe=False)
            except ObjectChanged:
                _discard(partial, remote)
                raise NetworkError(f"{what} changed on the server while zoo downloaded it ({changed}); nothing was kept.",
                                   fix="Run the command again once the file stays put.") from None
    except BaseException:
        if not partial.exists():
            remote.forget()  # no bytes left to resume: nothing said of them binds, and no record stays behind
        raise
    return _checked_against_storage(result, partial, remote, what)


def _fetch(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what, max_bytes, split,
           connections, piece_bytes) -> DownloadResult:
    """One stream, or pieces on several connections when one stream would take a while."""
    from . import ranged

    resumed_from = None
    if not (split and os.path.lexists(ranged.state_path(partial))):  # a killed ranged run resumes as pieces
        ranged.settle(partial)  # a ranged run's partial, for a single stream: its contiguous prefix
        resumed_from = partial.stat().st_size if partial.exists() else 0
        try:
            return _stream(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what, max_bytes,
                           probe=split)
        except _SplitNow:
            pass  # one stream would take a while yet: the rest comes in pieces, from the bytes it got
    try:
        result = ranged.ranged_download(url, partial, size=expected_size, pool=pool, remote=remote, headers=headers,
                                        timeout=timeout, retries=retries, connections=connections,
                                        piece_bytes=piece_bytes, on_bytes=on_bytes, what=what,
                                        report_resumed=resumed_from is None)
        return result if resumed_from is None else dataclasses.replace(result, resumed_from=resumed_from)
    except ranged.RangesRefused:  # this server sends whole files only: one stream, from the prefix kept
        return _stream(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what, max_bytes,
                       probe=False)


def _discard(partial: Path, remote: RemoteObject) -> None:
    from . import ranged

    ranged.state_path(partial).unlink(missing_ok=True)
    partial.unlink(missing_ok=True)
    remote.forget()


def _checked_against_storage(result: DownloadResult, partial: Path, remote: RemoteObject, what: str) -> DownloadResult:
    """The finished file against the checksum its storage server sent (GCS's crc32c), when it sent one."""
    announced = remote.crc32c
    remote.forget()  # the download is whole: the record's work is done
    if announced is None:
        return result
    got = result.crc32c if result.crc32c is not None else file_crc32c(partial)  # announced midway: read back once
    if got != announced:
        partial.unlink(missing_ok=True)
        raise StorageChecksumDiffers(
            f"{what} arrived damaged: its crc32c is {got}, but the storage server's checksum of the file is "
            f"{announced} (X-Goog-Hash). Nothing was kept.",
            announced=announced, got=got,
            fix="Run the command again; if it fails the same way, a proxy or the network in between alters the bytes.",
        )
    return dataclasses.replace(result, storage_checked=True)


def drop_if_not_regular(path: Path) -> None:
    """Remove what stands at a partial's name unless it is a regular file zoo could have written.

    A link planted there would have a resume append to, truncate or hash whatever it points at,
    outside the store: a symbolic link, or a hard link (another name of someone else's file, which
    O_NOFOLLOW does not see: its link count does). A FIFO would block the pull forever. None holds
    bytes worth resuming. (The opens that follow use O_NOFOLLOW too, for one planted in between.)
    """
    import stat

    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(found.st_mode) or found.st_nlink > 1:
        path.unlink()


_PROBE_SECONDS = 0.5
_SPLIT_WHEN_SECONDS = 3.0


class _SplitNow(Exception):
    """The single stream is slow enough that pieces on several connections would pay off."""


def _stream(url: str, partial: Path, pool, remote: RemoteObject, expected_size: int | None, headers, timeout: float,
            retries: int, on_bytes, what: str, max_bytes: int, *, probe: bool) -> DownloadResult:
    """One streaming GET (resumed with Range), hashed in flight.

    With `probe`, the stream is timed for its first half second: when the rest of the file would
    take more than three seconds more at that rate, it stops (_SplitNow) and the caller fetches the
    rest in pieces. Several connections only pay off when one is slow (a CDN's cap, a long path);
    a stream that finishes within seconds gains nothing from them and would lose the in-flight
    hash (measured on loopback: 8 connections took 1.4x the time of one).
    """
    import http.client

    import urllib3

    resumed_from = partial.stat().st_size if partial.exists() else 0
    if resumed_from > (expected_size if expected_size is not None else max_bytes):
        partial.unlink()
        resumed_from = 0
    checksummed = remote.crc32c is not None
    hasher, offset = hash_existing(partial, crc32c=checksummed) if resumed_from else (Digests(checksummed), 0)
    if on_bytes and offset:
        on_bytes(offset)
    attempt = 0
    last_error: Exception | None = None
    while True:
        if expected_size is not None and offset == expected_size:
            if offset == 0:  # an empty file has no body to append: the partial must exist all the same
                _local_write(os.close, _local_write(os.open, partial, os.O_WRONLY | os.O_CREAT, 0o644))
            return DownloadResult(hasher.hexdigest(), offset, resumed_from, hasher.crc32c_base64())
        request_headers = urllib3.HTTPHeaderDict({"Accept-Encoding": "identity", "User-Agent": f"zoo/{__version__}"})
        request_headers.update(headers or {})  # case-insensitive: the hub client's user-agent wins
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
            request_headers.update(remote.condition())  # the rest of the same object, or the whole new one
        try:
            with _get_following_same_origin(pool, url, request_headers, timeout) as response:
                if response.status == 416 and expected_size is not None and offset >= expected_size:
                    return DownloadResult(hasher.hexdigest(), offset, resumed_from, hasher.crc32c_base64())
                _refuse_status(response, url, what)
                if response.status not in (200, 206):
                    raise _ServerMisbehaved(f"unexpected HTTP status {response.status}")
                if offset and response.status == 200:
                    # The server ignored Range, or the object changed (If-Range): start over rather than append.
                    offset, hasher = 0, Digests()
                    _local_write(os.truncate, partial, 0)
                    remote.forget()
                remote.observe(response)
                if offset == 0 and remote.crc32c is not None and hasher.crc32c is None:
                    hasher = Digests(crc32c=True)  # the storage's checksum, computed as the bytes arrive
                if response.status == 206:
                    content_range = response.headers.get("Content-Range", "")
                    if not content_range.startswith(f"bytes {offset}-"):
                        raise _ServerMisbehaved(f"asked for bytes {offset}- but got Content-Range '{content_range}'")
                length = response.headers.get("Content-Length")
                announced = offset + int(length) if length is not None else None
                if expected_size is not None and announced is not None and announced != expected_size:
                    partial.unlink(missing_ok=True)
                    raise SizeDiffers(f"The server announces {announced} bytes for {what} where {expected_size} were expected.",
                                      announced=announced, expected=expected_size)
                limit = expected_size if expected_size is not None else announced
                if expected_size is None and limit is not None and limit > max_bytes:
                    raise _ServerMisbehaved(f"the server announces {limit} bytes, more than the {max_bytes} zoo accepts "
                                            "for a file of unknown size (ZOO_MAX_DOWNLOAD_BYTES)")
                read_some = _body_reader(response)
                probe_at = time.monotonic() + _PROBE_SECONDS if probe and limit is not None else None
                probe_from = offset
                blocks = _BlockHasher(hasher, None if limit is None else limit - offset)
                buffer, filled = blocks.buffer(), 0
                try:
                    out = _local_write(os.open, partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
                    try:
                        while True:
                            received = read_some(buffer[filled:])
                            if not received:
                                break
                            if limit is not None and offset + received > limit:
                                raise _ServerMisbehaved(f"the server sent more than the {limit} bytes announced")
                            if offset + received > max_bytes:
                                raise _ServerMisbehaved(f"the server sent more than {max_bytes} bytes without saying how many "
                                                        "(the ceiling is ZOO_MAX_DOWNLOAD_BYTES)")
                            _write_all(out, buffer[filled : filled + received])
                            offset += received
                            filled += received
                            if on_bytes:
                                on_bytes(received)
                            if filled == len(buffer):
                                blocks.hash(buffer, filled)
                                buffer, filled = blocks.buffer(), 0
                            if probe_at is not None and time.monotonic() >= probe_at:
                                rate = (offset - probe_from) / (_PROBE_SECONDS + time.monotonic() - probe_at)
                                probe_at = None
                                if (limit - offset) > rate * _SPLIT_WHEN_SECONDS:
                                    raise _SplitNow()
                        if limit is None or offset == limit:
                            _local_write(os.fsync, out)  # durable before the rename into the store; overlaps the hash
                    finally:
                        _local_write(os.close, out)
                finally:
                    blocks.hash(buffer, filled)  # every byte written is hashed, even when the loop stops early
                    hasher = blocks.finish()
                if limit is not None and offset < limit:
                    raise _RetryLater(f"connection closed after {offset} of {limit} bytes")
                return DownloadResult(hasher.hexdigest(), offset, resumed_from, hasher.crc32c_base64())
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
        except (_RetryLater, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            # OSError: the socket's own errors (reset, timeout, unreachable), as the body is read
            # from it directly; the disk's are _LocalWriteFailed by then.
            attempt += 1
            last_error = exc
            if attempt >= retries:
                raise NetworkError(
                    f"Downloading {what} failed {attempt} times ({_reason(last_error)}); "
                    f"{offset} bytes are kept and the next run resumes from there.",
                    fix="Check the connection and run the same command again, or raise ZOO_HTTP_TIMEOUT / ZOO_HTTP_RETRIES.",
                ) from None
            time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2))


def _refuse_status(response, url: str, what: str) -> None:
    """Statuses that end a download (NetworkError) or call for another try (_RetryLater)."""
    if response.status in (401, 403, 404):
        raise NetworkError(
            f"The server answered {response.status} for {what} ({_safe_url(url)}).",
            fix="Check that the file still exists and that your credentials can read it.",
        )
    if response.status >= 500 or response.status == 429:
        raise _RetryLater(f"the server answered {response.status}")


def _body_reader(response) -> Callable[[memoryview], int]:
    """A function that reads what the socket has of the body into a buffer: 0 at the end.

    urllib3 only offers read(), which allocates each block and copies it once more.
    urllib3 keeps the standard library's response as `_fp`, and its buffered socket file reads
    straight into zoo's buffer, one recv at a time, so bytes reach the disk (and a resume) as
    they arrive. Chunked bodies, and any change in urllib3, take the slower, general path.
    """
    message = getattr(response, "_fp", None)
    stream = getattr(message, "fp", None)
    if stream is not None and hasattr(stream, "readinto1") and getattr(message, "chunked", True) is False:
        remaining = getattr(message, "length", None)  # None: the body ends when the server closes

        def read_some(buffer: memoryview) -> int:
            nonlocal remaining
            if remaining is not None:
                if remaining <= 0:
                    return 0
                buffer = buffer[:remaining]
            received = stream.readinto1(buffer)
            if remaining is not None:
                remaining -= received
            return received

        return read_some
    read = getattr(response, "read1", None) or response.read

    def read_some(buffer: memoryview) -> int:
        block = read(len(buffer), decode_content=False)
        buffer[: len(block)] = block
        return len(block)

    return read_some


def _get_following_same_origin(pool, url: str, headers, timeout: float):
    """GET, following redirects only within the origin: the hub client already resolved the file's
    host, and a server that moves the download to another host midway is refused, not followed."""
    import urllib3

    for _ in range(5):
        response = pool.request(
            "GET", url, headers=headers, preload_content=False, decode_content=False, redirect=False, retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )
        if response.status not in (301, 302, 303, 307, 308):
            return response
        location = response.headers.get("Location", "")
        response.close()
        target = _resolve_location(url, location)
        try:
            origin(target)
        except ValueError as exc:
            raise _ServerMisbehaved(f"it redirected the download to an address zoo refuses ({exc})") from None
        if not same_origin(target, url):
            raise _ServerMisbehaved(f"it redirected the download to another host ({_safe_url(target)})")
        url = target
    raise _ServerMisbehaved("too many redirects")


def _resolve_location(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location)


def _reason(exc: BaseException) -> str:
    """The last error in one line: its text alone when zoo raised it, the library's name for it otherwise."""
    text = str(exc).strip()
    text = text.splitlines()[0][:200] if text else ""
    return text if isinstance(exc, _RetryLater) else f"{type(exc).__name__}: {text}"


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
