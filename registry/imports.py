"""`zoo import FILE`: a ready-made model file the user already has, checked and kept like a pull.

The file is untrusted input, as a download is: zoo reads it only if it is a regular file, bounded by
ZOO_MAX_DOWNLOAD_BYTES, and copies it into the store while hashing (never a link to the user's file,
never a move). A path that is a link (a Hugging Face cache's snapshot file) is the user's choice and
is followed once, up front; the file it names is then opened without following links. Its format's structural checks run on the copy
before anything is stored (the checks a pull of that format runs); junk is refused with nothing
kept. The entry records where the file came from and its digest, and every command that takes a
stored artifact (run, verify, info, export, push, rm) takes its id.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import references, settings
from .errors import FormatCheckError, ZooError
from .reporting import QuietReporter, Reporter
from .store import Entry, EntryFile, default_store, valid_entry_id

if TYPE_CHECKING:
    from .catalog import Catalog

IMPORT_KIND = "imported"


def import_file(catalog: "Catalog", given: Path, *, entry_id: str | None = None, reporter: Reporter | None = None) -> Entry:
    """Check `given` by its format and keep a copy in the store under `entry_id` (default: its name and digest)."""
    from .fetch import copy_hashing, partial_key, run_structural_checks  # the pull's machinery, not `zoo info`'s

    reporter = reporter or QuietReporter()
    source = given.expanduser().absolute()
    fmt = _format_of(catalog, source)
    store = default_store()
    partial = store.partial_path(partial_key("import", str(source)))
    with store.lock(f"partial-{partial.stem}"):
        sha, size = copy_hashing(source.resolve(), partial, settings.get().max_download_bytes)
        try:
            entry_id = _entry_id(store, source, sha, entry_id)
            variant = _variant(entry_id, source.name, fmt, sha, size, _backend(partial, fmt),
                               catalog.formats[fmt]["platforms"], _accelerator(partial))
            problems = run_structural_checks(catalog, variant, variant.outputs[0], partial, pulled=True)
            if problems:
                raise FormatCheckError(f"{source} is not a .{fmt} file zoo can use: " + "; ".join(problems)
                                       + ". Nothing was stored.",
                                       fix=f"Check that it is the file you meant; a .{fmt} that its runtime loads passes.")
            entry = Entry(id=entry_id, kind=IMPORT_KIND, files=[EntryFile(source.name, sha, size)], main=source.name,
                          source={"kind": "import", "path": str(source), "sha256": sha, "format": fmt,
                                  "backend": variant.backend, "accelerator": variant.accelerator},
                          created_at=time.time(), verified_at=time.time())
            with store.store_lock():
                store.add_blob(partial, sha)
                store.install(entry)
            store.record_fingerprints({sha: store.stat_fingerprint(store.blob_path(sha))})
        finally:
            partial.unlink(missing_ok=True)
    reporter.message(f"{entry_id}: imported {source.name} ({size} bytes, sha256 {sha[:12]}), checked as .{fmt}.")
    return entry


def variant_of(entry: Entry, catalog: "Catalog"):
    """The ready-made variant an imported entry is, for checks that run again later (`zoo verify`)."""
    main = next(f for f in entry.files if f.path == entry.main)
    fmt = entry.source["format"]
    platforms = catalog.formats.get(fmt, {}).get("platforms") or ["android", "ios"]
    return _variant(entry.id, main.path, fmt, main.sha256, main.size, entry.source.get("backend", "cpu"), platforms,
                    entry.source.get("accelerator"))


def _format_of(catalog: "Catalog", source: Path) -> str:
    """The registered format the file's name says it is; a format no structural check proves is not imported."""
    fmt = catalog.format_of(source.name)
    known = sorted(f["suffix"] for name, f in catalog.formats.items() if catalog.default_checks.get(name))
    if fmt is None or not catalog.default_checks.get(fmt):
        raise ZooError(f"{source.name} is no {', '.join(known)} file, the formats zoo imports.",
                       fix="Import a ready-made model file by its usual name; `zoo build` converts checkpoints.")
    return fmt


def _entry_id(store, source: Path, sha: str, wanted: str | None) -> str:
    """The id the user asked for, or one made of the file's name and digest (the same bytes, the same id)."""
    entry_id = wanted or references.checkpoint_slug(source.stem, sha)
    if not valid_entry_id(entry_id) or entry_id.endswith(".inputs"):
        raise ZooError(f"--as {entry_id[:80]!r} is no id zoo can keep an artifact under.",
                       fix="Use letters, digits, '.', '_' and '-', e.g. --as my-gemma-int4.")
    existing = store.entry(entry_id)
    if existing is not None and {(f.path, f.sha256) for f in existing.files} != {(source.name, sha)}:
        raise ZooError(f"The store already holds another artifact called {entry_id}; zoo keeps it and stored nothing.",
                       fix="Import under another name: `zoo import FILE --as ID` (`zoo ls` lists what is taken).")
    return entry_id


def _backend(path: Path, fmt: str) -> str:
    """What a MediaPipe .bin says it was converted for (its `backend` metadata); cpu for the other formats."""
    if fmt != "bin":
        return "cpu"
    from . import tflite

    try:
        backend = tflite.read(path).metadata.get("backend", b"").decode()
    except Exception:  # noqa: BLE001 - the structural checks say what is wrong with the file
        return "cpu"
    return backend if backend in ("cpu", "gpu") else "cpu"


def _accelerator(path: Path) -> str | None:
    """What a .litertlm that runs on an NPU only says it is compiled for (npu:<its chip>); None otherwise
    (any other file, LITERTLM magic or not, ends at its first 32 bytes), when the backend says it all."""
    from . import litertlm

    try:
        runs = litertlm.accelerators(path)
    except (litertlm.NotLiteRTLM, OSError):
        return None  # the structural checks say what is wrong with the file
    if runs.backends != ("npu",):
        return None
    chip = "".join(c if c.isalnum() or c in "._-" else "-" for c in (runs.chip or "unknown").lower()).strip("-._")
    return f"npu:{chip or 'unknown'}"


def _variant(entry_id: str, name: str, fmt: str, sha: str, size: int, backend: str, platforms: list[str],
             accelerator: str | None = None):
    """The imported file as a ready-made variant, validated like any manifest's, so its format's checks see
    what they see on a pull."""
    from .manifest import parse_manifest

    manifest = parse_manifest({
        "schema_version": 1, "family": "imported", "description": "Files imported with `zoo import`.",
        "models": [{
            "name": entry_id, "description": f"{name}, imported", "platforms": list(platforms),
            "source": {"kind": "local"}, "license": {"name": "as its publisher licenses it"},
            "variants": [{"id": entry_id, "ready_made": True, "backend": backend, "quantization": "fp32", "format": fmt,
                          "files": [{"path": name, "role": "weights", "sha256": sha, "size": size}]}
                         | ({"accelerator": accelerator} if accelerator else {})],
        }],
    }, f"<import of {name}>")
    return manifest.variants(plugin="", manifest_path="")[0]
