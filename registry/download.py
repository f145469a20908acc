"""Moving bytes over HTTP: resumable across crashes, hashed while they arrive, bounded by size.

Why zoo has its own byte mover instead of calling the hub client's download: huggingface_hub 2.4
restarts from zero after a crash (its .incomplete file is per-process), and moves a 1 GiB file at
0.3x curl's speed on loopback. So the hub client resolves what it is good at (revision, redirect
to the CDN, metadata, auth) and this module fetches the bytes: one streaming GET with a large
buffer, appended to a partial file that a later run resumes with `Range`, hashed as it lands.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from .errors import NetworkError
from .transfer import pieces
from .transfer.http import CHUNK, DownloadResult, SizeDiffers, StorageChecksumDiffers, origin, pool_for, same_origin
from .transfer.remote_object import ObjectChanged, RemoteObject, file_crc32c
from .transfer.stream import SplitNow, stream

__all__ = ["DownloadResult", "SizeDiffers", "StorageChecksumDiffers", "download", "drop_if_not_regular", "file_sha256",
           "git_blob_sha1", "same_origin"]


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
    connections at once (registry/transfer/pieces.py); any other over one stream.

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
    pool = pool_for(url, ca_certs, connections if split else 1)
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
                result = stream(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what,
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
    resumed_from = None
    if not (split and os.path.lexists(pieces.state_path(partial))):  # a killed ranged run resumes as pieces
        pieces.settle(partial)  # a ranged run's partial, for a single stream: its contiguous prefix
        resumed_from = partial.stat().st_size if partial.exists() else 0
        try:
            return stream(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what, max_bytes,
                           probe=split)
        except SplitNow:
            pass  # one stream would take a while yet: the rest comes in pieces, from the bytes it got
    try:
        result = pieces.ranged_download(url, partial, size=expected_size, pool=pool, remote=remote, headers=headers,
                                        timeout=timeout, retries=retries, connections=connections,
                                        piece_bytes=piece_bytes, on_bytes=on_bytes, what=what,
                                        report_resumed=resumed_from is None)
        return result if resumed_from is None else dataclasses.replace(result, resumed_from=resumed_from)
    except pieces.RangesRefused:  # this server sends whole files only: one stream, from the prefix kept
        return stream(url, partial, pool, remote, expected_size, headers, timeout, retries, on_bytes, what, max_bytes,
                       probe=False)


def _discard(partial: Path, remote: RemoteObject) -> None:
    pieces.state_path(partial).unlink(missing_ok=True)
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
