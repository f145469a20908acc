"""The content-addressed store under ZOO_HOME/store.

    store/
      oci-layout                     {"imageLayoutVersion": "1.0.0"}: blobs are laid out as an OCI image
      blobs/sha256/<hex>             every file, once, named by its digest, read-only
      entries/<variant-id>.json      what a variant is made of (paths -> digests) and where it came from
      artifacts/<variant-id>/<path>  hard links to the blobs, so apps and scripts get real paths
      partials/<key>.part            downloads in progress; a crashed pull resumes from these
      partials/<key>.part.ranges     how far each piece of a file fetched in pieces got (registry/transfer/pieces.py)
      partials/<key>.part.object     what the server said of that file: validator, checksum (registry/transfer/remote_object.py)
      leases/<pid>-<n>.json          blobs a running pull holds before an entry refers to them
      locks/                         file locks: one per variant being pulled, one for the store

A blob enters the store as soon as its digest is verified, by fsync and rename, so a pull of
another variant that shares the file finds it at once and a pull killed after that point loses
nothing. An entry is written last, so an entry that exists is complete. Until then the pull's
lease keeps gc away from its blobs; `store.lock` orders gc against every lease and install.
"""

from __future__ import annotations

import json
import os
import re
import stat
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from . import __version__, settings
from .fsutil import write_atomically

if TYPE_CHECKING:
    from filelock import FileLock

ENTRY_FORMAT = 1
# What may name an entry: a variant id (manifest rule) or `<model>.inputs`. No '/', no leading '.':
# an id can never climb out of entries/ or artifacts/, whatever a user or a shared folder supplies.
_ENTRY_ID = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def valid_entry_id(name: str) -> bool:
    return isinstance(name, str) and _ENTRY_ID.fullmatch(name) is not None


def _safe_relative(path: str) -> bool:
    """A path inside an artifact folder: relative, no '..', no empty or dot segments, no backslash."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


@dataclass
class EntryFile:
    path: str
    sha256: str
    size: int


@dataclass
class Entry:
    id: str
    kind: str  # "pulled" | "built"
    files: list[EntryFile]
    main: str
    source: dict = field(default_factory=dict)
    created_at: float = 0.0
    zoo_version: str = __version__
    verified_at: float = 0.0

    def as_dict(self) -> dict:
        return {
            "format": ENTRY_FORMAT,
            "id": self.id,
            "kind": self.kind,
            "main": self.main,
            "files": [f.__dict__ for f in self.files],
            "source": self.source,
            "created_at": self.created_at,
            "zoo_version": self.zoo_version,
            "verified_at": self.verified_at,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        """Raises ValueError for an entry zoo would not have written (a bad id, a path that climbs out)."""
        files = data["files"]
        if not valid_entry_id(data["id"]) or not isinstance(files, list) or not files:
            raise ValueError("not an entry zoo wrote")
        for f in files:
            if not (_safe_relative(f["path"]) and isinstance(f["sha256"], str) and _DIGEST.fullmatch(f["sha256"])
                    and isinstance(f["size"], int) and f["size"] >= 0):
                raise ValueError("not an entry zoo wrote")
        if data["main"] not in {f["path"] for f in files}:
            raise ValueError("not an entry zoo wrote")
        return cls(
            id=data["id"],
            kind=data["kind"],
            main=data["main"],
            files=[EntryFile(**f) for f in data["files"]],
            source=data.get("source", {}),
            created_at=data.get("created_at", 0.0),
            zoo_version=data.get("zoo_version", ""),
            verified_at=data.get("verified_at", 0.0),
        )

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _fsync(path: Path) -> None:
    """Flush a file's (or a directory's) data to disk before a rename makes it visible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_lock(path: Path, **options) -> FileLock:
    """A lock on `path`; filelock is imported only by the commands that lock (`zoo run` reads the store without it)."""
    from filelock import FileLock

    return FileLock(str(path), **options)


