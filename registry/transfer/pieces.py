"""One big file over several connections at once, into one partial file, resumable piece by piece.

Why: CDNs cap each connection, so one stream of a 3 GB model can take minutes while the line
is idle; Ollama fetches a blob in up to 16 parts and aria2c in as many as it is told. zoo cuts
a file whose size it knows into pieces of ZOO_DOWNLOAD_PIECE_BYTES (at most 1024 of them) and
fetches them in order on up to ZOO_DOWNLOAD_CONNECTIONS kept-alive connections: each worker
takes the next piece, asks for it with `Range: bytes=a-b` and writes it with pwrite at its place
in the partial file. Taking pieces in order keeps the landed bytes contiguous but for the few
pieces in flight, so a hashing thread that follows the contiguous prefix (reading it back while
it is still in the page cache) finishes moments after the last piece: bytes are hashed once, in
order, before the store takes them. Eight long pieces instead would all end together and leave
seven eighths of the file to hash afterwards. How far each piece got is kept in
`<partial>.ranges`, rewritten atomically and only ever counting bytes already written, so a run
killed at any point resumes every piece where it stopped. A server that ignores Range gets the
single stream instead. When to split is registry/download.py's call: after half a second of the one
stream, and only when the rest would take it more than a few seconds.
"""

from __future__ import annotations

import json
import os
import random
import stat
import threading
from collections import deque
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import __version__
from ..errors import DiskError, NetworkError
from ..fsutil import write_atomically
from .http import (
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
)
from .remote_object import Digests, ObjectChanged, RemoteObject

_MAX_PIECES = 1024
_STATE_LIMIT = 256 << 10  # 256 KiB: zoo's ranges file is at most ~40 KiB; anything bigger is not its own
_SAVE_EVERY = 0.5  # seconds between rewrites of the ranges file
_READ_BACK = 4 << 20  # the hashing thread's block: stays in the cache between the write and the hash
_RECEIVE = 1 << 20


class RangesRefused(Exception):
    """The server answered a range request with the whole file: only the single stream works there."""


@dataclass
class _Piece:
    start: int
    end: int  # exclusive
    done: int = 0

    @property
    def frontier(self) -> int:
        return self.start + self.done

    @property
    def complete(self) -> bool:
        return self.frontier >= self.end


def state_path(partial: Path) -> Path:
    return partial.with_name(partial.name + ".ranges")


