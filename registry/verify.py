"""`zoo verify`: re-check what is in the store, offline.

Every blob is hashed (several files in parallel: hashlib releases the GIL while it hashes), unless
the blob's recorded fingerprint (size, mtime, inode, ctime) shows it has not changed since it was
last verified; a write to the file, even one that restores its mtime, changes its ctime.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .store import Entry, Store


@dataclass
class FileReport:
    path: str
    sha256: str
    ok: bool
    problem: str = ""
    from_fingerprint: bool = False


@dataclass
class VerifyReport:
    variant_id: str
    files: list[FileReport] = field(default_factory=list)
    format_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files) and not self.format_problems

    def as_dict(self) -> dict:
        return {
            "id": self.variant_id,
            "ok": self.ok,
            "files": [f.__dict__ for f in self.files],
            "format_problems": self.format_problems,
        }


def _check_file(store: Store, entry: Entry, f, fingerprints: dict, full: bool) -> tuple[FileReport, list[int] | None]:
    """lstat only, and open only regular files: a blob swapped for a link, a FIFO or /dev/zero is
    reported, never followed, hashed forever or waited on."""
    blob = store.blob_path(f.sha256)
    link = store.artifact_dir(entry.id) / f.path
    if store.blob_stat(f.sha256) is None:
        if os.path.lexists(blob):
            return FileReport(f.path, f.sha256, False, "its blob is not a regular file (a link, FIFO or device replaced it)"), None
        return FileReport(f.path, f.sha256, False, "its blob is missing from the store"), None
    if not store.linked_correctly(entry, f):
        return FileReport(f.path, f.sha256, False, f"{link} is missing or is no longer the stored file"), None
    stamp = store.stat_fingerprint(blob)
    if not full and fingerprints.get(f.sha256) == stamp:
        return FileReport(f.path, f.sha256, True, from_fingerprint=True), None
    if stamp[0] != f.size:
        return FileReport(f.path, f.sha256, False, f"size is {stamp[0]} bytes, expected {f.size}"), None
    got = store.blob_sha256(f.sha256)
    if got != f.sha256:
        return FileReport(f.path, f.sha256, False, f"sha256 is {got}, expected {f.sha256}"), None
    return FileReport(f.path, f.sha256, True), stamp


def verify_entries(store: Store, entries: list[Entry], *, full: bool = False, format_check=None) -> list[VerifyReport]:
    """Check every file of every entry; `format_check(entry, path)` adds structural problems."""
    fingerprints = store.fingerprints()
    jobs = [(entry, f) for entry in entries for f in entry.files]
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 2))) as pool:
        results = list(pool.map(lambda job: _check_file(store, job[0], job[1], fingerprints, full), jobs))
    reports = {entry.id: VerifyReport(entry.id) for entry in entries}
    fresh = {}
    for (entry, f), (report, stamp) in zip(jobs, results):
        reports[entry.id].files.append(report)
        if stamp:
            fresh[f.sha256] = stamp
    if fresh:
        store.record_fingerprints(fresh)
    for entry in entries:
        report = reports[entry.id]
        unchanged = all(f.from_fingerprint for f in report.files)
        if format_check and report.ok and not unchanged:  # unchanged files passed these checks already
            report.format_problems = format_check(entry, store.artifact_dir(entry.id))
        if report.ok and any(not f.from_fingerprint for f in report.files):
            entry.verified_at = time.time()
            store.update_entry(entry)
    return list(reports.values())


def fingerprint_state(store: Store, entry: Entry, fingerprints: dict) -> str:
    """'verified' when every blob still matches the fingerprint recorded when it was last hashed."""
    for f in entry.files:
        blob = store.blob_path(f.sha256)
        if store.blob_stat(f.sha256) is None:
            return "missing"
        if fingerprints.get(f.sha256) != store.stat_fingerprint(blob):
            return "changed"
    return "verified"


def find_entry_for_path(store: Store, path: Path) -> tuple[Entry, str] | None:
    """The entry (and file) a path in the store or a copy of a stored file belongs to."""
    resolved = path.resolve()
    for entry in store.entries():
        for f in entry.files:
            blob = store.blob_stat(f.sha256)
            if blob is not None and resolved.exists() and (blob.st_ino, blob.st_dev) == (resolved.stat().st_ino, resolved.stat().st_dev):
                return entry, f.path
    return None