class Lease:
    """The blobs one running pull has verified into (or found in) the store before its entry exists.

    The owner holds the lease's file lock for as long as it runs; the kernel releases that lock
    when the process dies, even by SIGKILL, which is how gc tells a live lease from a stale one
    without clocks or pids. Thread-safe: a pull's download threads add to one lease.
    """

    def __init__(self, store: Store):
        name = f"{os.getpid()}-{os.urandom(4).hex()}"
        self.file = store.leases / f"{name}.json"
        self.digests: set[str] = set()
        self.added: set[str] = set()  # the blobs its owner put into the store, to take out again on failure
        self._owner = file_lock(store.leases / f"{name}.lock", thread_local=False)

    def __enter__(self) -> Lease:
        self._owner.acquire()
        write_atomically(self.file, "[]")
        return self

    def hold(self, digest: str, *, added: bool = False) -> None:
        """Call with the store lock held, so gc sees the blob either referenced here or not yet present."""
        if added:
            self.added.add(digest)
        if digest not in self.digests:
            self.digests.add(digest)
            write_atomically(self.file, json.dumps(sorted(self.digests)))

    def __exit__(self, *exc_info) -> None:
        try:
            self.file.unlink(missing_ok=True)
        finally:
            self._owner.release()
            Path(self._owner.lock_file).unlink(missing_ok=True)