def plan(size: int, piece_bytes: int) -> list[_Piece]:
    """Pieces of `piece_bytes` (more for a file that would need over 1024) covering [0, size), in order."""
    step = max(1, piece_bytes, -(-size // _MAX_PIECES))
    return [_Piece(start, min(size, start + step)) for start in range(0, size, step)]


def _read_state(partial: Path) -> dict | None:
    """The ranges file as JSON, read bounded and without following a link or waiting on a FIFO."""
    try:
        fd = os.open(state_path(partial), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        raw = os.read(fd, _STATE_LIMIT + 1) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        state = json.loads(raw) if len(raw) <= _STATE_LIMIT else None
        return state if isinstance(state, dict) else None
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    finally:
        os.close(fd)


def load_state(partial: Path, size: int) -> list[_Piece] | None:
    """The pieces a killed run left, or None when there are none zoo can trust (the partial goes then)."""
    state = _read_state(partial)
    try:
        pieces = [_Piece(int(a), int(b), int(d)) for a, b, d in state["pieces"]] if state and state.get("size") == size else None
    except (ValueError, TypeError, KeyError, OverflowError):  # OverflowError: int(Infinity), int(1e400)
        pieces = None
    if pieces and pieces[0].start == 0 and pieces[-1].end == size and all(
        r.start < r.end and 0 <= r.done <= r.end - r.start for r in pieces
    ) and all(a.end == b.start for a, b in zip(pieces, pieces[1:])):
        return pieces
    return None


def _save_state(partial: Path, size: int, pieces: list[_Piece]) -> None:
    """Rewrite the ranges file atomically; `done` is read after the bytes it counts were written."""
    write_atomically(state_path(partial), json.dumps({"size": size, "pieces": [[r.start, r.end, r.done] for r in pieces]}))


def contiguous_prefix(pieces: list[_Piece]) -> int:
    """Bytes from the start of the file that are all on disk."""
    prefix = 0
    for r in pieces:
        prefix = r.frontier
        if not r.complete:
            break
    return prefix


def settle(partial: Path) -> None:
    """Turn what a ranged run left into what the single stream resumes from: its contiguous prefix."""
    path = state_path(partial)
    if not os.path.lexists(path):
        return
    size = (_read_state(partial) or {}).get("size")
    pieces = load_state(partial, size) if isinstance(size, int) else None
    if pieces is None:
        partial.unlink(missing_ok=True)
    elif partial.exists():
        os.truncate(partial, min(partial.stat().st_size, contiguous_prefix(pieces)))
    path.unlink(missing_ok=True)


class _Hasher(threading.Thread):
    """sha256 of the file's contiguous prefix, read back as pieces land."""

    def __init__(self, fd: int, pieces: list[_Piece], changed: threading.Condition, stop: threading.Event,
                 crc32c: bool) -> None:
        super().__init__(name="zoo-sha256-pieces", daemon=True)
        self.fd, self.pieces, self.changed, self.stop = fd, pieces, changed, stop
        self.digests = Digests(crc32c)
        self.hashed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        buffer = memoryview(bytearray(_READ_BACK))
        try:
            for r in self.pieces:
                while self.hashed < r.end:
                    with self.changed:
                        while r.frontier <= self.hashed and not self.stop.is_set():
                            self.changed.wait(0.5)
                        if r.frontier <= self.hashed:
                            return
                        available = r.frontier
                    while self.hashed < available:
                        got = os.preadv(self.fd, [buffer[: min(len(buffer), available - self.hashed)]], self.hashed)
                        if got <= 0:
                            raise OSError(f"the partial file ended at {self.hashed} bytes while hashing it")
                        self.digests.update(buffer[:got])
                        self.hashed += got
        except BaseException as exc:  # surfaced by the downloading thread
            self.error = exc


def ranged_download(
    url: str,
    partial: Path,
    *,
    size: int,
    pool,
    remote: RemoteObject,
    headers: dict[str, str] | None,
    timeout: float,
    retries: int,
    connections: int,
    piece_bytes: int,
    on_bytes: Callable[[int], None] | None,
    what: str,
    report_resumed: bool = True,
) -> DownloadResult:
    """Fetch `url` (`size` bytes, known in advance) into `partial` on up to `connections` connections.

    Raises RangesRefused (after leaving the contiguous prefix as a plain partial) when the server
    ignores Range, NetworkError as `download` does, and DiskError for the local disk's failures.
    `report_resumed`: tell `on_bytes` about the bytes already on disk (not when this run's own
    single stream fetched them a moment ago).
    """
    pieces = _resume_or_plan(partial, size, piece_bytes)
    resumed_from = sum(r.done for r in pieces)
    if on_bytes and resumed_from and report_resumed:
        on_bytes(resumed_from)
    fd = _open_partial(partial, size, pieces, what)
    changed, stop = threading.Condition(), threading.Event()
    hasher = _Hasher(fd, pieces, changed, stop, crc32c=remote.crc32c is not None)
    hasher.start()
    try:
        fetch = _PieceFetcher(pool, url, fd, size, remote, headers, timeout, retries, on_bytes, changed, stop, what)
        outcome = _fetch_pieces(fetch, pieces, partial, size, connections, changed, stop)
        if outcome is None:
            outcome = _hashed_whole(hasher, size, fd)
    except LocalWriteFailed as failed:
        outcome = failed
    finally:
        hasher.join()
        os.close(fd)
    if outcome is None:
        state_path(partial).unlink(missing_ok=True)
        return DownloadResult(hasher.digests.hexdigest(), size, resumed_from, hasher.digests.crc32c_base64())
    return _fail(outcome, partial, pieces, size, retries, what)


def _open_partial(partial: Path, size: int, pieces: list[_Piece], what: str) -> int:
    """The partial file, opened for writes at any offset, its plan saved beside it first."""
    try:
        _save_state(partial, size, pieces)
        return os.open(partial, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise DiskError.writing(exc, what, partial.parent) from None


def _fetch_pieces(fetch: _PieceFetcher, pieces: list[_Piece], partial: Path, size: int, connections: int,
                  changed: threading.Condition, stop: threading.Event) -> BaseException | None:
    """Workers take the missing pieces until none is left or one fails (its exception is returned);
    the progress is saved every few seconds, and once more at the end."""
    todo = deque(r for r in pieces if not r.complete)
    outcome: BaseException | None = None
    workers_wanted = max(1, min(connections, len(todo)))
    with ThreadPoolExecutor(max_workers=workers_wanted, thread_name_prefix="zoo-range") as workers:
        try:
            pending = {workers.submit(fetch.work, todo) for _ in range(min(connections, len(todo)))}
            while pending and outcome is None:
                finished, pending = wait(pending, timeout=_SAVE_EVERY, return_when=FIRST_EXCEPTION)
                _save_progress(partial, size, pieces)
                outcome = next((f.exception() for f in finished if f.exception() is not None), None)
        finally:  # a failure, Ctrl-C or the end: every worker stops at its next block
            stop.set()
            with changed:
                changed.notify_all()
    _save_progress(partial, size, pieces)
    return outcome


def _hashed_whole(hasher: _Hasher, size: int, fd: int) -> BaseException | None:
    """Once every piece landed, every byte must have been hashed; the file is made durable before
    the rename into the store."""
    hasher.join()
    if hasher.error is None and hasher.hashed != size:
        hasher.error = OSError(f"hashed {hasher.hashed} of the {size} bytes written")
    if hasher.error is not None:
        return LocalWriteFailed(hasher.error)
    local_write(os.fsync, fd)
    return None


def _resume_or_plan(partial: Path, size: int, piece_bytes: int) -> list[_Piece]:
    """The pieces a killed run left when its partial bears them out; a fresh plan otherwise."""
    pieces = load_state(partial, size)
    on_disk = partial.stat().st_size if partial.exists() else 0
    if pieces is not None and on_disk >= max(r.frontier if r.done else 0 for r in pieces):
        return pieces
    if os.path.lexists(state_path(partial)) or on_disk > size:  # a ranges file zoo cannot trust: nothing of the partial is
        partial.unlink(missing_ok=True)
        on_disk = 0
    pieces = plan(size, piece_bytes)
    for r in pieces:  # a partial the single stream left is a prefix: those bytes are kept
        r.done = max(0, min(on_disk, r.end) - r.start)
    return pieces


def _save_progress(partial: Path, size: int, pieces: list[_Piece]) -> None:
    try:
        _save_state(partial, size, pieces)
    except OSError:
        pass  # a full disk: the next run starts these pieces again, no harm to the bytes


def _fail(outcome: BaseException, partial: Path, pieces: list[_Piece], size: int, retries: int, what: str):
    if isinstance(outcome, RangesRefused):
        settle(partial)
        raise outcome
    if isinstance(outcome, (ServerMisbehaved, SizeDiffers, LocalWriteFailed, ObjectChanged)):
        state_path(partial).unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
        if isinstance(outcome, ServerMisbehaved):
            raise NetworkError(
                f"The server misbehaved while sending {what}: {outcome}. The partial download was discarded.",
                fix="Try again later; if it persists the server or a proxy in between is broken.",
            ) from None
        if isinstance(outcome, LocalWriteFailed):
            raise DiskError.writing(outcome.__cause__ or outcome.args[0], what, partial.parent) from None
        raise outcome
    if isinstance(outcome, NetworkError) and not isinstance(outcome, _GaveUp):
        raise outcome
    kept = sum(r.done for r in pieces)
    why = outcome.reason if isinstance(outcome, _GaveUp) else reason(outcome)
    raise NetworkError(
        f"Downloading {what} failed {retries} times on one of its connections ({why}); "
        f"{kept} of {size} bytes are kept and the next run resumes each piece from there.",
        fix="Check the connection and run the same command again, or raise ZOO_HTTP_TIMEOUT / ZOO_HTTP_RETRIES "
        "(ZOO_DOWNLOAD_CONNECTIONS=1 fetches on one connection).",
    ) from None


class _GaveUp(NetworkError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _PieceFetcher:
    """What every worker shares: where to ask, where to write, when to stop."""

    def __init__(self, pool, url, fd, size, remote, headers, timeout, retries, on_bytes, changed, stop, what) -> None:
        self.pool, self.url, self.fd, self.size, self.remote, self.headers = pool, url, fd, size, remote, headers
        self.timeout, self.retries, self.on_bytes, self.what = timeout, retries, on_bytes, what
        self.changed, self.stop = changed, stop
        self.taking = threading.Lock()

    def work(self, todo: deque) -> None:
        """One worker: the next piece in file order, until none is left."""
        buffer = memoryview(bytearray(_RECEIVE))
        while not self.stop.is_set():
            with self.taking:
                if not todo:
                    return
                piece = todo.popleft()
            self._fetch(piece, buffer)

    def _fetch(self, r: _Piece, buffer: memoryview) -> None:
        """GET what is missing of `r` and pwrite it in place, retrying with backoff."""
        import http.client

        import urllib3

        attempt = 0
        while not r.complete and not self.stop.is_set():
            request_headers = urllib3.HTTPHeaderDict({"Accept-Encoding": "identity", "User-Agent": f"zoo/{__version__}"})
            request_headers.update(self.headers or {})
            request_headers["Range"] = f"bytes={r.frontier}-{r.end - 1}"
            request_headers.update(self.remote.condition())  # this range of the same object, or the whole new one
            try:
                response = get_following_same_origin(self.pool, self.url, request_headers, self.timeout)
                try:
                    self._receive(response, r, buffer)
                finally:
                    if r.complete:  # read to its end: the connection serves the next piece
                        response.release_conn()
                    else:
                        response.close()
            except (RetryLater, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                # OSError: the socket's own errors; the disk's are LocalWriteFailed by then.
                attempt += 1
                if attempt >= self.retries:
                    raise _GaveUp(reason(exc)) from None
                self.stop.wait(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2))

    def _receive(self, response, r: _Piece, buffer: memoryview) -> None:
        refuse_status(response, self.url, self.what)
        if response.status == 200:
            raise RangesRefused()
        if response.status != 206:
            raise ServerMisbehaved(f"unexpected HTTP status {response.status}")
        self.remote.observe(response)  # ObjectChanged: this piece is of another object than the others
        wanted = f"bytes {r.frontier}-{r.end - 1}/{self.size}"
        content_range = response.headers.get("Content-Range", "")
        if content_range != wanted:
            total = content_range.rpartition("/")[2]
            if total.isdigit() and int(total) != self.size:
                raise SizeDiffers(f"The server announces {total} bytes for {self.what} where {self.size} were expected.",
                                  announced=int(total), expected=self.size)
            raise ServerMisbehaved(f"asked for {wanted.replace(' ', '=', 1)} but got Content-Range '{content_range}'")
        length = response.headers.get("Content-Length")
        if length is not None and length.strip() != str(r.end - r.frontier):
            raise ServerMisbehaved(f"it announced {length} bytes for a range of {r.end - r.frontier}")
        read_into = _piece_reader(response)
        while not r.complete and not self.stop.is_set():
            received = read_into(buffer[: min(len(buffer), r.end - r.frontier)])
            if not received:
                raise RetryLater(f"connection closed {r.end - r.frontier} bytes before the end of its range")
            view, at = buffer[:received], r.frontier
            while view:
                written = local_write(os.pwrite, self.fd, view, at)
                view, at = view[written:], at + written
            with self.changed:
                r.done += received
                self.changed.notify_all()
            if self.on_bytes:
                self.on_bytes(received)


def _piece_reader(response) -> Callable[[memoryview], int]:
    """Reads the body into a buffer through the standard library's response, which counts what is
    left and closes itself at the end: urllib3 can then hand the connection to the next piece.
    (A server that sends more than the range it was asked for is cut off there: Content-Length
    bounds every read.)"""
    message = getattr(response, "_fp", None)
    if message is not None and hasattr(message, "readinto") and getattr(message, "chunked", True) is False:
        return message.readinto
    return body_reader(response)
