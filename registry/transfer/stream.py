"""One streaming GET into a partial file, resumed with Range, hashed in flight (the transfer layer's middle).

The stream appends what arrives to the partial file and hands each full buffer to a hashing thread
(BlockHasher); a resume hashes the bytes already there first and asks for the rest with `Range` and
`If-Range` (registry/transfer/remote_object.py). With `probe`, it stops after half a second when
pieces on several connections would pay off (SplitNow), and registry/download.py goes on with
registry/transfer/pieces.py from the bytes it got.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from .. import __version__
from ..errors import DiskError, NetworkError
from .http import (
    CHUNK,
    DownloadResult,
    LocalWriteFailed,
    RetryLater,
    ServerMisbehaved,
    SizeDiffers,
    body_reader,
    get_following_same_origin,
    local_write,
    reason,
    refuse_status,
    write_all,
)
from .remote_object import Digests, RemoteObject

class BlockHasher:
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


PROBE_SECONDS = 0.5
SPLIT_WHEN_SECONDS = 3.0


class SplitNow(Exception):
    """The single stream is slow enough that pieces on several connections would pay off."""


def stream(url: str, partial: Path, pool, remote: RemoteObject, expected_size: int | None, headers, timeout: float,
            retries: int, on_bytes, what: str, max_bytes: int, *, probe: bool) -> DownloadResult:
    """One streaming GET (resumed with Range), hashed in flight.

    With `probe`, the stream is timed for its first half second: when the rest of the file would
    take more than three seconds more at that rate, it stops (SplitNow) and the caller fetches the
    rest in pieces. Several connections only pay off when one is slow (a CDN's cap, a long path);
    a stream that finishes within seconds gains nothing from them and would lose the in-flight
    hash (measured on loopback: 8 connections took 1.4x the time of one).
    """
    transfer = _Stream(url, partial, pool, remote, expected_size, headers, timeout, on_bytes, what, max_bytes, probe)
    return transfer.run(retries)


class _Stream:
    """The state one stream carries across its attempts: how far the partial file got, and its digests."""

    def __init__(self, url, partial: Path, pool, remote: RemoteObject, expected_size: int | None, headers,
                 timeout: float, on_bytes, what: str, max_bytes: int, probe: bool) -> None:
        self.url, self.partial, self.pool, self.remote = url, partial, pool, remote
        self.expected_size, self.headers, self.timeout = expected_size, headers, timeout
        self.on_bytes, self.what, self.max_bytes, self.probe = on_bytes, what, max_bytes, probe
        self.resumed_from = self._resume_point()
        checksummed = remote.crc32c is not None
        if self.resumed_from:
            self.hasher, self.offset = hash_existing(partial, crc32c=checksummed)
        else:
            self.hasher, self.offset = Digests(checksummed), 0
        if on_bytes and self.offset:
            on_bytes(self.offset)

    def _resume_point(self) -> int:
        """The partial file's size, or 0 (the file removed) when it is larger than the download can be."""
        resumed_from = self.partial.stat().st_size if self.partial.exists() else 0
        if resumed_from > (self.expected_size if self.expected_size is not None else self.max_bytes):
            self.partial.unlink()
            return 0
        return resumed_from

    def result(self) -> DownloadResult:
        return DownloadResult(self.hasher.hexdigest(), self.offset, self.resumed_from, self.hasher.crc32c_base64())

    def run(self, retries: int) -> DownloadResult:
        """Attempts until the file is whole; network failures are retried with backoff, others end it."""
        import http.client

        import urllib3

        attempt = 0
        while True:
            try:
                return self._attempt()
            except ServerMisbehaved as exc:
                self.partial.unlink(missing_ok=True)
                raise NetworkError(
                    f"The server misbehaved while sending {self.what}: {exc}. The partial download was discarded.",
                    fix="Try again later; if it persists the server or a proxy in between is broken.",
                ) from None
            except LocalWriteFailed as failed:
                # Not the network's fault and not worth retrying; a full disk keeps no partial behind.
                self.partial.unlink(missing_ok=True)
                raise DiskError.writing(failed.__cause__, self.what, self.partial.parent) from None
            except (RetryLater, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                # OSError: the socket's own errors (reset, timeout, unreachable), as the body is read
                # from it directly; the disk's are LocalWriteFailed by then.
                attempt += 1
                if attempt >= retries:
                    raise NetworkError(
                        f"Downloading {self.what} failed {attempt} times ({reason(exc)}); "
                        f"{self.offset} bytes are kept and the next run resumes from there.",
                        fix="Check the connection and run the same command again, or raise ZOO_HTTP_TIMEOUT / "
                            "ZOO_HTTP_RETRIES.",
                    ) from None
                time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2))

    def _attempt(self) -> DownloadResult:
        """One request for what is still missing."""
        if self.expected_size is not None and self.offset == self.expected_size:
            if self.offset == 0:  # an empty file has no body to append: the partial must exist all the same
                local_write(os.close, local_write(os.open, self.partial, os.O_WRONLY | os.O_CREAT, 0o644))
            return self.result()
        with get_following_same_origin(self.pool, self.url, self._request_headers(), self.timeout) as response:
            if response.status == 416 and self.expected_size is not None and self.offset >= self.expected_size:
                return self.result()
            limit = self._accept(response)
            self._receive(response, limit)
            if limit is not None and self.offset < limit:
                raise RetryLater(f"connection closed after {self.offset} of {limit} bytes")
            return self.result()

    def _request_headers(self):
        import urllib3

        request_headers = urllib3.HTTPHeaderDict({"Accept-Encoding": "identity", "User-Agent": f"zoo/{__version__}"})
        request_headers.update(self.headers or {})  # case-insensitive: the hub client's user-agent wins
        if self.offset:
            request_headers["Range"] = f"bytes={self.offset}-"
            request_headers.update(self.remote.condition())  # the rest of the same object, or the whole new one
        return request_headers

    def _accept(self, response) -> int | None:
        """Checks the answer (status, range, announced size); returns the size the file will have, if known."""
        refuse_status(response, self.url, self.what)
        if response.status not in (200, 206):
            raise ServerMisbehaved(f"unexpected HTTP status {response.status}")
        if self.offset and response.status == 200:
            # The server ignored Range, or the object changed (If-Range): start over rather than append.
            self.offset, self.hasher = 0, Digests()
            local_write(os.truncate, self.partial, 0)
            self.remote.forget()
        self.remote.observe(response)
        if self.offset == 0 and self.remote.crc32c is not None and self.hasher.crc32c is None:
            self.hasher = Digests(crc32c=True)  # the storage's checksum, computed as the bytes arrive
        if response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {self.offset}-"):
                raise ServerMisbehaved(f"asked for bytes {self.offset}- but got Content-Range '{content_range}'")
        length = response.headers.get("Content-Length")
        announced = self.offset + int(length) if length is not None else None
        expected_size = self.expected_size
        if expected_size is not None and announced is not None and announced != expected_size:
            self.partial.unlink(missing_ok=True)
            raise SizeDiffers(f"The server announces {announced} bytes for {self.what} where {expected_size} were "
                              "expected.", announced=announced, expected=expected_size)
        limit = expected_size if expected_size is not None else announced
        if expected_size is None and limit is not None and limit > self.max_bytes:
            raise ServerMisbehaved(f"the server announces {limit} bytes, more than the {self.max_bytes} zoo accepts "
                                    "for a file of unknown size (ZOO_MAX_DOWNLOAD_BYTES)")
        return limit

    def _receive(self, response, limit: int | None) -> None:
        """Appends the body to the partial file, hashing each full buffer in the second thread.

        The loop keeps its state in locals (it runs once per socket read) and hands it back to
        the stream when it ends, however it ends.
        """
        read_some, on_bytes, max_bytes = body_reader(response), self.on_bytes, self.max_bytes
        offset = self.offset
        probe_at = time.monotonic() + PROBE_SECONDS if self.probe and limit is not None else None
        blocks = BlockHasher(self.hasher, None if limit is None else limit - offset)
        buffer, filled = blocks.buffer(), 0
        try:
            out = local_write(os.open, self.partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                while received := read_some(buffer[filled:]):
                    if limit is not None and offset + received > limit:
                        raise ServerMisbehaved(f"the server sent more than the {limit} bytes announced")
                    if offset + received > max_bytes:
                        raise ServerMisbehaved(f"the server sent more than {max_bytes} bytes without saying how many "
                                                "(the ceiling is ZOO_MAX_DOWNLOAD_BYTES)")
                    write_all(out, buffer[filled : filled + received])
                    offset += received
                    filled += received
                    if on_bytes:
                        on_bytes(received)
                    if filled == len(buffer):
                        blocks.hash(buffer, filled)
                        buffer, filled = blocks.buffer(), 0
                    if probe_at is not None and time.monotonic() >= probe_at:
                        rate = (offset - self.offset) / (PROBE_SECONDS + time.monotonic() - probe_at)
                        probe_at = None
                        if (limit - offset) > rate * SPLIT_WHEN_SECONDS:
                            raise SplitNow()
                if limit is None or offset == limit:
                    local_write(os.fsync, out)  # durable before the rename into the store; overlaps the hash
            finally:
                local_write(os.close, out)
        finally:
            self.offset = offset
            blocks.hash(buffer, filled)  # every byte written is hashed, even when the loop stops early
            self.hasher = blocks.finish()