class Store:
    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.entries_dir = root / "entries"
        self.artifacts = root / "artifacts"
        self.partials = root / "partials"
        self.locks = root / "locks"
        self.leases = root / "leases"
        self.fingerprints_file = root / "fingerprints.json"
        for directory in (self.blobs, self.entries_dir, self.artifacts, self.partials, self.locks, self.leases):
            directory.mkdir(parents=True, exist_ok=True)
        layout = root / "oci-layout"
        if not layout.exists():
            write_atomically(layout, json.dumps({"imageLayoutVersion": "1.0.0"}))

    # ------------------------------------------------------------------ locks

    def lock(self, name: str, timeout: float = -1) -> FileLock:
        return file_lock(self.locks / f"{name}.lock", timeout=timeout)

    def store_lock(self) -> FileLock:
        return self.lock("store")

    # ------------------------------------------------------------------ blobs

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest

    def blob_stat(self, digest: str) -> os.stat_result | None:
        """The blob's own lstat when it is a regular file; None when it is missing or anything else.

        A link (to an outside copy, to /dev/zero), a FIFO or a device in blobs/ was not put there by
        zoo: it counts as missing, is never followed or opened, and a repair replaces it.
        """
        try:
            st = os.lstat(self.blob_path(digest))
        except OSError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        st = self.blob_stat(digest)
        return st is not None and (size is None or st.st_size == size)

    def blob_sha256(self, digest: str) -> str | None:
        """The sha256 of the blob's bytes, read without following a link or blocking on a FIFO; None if it is no regular file."""
        import hashlib

        try:
            fd = os.open(self.blob_path(digest), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            os.set_blocking(fd, True)
            with open(fd, "rb", closefd=False) as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()
        finally:
            os.close(fd)

    def linked_correctly(self, entry: "Entry", f: "EntryFile") -> bool:
        """Whether the artifact's name for `f` is a regular file that is its blob (the same inode)."""
        blob = self.blob_stat(f.sha256)
        try:
            link = os.lstat(self.artifact_dir(entry.id) / f.path)
        except OSError:
            return False
        return blob is not None and stat.S_ISREG(link.st_mode) and (link.st_ino, link.st_dev) == (blob.st_ino, blob.st_dev)

    def damaged_files(self, entry: "Entry") -> list[str]:
        """The entry's files whose blobs are not the bytes it names, by their recorded stat fingerprint
        (size, mtime, inode, ctime: a write or swap changes ctime, which no one can set back) and, where
        that changed, by hashing them again. A blob that hashes right gets its fingerprint recorded anew."""
        recorded, damaged, rehashed = self.fingerprints(), [], {}
        for f in entry.files:
            st = self.blob_stat(f.sha256)
            if st is None or st.st_size != f.size:
                damaged.append(f.path)
            elif recorded.get(f.sha256) != self.stat_fingerprint(self.blob_path(f.sha256)):
                if self.blob_sha256(f.sha256) == f.sha256:
                    rehashed[f.sha256] = self.stat_fingerprint(self.blob_path(f.sha256))
                else:
                    damaged.append(f.path)
        if rehashed:
            self.record_fingerprints(rehashed)
        return damaged

    def check_entry(self, entry: "Entry") -> list[str]:
        """Before zoo reads an entry's files by their artifact names (to sign or push them): the damaged
        files (damaged_files), and, when there are none, every name made a link to its blob again, so a
        name swapped for a link or another file is never read as the entry's."""
        damaged = self.damaged_files(entry)
        if not damaged and not all(self.linked_correctly(entry, f) for f in entry.files):
            with self.store_lock():
                self.install(entry)
        return damaged

    def drop_damaged_blobs(self, entry: "Entry") -> list[str]:
        """Take out every blob of `entry` that is not a regular file with the right bytes (lstat and
        O_NOFOLLOW: never followed or waited on), so the next fetch or build puts the right one back.
        Returns the paths of the files whose blobs went. Call with the store lock held."""
        dropped = {}
        for f in entry.files:
            blob = self.blob_path(f.sha256)
            if os.path.lexists(blob) and self.blob_sha256(f.sha256) != f.sha256:
                blob.unlink()
                dropped[f.sha256] = f.path
        self.forget_fingerprints(set(dropped))
        return list(dropped.values())

    def add_blob(self, source: Path, digest: str) -> Path:
        """Move verified bytes zoo wrote itself (a download, a copy, a build output) into the store.

        Never a link to anybody else's file: a write through the other name would change the stored
        bytes. Call with the store lock held when the blob is about to be referenced by an entry.
        """
        target = self.blob_path(digest)
        if self.has_blob(digest):  # a link or FIFO in its place is no blob: the rename below replaces it
            source.unlink(missing_ok=True)
            return target
        _fsync(source)
        os.chmod(source, 0o444)
        os.replace(source, target)
        _fsync(self.blobs)
        return target

    def partial_path(self, key: str) -> Path:
        return self.partials / f"{key}.part"

    # ------------------------------------------------------------------ entries

    def entry_path(self, variant_id: str) -> Path:
        return self.entries_dir / f"{_checked(variant_id)}.json"

    def artifact_dir(self, variant_id: str) -> Path:
        return self.artifacts / _checked(variant_id)

    def entry(self, variant_id: str) -> Entry | None:
        """The stored entry called `variant_id`; None for a name that is no valid id, or an entry zoo did not write."""
        if not valid_entry_id(variant_id):
            return None
        try:
            entry = Entry.from_dict(json.loads(self.entry_path(variant_id).read_text()))
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        return entry if entry.id == variant_id else None

    def entries(self) -> list[Entry]:
        found = []
        for path in sorted(self.entries_dir.glob("*.json")):
            entry = self.entry(path.stem)
            if entry:
                found.append(entry)
        return found

    def install(self, entry: Entry) -> Entry:
        """Link the entry's blobs under artifacts/<id>/ and write the entry. Hold the store lock."""
        final = self.artifact_dir(entry.id)
        staging = self.artifacts / f".{entry.id}.{os.getpid()}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for f in entry.files:
                dest = staging / f.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(self.blob_path(f.sha256), dest)
            old = self.artifacts / f".{entry.id}.{os.getpid()}.old"
            if final.exists():
                os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
            entry.created_at = entry.created_at or time.time()
            write_atomically(self.entry_path(entry.id), json.dumps(entry.as_dict(), indent=2), durable=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return entry

    def update_entry(self, entry: Entry) -> None:
        write_atomically(self.entry_path(entry.id), json.dumps(entry.as_dict(), indent=2), durable=True)

    def remove(self, variant_id: str) -> bool:
        with self.store_lock():
            existed = self.entry_path(variant_id).exists()
            self.entry_path(variant_id).unlink(missing_ok=True)
            shutil.rmtree(self.artifact_dir(variant_id), ignore_errors=True)
        return existed

    # ------------------------------------------------------------------ gc

    def referenced(self) -> set[str]:
        return {f.sha256 for entry in self.entries() for f in entry.files}

    def iter_blobs(self) -> Iterator[Path]:
        for path in self.blobs.iterdir():
            if len(path.name) == 64 and not path.name.startswith("."):
                yield path

    def lease(self) -> Lease:
        return Lease(self)

    def hold_if_present(self, lease: Lease, digest: str, size: int | None = None) -> bool:
        """Whether the blob is in the store; if so the lease holds it, so gc cannot take it before the entry is written."""
        with self.store_lock():
            if not self.has_blob(digest, size):
                return False
            lease.hold(digest)
            return True

    def admit(self, lease: Lease, local: Path, digest: str) -> Path:
        """Verified bytes zoo wrote become a blob, held by the lease until an entry refers to it."""
        with self.store_lock():
            added = not self.has_blob(digest)
            blob = self.add_blob(local, digest)
            lease.hold(digest, added=added)
        return blob

    def leased(self, *, besides: Lease | None = None) -> set[str]:
        """Digests held by the leases of live processes. Hold the store lock; dead owners' leases are dropped."""
        from filelock import Timeout

        held: set[str] = set()
        for file in self.leases.glob("*.json"):
            if besides is not None and file == besides.file:
                continue
            owner = file_lock(file.with_suffix(".lock"), thread_local=False)
            try:
                owner.acquire(timeout=0)
            except Timeout:  # its owner is alive
                try:
                    held.update(json.loads(file.read_text()))
                except (OSError, ValueError):
                    pass
                continue
            try:  # the kernel released a dead owner's lock: the lease is void
                file.unlink(missing_ok=True)
                Path(owner.lock_file).unlink(missing_ok=True)
            finally:
                owner.release()
        return held

    def discard_unreferenced(self, lease: Lease) -> None:
        """Remove the blobs a failed pull added, unless an entry or another live pull refers to them by now."""
        if not lease.added:
            return
        with self.store_lock():
            unwanted = lease.added - self.referenced() - self.leased(besides=lease)
            for digest in unwanted:
                self.blob_path(digest).unlink(missing_ok=True)
            self.forget_fingerprints(unwanted)

    def gc(self, *, dry_run: bool = False) -> tuple[list[str], int]:
        """Delete blobs that no entry refers to and no running pull holds. Returns (digests, bytes)."""
        freed: list[str] = []
        total = 0
        with self.store_lock():
            keep = self.referenced() | self.leased()
            for blob in list(self.iter_blobs()):
                if blob.name in keep:
                    continue
                total += blob.stat().st_size
                freed.append(blob.name)
                if not dry_run:
                    blob.unlink(missing_ok=True)
            if not dry_run:
                self.forget_fingerprints(set(freed))
        return freed, total

    # ------------------------------------------------------------------ hub ids

    def source_index(self) -> dict[str, str]:
        """What a source calls a file -> sha256 of a stored blob with that content.

        Keys are a git blob id (a hub's ETag for small files) or `key:<partial key>` (a remote
        file a source names by place, such as a Kaggle version's file, whose digest nobody
        announces): a pull killed after a file entered the store finds it again by either.
        """
        try:
            data = json.loads((self.root / "git-index.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def lookup(self, transfer) -> str | None:
        """The digest of a stored blob that a source's transfer is known to deliver, if any."""
        index = self.source_index()
        return index.get(transfer.hub_git_sha1 or "") or index.get(f"key:{transfer.partial_key}" if transfer.partial_key else "")

    def record_source_ids(self, ids: dict[str, str]) -> None:
        if not ids:
            return
        with self.lock("git-index"):
            data = self.source_index()
            data.update(ids)
            write_atomically(self.root / "git-index.json", json.dumps(data))

    # ------------------------------------------------------------------ fingerprints

    def fingerprints(self) -> dict[str, list[int]]:
        try:
            return json.loads(self.fingerprints_file.read_text())
        except (OSError, ValueError):
            return {}

    @staticmethod
    def stat_fingerprint(path: Path) -> list[int]:
        st = os.lstat(path)
        return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_mode]

    def record_fingerprints(self, digests: dict[str, list[int]]) -> None:
        with self.lock("fingerprints"):
            data = self.fingerprints()
            data.update(digests)
            write_atomically(self.fingerprints_file, json.dumps(data))

    def forget_fingerprints(self, digests: set[str]) -> None:
        if not digests:
            return
        with self.lock("fingerprints"):
            data = {k: v for k, v in self.fingerprints().items() if k not in digests}
            write_atomically(self.fingerprints_file, json.dumps(data))


def _checked(variant_id: str) -> str:
    if not valid_entry_id(variant_id):
        from .errors import ZooError

        raise ZooError(f"'{variant_id[:80]}' is not a valid artifact id.", fix="`zoo ls` lists the ids in the store.")
    return variant_id


def default_store() -> Store:
    """The store under ZOO_HOME."""
    return Store(settings.get().store_dir)
