"""`zoo pull`: from a resolved variant to verified files in the store.

The order is the promise: check access and resolve every file first (a 403 arrives before any
gigabytes), download the files in parallel (resumable), verify each against every digest anybody
promised (manifest, lock file, the hub's own ETag) and only then let it into the store as a blob
held by this pull's lease, run the structural format checks, and finally link the blobs into an
entry. A failure at any step leaves the store as it was (the blobs this pull added go again);
only resumable partial downloads stay behind.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import lockfile, settings, signing
from .catalog import Catalog
from .components import FetchContext, FetchPlan, Transfer
from .download import SizeDiffers, StorageChecksumDiffers, download, git_blob_sha1
from .errors import (
    FormatCheckError,
    IntegrityError,
    NeedsBuildError,
    OfflineError,
    UpstreamChangedError,
    ZooError,
)
from .fsutil import temp_beside
from .manifest import FileSpec, Variant
from .reporting import QuietReporter, Reporter
from .store import Entry, EntryFile, Lease, Store, default_store


@dataclass
class PullResult:
    variant_id: str
    entry: Entry
    path: Path
    downloaded_bytes: int = 0
    reused_bytes: int = 0
    already_present: bool = False
    pinned_now: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unchecked: list[str] = field(default_factory=list)
    """Files of a first download nothing vouched for: no pin, no hub digest, no storage checksum.
    zoo pinned what arrived; a pull must not call them verified."""


@dataclass
class _Arrived:
    spec: FileSpec
    transfer: Transfer
    local: Path
    sha256: str
    size: int
    downloaded: int
    unchecked: bool = False


def quiet_hub_clients() -> None:
    """The hub clients draw their own bars and log lines; zoo draws one set of progress bars.

    tqdm reads TQDM_DISABLE when it is first imported, so this runs before any client import.
    """
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("KAGGLEHUB_VERBOSITY", "error")


def expected_digests(
    variant: Variant, files: list[FileSpec] | None = None, lock_key: str | None = None, *, use_lock: bool = True
) -> dict[str, tuple[str | None, int | None, str]]:
    """path -> (sha256, size, who promised it): the manifest wins, then the lock file (unless
    `use_lock` is off: `zoo pull --update` takes the hub's new content and pins it again)."""
    pinned = lockfile.pins(lock_key or variant.id) if use_lock else {}
    out = {}
    for f in files or variant.files:
        if f.sha256:
            out[f.path] = (f.sha256, f.size, "the manifest")
        elif f.path in pinned:
            out[f.path] = (pinned[f.path]["sha256"], pinned[f.path].get("size") or f.size, "zoo.lock")
        else:
            out[f.path] = (None, f.size, "")
    return out


def entry_is_complete(store: Store, variant: Variant, entry: Entry | None, lock_key: str | None = None) -> bool:
    if entry is None:
        return False
    expected = expected_digests(variant, lock_key=lock_key)
    have = {f.path: f for f in entry.files}
    if not set(expected) <= set(have):  # a source may add files (allow-patterns) to the manifest's list
        return False
    for path, (sha, size, _) in expected.items():
        f = have[path]
        if (sha and f.sha256 != sha) or (size and f.size != size) or not store.has_blob(f.sha256, f.size):
            return False
    return True


def _acquire(lock, reporter: Reporter, what: str) -> None:
    try:
        lock.acquire(timeout=0.2)
    except Exception:
        reporter.message(f"Waiting for another zoo process that is {what}...")
        lock.acquire()


def pull(
    catalog: Catalog,
    variant: Variant,
    *,
    locked: bool = False,
    repair: bool = False,
    update: bool = False,
    reporter: Reporter | None = None,
    signed_by: Path | None = None,
) -> PullResult:
    """Download a ready-made variant into the store (`update`: accept content the publisher changed
    since zoo.lock pinned it, and pin it again; `signed_by`: refuse it unless signed by this public key,
    deciding before any byte moves when no signature exists)."""
    if not variant.prebuilt:
        raise NeedsBuildError(
            f"{variant.id} is not published ready-made: zoo builds it from {variant.source.kind} "
            f"with the {variant.recipe.converter} converter.",
            fix=f"Run `zoo build {variant.model} --backend {variant.backend} --quant {variant.quantization_label}`.",
        )
    return fetch_files(catalog, variant, variant.id, kind="pulled", locked=locked, repair=repair, update=update,
                       reporter=reporter, signed_by=signed_by)


def inputs_entry_id(variant: Variant) -> str:
    """Build inputs are shared by every variant of a model: one store entry per model (and per
    repo, for a model built from a reference the user named)."""
    if variant.reference is not None:
        from .references import slug

        return f"{variant.model}.{slug(variant.reference)}.inputs"
    return f"{variant.model}.inputs"


def claim_remote_id(variant: Variant, url: str, *, local_id: str | None = None, replace: bool = False) -> Variant:
    """The variant a URL's artifact (`zoo pull oci://...`) is kept as. It names its own id, which is
    remote input: it never takes the name of a build's inputs, never the place of a local artifact
    that came from elsewhere (a pull from a hub, a build) unless `replace`, and `local_id` renames it."""
    from .store import valid_entry_id

    if local_id is not None:
        if not valid_entry_id(local_id) or local_id.endswith(".inputs"):
            raise ZooError(f"--as {local_id[:80]!r} is no id zoo can keep an artifact under.",
                           fix="Use letters, digits, '.', '_' and '-', e.g. --as team-gemma-int4.")
        variant = variant.model_copy(update={"id": local_id})
    if variant.id.endswith(".inputs"):
        raise ZooError(f"{url} calls its artifact {variant.id}, a name zoo keeps for the inputs of a build; "
                       "zoo fetched nothing.", fix=f"Pull it under a name of your own: `zoo pull {url} --as ID`.")
    existing = default_store().entry(variant.id)
    if existing is None or replace or _same_remote(existing, variant) or \
            {(f.path, f.sha256) for f in existing.files} == {(f.path, f.sha256) for f in variant.files}:
        return variant
    raise ZooError(f"{url} calls its artifact {variant.id}, but this store's {variant.id} {_origin_of(existing)}; "
                   "zoo keeps that one and fetched nothing.",
                   fix=f"Keep both: `zoo pull {url} --as ID`; or let it take that place: `zoo pull {url} --replace`.")


def _origin_of(entry: Entry) -> str:
    """Where a stored entry came from, in words: 'was pulled from huggingface (acme/tiny-lm)'."""
    if entry.kind in ("built", "inputs"):
        return "was built here" if entry.kind == "built" else "holds a build's inputs"
    where = entry.source.get("repo") or entry.source.get("reference") or entry.source.get("handle")
    return f"was pulled from {entry.source.get('kind', 'elsewhere')}" + (f" ({where})" if where else "")


def _same_remote(entry: Entry, variant: Variant) -> bool:
    """Whether a stored entry came from the same remote repository `variant` points at (a newer push of it)."""
    def repository(reference) -> str | None:
        return reference.rsplit("@", 1)[0] if isinstance(reference, str) else None

    ours = variant.source.model_dump(mode="json")
    return (entry.kind == "pulled" and entry.source.get("kind") == ours.get("kind")
            and repository(entry.source.get("reference")) is not None
            and repository(entry.source.get("reference")) == repository(ours.get("reference")))


def fetch_inputs(catalog: Catalog, variant: Variant, *, reporter: Reporter | None = None, locked: bool = False) -> PullResult:
    """Download (or reuse) a buildable variant's input files, verified, into the store."""
    return fetch_files(catalog, variant, inputs_entry_id(variant), kind="inputs", locked=locked, reporter=reporter)


def fetch_files(
    catalog: Catalog,
    variant: Variant,
    entry_id: str,
    *,
    kind: str,
    locked: bool = False,
    repair: bool = False,
    update: bool = False,
    reporter: Reporter | None = None,
    signed_by: Path | None = None,
) -> PullResult:
    reporter = reporter or QuietReporter()
    started = time.monotonic()
    quiet_hub_clients()
    store = default_store()
    entry_lock = store.lock(f"variant-{entry_id}")
    _acquire(entry_lock, reporter, f"fetching {entry_id}")
    try:
        existing = store.entry(entry_id)
        if repair and existing:
            _drop_corrupt_blobs(store, existing, reporter)
        if not update and entry_is_complete(store, variant, existing, lock_key=entry_id):
            if signed_by is not None:
                signing.verify(store, existing, signed_by, reporter.message)
            return PullResult(entry_id, existing, store.artifact_dir(entry_id) / existing.main,
                              already_present=True, seconds=time.monotonic() - started)
        plan, files, expected = _plan_transfer(catalog, variant, entry_id, locked=locked, update=update,
                                               signed_by=signed_by)
        result = _transfer_and_install(catalog, store, variant, entry_id, kind, files, plan, expected, reporter,
                                       signed_by)
        result.seconds = time.monotonic() - started
        return result
    finally:
        entry_lock.release()


def _plan_transfer(catalog: Catalog, variant: Variant, entry_id: str, *, locked: bool, update: bool,
                   signed_by: Path | None) -> tuple[FetchPlan, list, dict]:
    """What to download and the digests each file must have, settled (and refused) before a byte moves."""
    if settings.get().offline:
        raise OfflineError(
            f"{entry_id} is not in the store, and zoo is offline (ZOO_OFFLINE or HF_HUB_OFFLINE is set).",
            fix="Unset ZOO_OFFLINE / HF_HUB_OFFLINE and run the command again while online; `zoo ls` shows what is local.",
        )
    expected = expected_digests(variant, lock_key=entry_id, use_lock=not update)
    unpinned = [p for p, (sha, _, _) in expected.items() if not sha]
    if locked and unpinned:
        raise IntegrityError(
            variant.id, ", ".join(unpinned), "pinned-digest", "a sha256 in the manifest or zoo.lock", "none",
            fix=f"Pull once without --locked to pin them on first use (or add sha256 to the manifest; "
            f"maintainers can run `zoo manifest pin {variant.id}`).",
        )
    source = catalog.component("source", variant.source.kind)
    if source is None:
        raise ZooError(
            f"{variant.id} comes from a '{variant.source.kind}' source, and no loaded plugin provides it.",
            fix="Install the plugin that provides it; `zoo plugins` shows what is loaded.",
        )
    context = FetchContext(variant, list(variant.files), timeout=settings.get().http_timeout)
    plan = source.prepare(context)
    files = plan.files or list(variant.files)
    _refuse_clashing_paths(variant, [f.path for f in files])
    if plan.files:
        expected = expected_digests(variant, files, lock_key=entry_id, use_lock=not update)
    _refuse_changed_upstream(variant, plan, expected)
    if signed_by is not None and plan.signature is None and not signing.signature_path(entry_id).is_file():
        raise IntegrityError(entry_id, "(signature)", "signature", "a signature by the given key", "no signature",
                             fix=f"Ask its publisher to sign it (`zoo sign {entry_id} --key KEY`) and push it again. "
                             "Nothing was downloaded.")
    return plan, files, expected


def _transfer_and_install(catalog: Catalog, store, variant: Variant, entry_id: str, kind: str, files: list,
                          plan: FetchPlan, expected: dict, reporter: Reporter, signed_by: Path | None) -> PullResult:
    """The files into the store under a lease; anything that did not pass leaves nothing behind."""
    with store.lease() as lease:
        installed = False
        try:
            arrived = _transfer_all(store, lease, variant, files, plan, expected, reporter)
            if kind == "pulled":
                _format_checks(catalog, store, variant, arrived, expected)
            result = _commit(store, variant, entry_id, kind, files, plan, arrived, expected, reporter)
            installed = True
            _keep_signature(store, result.entry, plan.signature, signed_by, reporter)
        except BaseException:  # nothing that did not pass stays: the entry, its new blobs, a signature
            if installed:
                store.remove(entry_id)
            store.discard_unreferenced(lease)
            raise
    return result


def _refuse_clashing_paths(variant: Variant, paths: list[str]) -> None:
    """A file list from a hub or registry is remote input: one that names a file and a folder alike
    ("a" and "a/b") cannot be laid out, and is refused before a byte moves."""
    names = set(paths)
    for path in sorted(names):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in names:
                raise ZooError(f"The source of {variant.id} lists {folder} both as a file and as the folder of {path}; "
                               "zoo fetched nothing.",
                               fix="The repo or artifact is malformed: report it to whoever publishes it.")


def _keep_signature(store: Store, entry: Entry, bundle: bytes | None, signed_by: Path | None, reporter) -> None:
    """The signature the source found, checked first when one is required, then kept beside the store.
    A signature that fails never replaces the one kept for an earlier artifact of the same id."""
    if bundle is None:
        if signed_by is not None:
            signing.verify(store, entry, signed_by, reporter.message)
        return
    kept = signing.signature_path(entry.id)
    kept.parent.mkdir(parents=True, exist_ok=True)
    out, incoming = temp_beside(kept, ".incoming")
    try:
        with out:
            out.write(bundle)
        if signed_by is not None:
            signing.verify(store, entry, signed_by, reporter.message, signature=incoming)
        os.replace(incoming, kept)
    finally:
        incoming.unlink(missing_ok=True)


def _refuse_changed_upstream(variant: Variant, plan: FetchPlan, expected) -> None:
    """A file the hub now describes with another digest or size than the pin: the publisher changed it
    under the same name (as the gemma-4 .litertlm was re-published). Refused before a byte moves."""
    where = ", ".join(f"{k} {v}" for k, v in plan.resolved.items() if isinstance(v, (str, int)))
    for transfer in plan.transfers:
        sha, size, promised_by = expected.get(transfer.path, (None, None, ""))
        if promised_by not in ("the manifest", "zoo.lock"):
            continue
        new_sha = transfer.hub_sha256 if transfer.hub_sha256 and sha and transfer.hub_sha256 != sha else None
        new_size = transfer.size if transfer.size is not None and size and transfer.size != size else None
        if not (new_sha or new_size):
            continue
        now = f"sha256 {new_sha}" if new_sha else "other bytes"
        served = f"the hub now serves {now} ({transfer.size} bytes)" + (f" at {where}" if where else "")
        if promised_by == "zoo.lock":
            message = (f"The publisher changed {transfer.path} of {variant.id} since it was pinned in zoo.lock: pinned sha256 "
                       f"{sha} ({size} bytes), {served}. Nothing was downloaded.")
        else:
            message = (f"{transfer.path} of {variant.id} is not the file the manifest pins (sha256 {sha}, {size} bytes): "
                       f"{served}; the publisher changed it, or the manifest is wrong. Nothing was downloaded.")
        if promised_by == "zoo.lock":
            fix = (f"If you trust the new file, run `zoo pull --update {variant.id}`: it takes and pins the new content "
                   "(the old file stays in the store until `zoo gc`).")
        else:
            fix = "The manifest pins the old file: report the change to its maintainers; zoo will not take other bytes."
        raise UpstreamChangedError(message, fix=fix)


def _drop_corrupt_blobs(store: Store, entry: Entry, reporter: Reporter) -> None:
    """For --repair: take out every blob that is not a regular file with the right bytes (lstat and
    O_NOFOLLOW: never followed or waited on), and re-link an artifact whose names no longer are its blobs."""
    with store.store_lock():
        for path in store.drop_damaged_blobs(entry):
            reporter.message(f"{path} is corrupt in the store; fetching it again.")
        if all(store.has_blob(f.sha256, f.size) for f in entry.files) and not all(store.linked_correctly(entry, f) for f in entry.files):
            reporter.message(f"{entry.id}'s files in {store.artifact_dir(entry.id)} were changed or removed; linking them again.")
            store.install(entry)


def _transfer_all(store: Store, lease: Lease, variant, files: list[FileSpec], plan: FetchPlan, expected, reporter) -> dict[str, _Arrived]:
    specs = {f.path: f for f in files}
    todo = []
    for transfer in plan.transfers:
        sha, size, _ = expected.get(transfer.path, (None, None, ""))
        known = sha or transfer.hub_sha256 or store.lookup(transfer)
        if known and store.hold_if_present(lease, known, size or transfer.size):  # shared with another variant, or an earlier try
            if not sha:
                expected[transfer.path] = (known, size or transfer.size, "an earlier verified download of the same file")
            continue
        todo.append(transfer)
    arrived: dict[str, _Arrived] = {}
    workers = min(settings.get().download_workers, max(1, len(todo)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {t.path: pool.submit(_transfer_one, store, lease, variant, specs[t.path], t, expected, reporter) for t in todo}
        errors = []
        for path, future in futures.items():
            try:
                arrived[path] = future.result()
            except BaseException as exc:  # collect, so one failure does not hide in a thread
                errors.append(exc)
        if errors:
            raise errors[0]
    return arrived


def _transfer_one(store: Store, lease: Lease, variant: Variant, spec: FileSpec, transfer: Transfer, expected, reporter) -> _Arrived:
    sha, size, promised_by = expected[spec.path]
    size = size or transfer.size
    if size is not None and size < 0:
        raise IntegrityError(variant.id, spec.path, "size", "a size of 0 bytes or more", f"{size} bytes (as the source said)")
    reporter.file_started(spec.path, size)
    partial = store.partial_path(transfer.partial_key or partial_key("copy", variant.id, spec.path))
    with store.lock(f"partial-{partial.stem}"):
        # Another process may have fetched this very file while we waited for the lock.
        known = sha or transfer.hub_sha256 or store.lookup(transfer)
        if known and store.hold_if_present(lease, known, size):
            reporter.file_done(spec.path)
            blob = store.blob_path(known)
            return _Arrived(spec, transfer, blob, known, blob.stat().st_size, 0)
        ceiling = settings.get().max_download_bytes
        if transfer.url is None:
            assert transfer.fetch is not None
            got_sha, got_size = copy_hashing(transfer.fetch(), partial, size if size is not None else ceiling,
                                             on_bytes=lambda n: reporter.advance(spec.path, n))
            downloaded, storage_checked = got_size, True  # a file on this machine, read once: nothing in transit
        elif transfer.archive_member is None:
            result = _download(transfer, partial, size, ceiling, variant, spec, reporter,
                               promised_by or ("the manifest" if spec.size else ""))
            got_sha, got_size = result.sha256, result.size
            downloaded, storage_checked = result.size - result.resumed_from, result.storage_checked
        else:
            bound = size if size is not None else ceiling
            archive = partial.with_suffix(".zip")
            result = _download(transfer, archive, None, min(ceiling, bound + bound // 100 + (1 << 20)), variant, spec, reporter)
            got_sha, got_size = unpack_member(archive, transfer.archive_member, partial, bound, f"{spec.path} of {variant.id}")
            archive.unlink(missing_ok=True)
            downloaded, storage_checked = result.size - result.resumed_from, result.storage_checked
        try:
            _verify_file(variant, spec, partial, got_sha, got_size, sha, size, promised_by, transfer)
        except IntegrityError:
            partial.unlink(missing_ok=True)  # bad bytes are never resumed from
            raise
        # What the source calls this file is recorded first: a pull killed right after the blob enters
        # the store (the partial is gone by then) finds the blob by it instead of fetching it again.
        try:
            store.record_source_ids({name: got_sha for name in (transfer.hub_git_sha1, transfer.partial_key and f"key:{transfer.partial_key}") if name})
        except OSError:  # a full disk: nothing half-done stays behind, as when the download itself fails
            partial.unlink(missing_ok=True)
            raise
        # Into the store while the partial lock is still held: the next pull of a variant that
        # shares this file finds the blob instead of the partial.
        blob = store.admit(lease, partial, got_sha)
    reporter.file_done(spec.path)
    vouched = bool(sha or transfer.hub_sha256 or transfer.hub_git_sha1 or storage_checked)
    return _Arrived(spec, transfer, blob, got_sha, got_size, downloaded, unchecked=not vouched)


def _download(transfer: Transfer, partial: Path, size: int | None, ceiling: int, variant: Variant, spec: FileSpec, reporter,
              promised_by: str = ""):
    try:
        return download(
            transfer.url,
            partial,
            expected_size=size,
            headers=transfer.headers,
            timeout=settings.get().http_timeout,
            retries=settings.get().http_retries,
            on_bytes=lambda n: reporter.advance(spec.path, n),
            describe=f"{spec.path} of {variant.id}",
            max_bytes=ceiling,
            ca_certs=transfer.ca_certs,
            connections=settings.get().download_connections,
            piece_bytes=settings.get().piece_bytes,
        )
    except StorageChecksumDiffers as differs:
        raise IntegrityError(variant.id, spec.path, "crc32c (the storage server's X-Goog-Hash)", differs.announced,
                             str(differs.got), fix="Run the same command again: the damaged bytes were not kept. If it "
                             "fails the same way, a proxy or the network in between alters the file.") from None
    except SizeDiffers as differs:
        if promised_by not in ("the manifest", "zoo.lock"):
            raise
        raise IntegrityError(
            variant.id, spec.path, f"size (pinned in {promised_by})", f"{differs.expected} bytes",
            f"{differs.announced} bytes (what the server now announces)",
            fix="The file on the hub is not the one that was pinned: it changed since. Report it to the manifest's "
            "maintainers (or, for a zoo.lock pin, remove that variant's entry from zoo.lock if you trust the new file).",
        ) from None


def copy_hashing(source: Path, dest: Path, limit: int, on_bytes=None) -> tuple[str, int]:
    """Copy a file zoo does not own into `dest`, hashing what it reads: (sha256, size).

    The store keeps its own copy, never a link to the user's file or another tool's cache (a write
    through the other name would change the stored bytes). The source is opened without following
    a final link and must be a regular file (a FIFO or a device would hang or never end), and at
    most `limit` bytes are read.
    """
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ZooError(f"Cannot read {source}: {exc.strerror}.", fix="Check that the file exists, is a regular file (not a link) and is readable.") from None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ZooError(f"{source} is not a regular file.", fix="Replace it with the real file.")
        os.set_blocking(fd, True)
        dest.unlink(missing_ok=True)
        too_big = ZooError(f"{source} is larger than the {limit} bytes expected.",
                           fix="Check that it is the right file (the manifest states each file's size).")
        with open(fd, "rb", closefd=False) as src, open(dest, "xb") as out:
            return _copy_bounded(src, out, limit, too_big, on_bytes)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def unpack_member(archive: Path, member: str, dest: Path, limit: int, what: str) -> tuple[str, int]:
    """Take `member` out of a downloaded zip into `dest`, hashing it: (sha256, size).

    The zip came from a server, so nothing in it is believed: the member must be there by exactly
    that name, and at most `limit` bytes are unpacked whatever its header claims (a zip bomb stops
    at the limit). The zip and anything unpacked go on any failure.
    """
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(archive) as zf:
            names = [info for info in zf.infolist() if info.filename == member]
            if len(names) != 1:
                raise FormatCheckError(
                    f"The zip the server sent for {what} does not hold exactly one '{member}' "
                    f"(it holds {', '.join(repr(i.filename[:80]) for i in zf.infolist()[:5]) or 'nothing'}). Nothing was stored.",
                    fix="Try again later; if it persists the file on the hub is not what the manifest describes.",
                )
            too_big = FormatCheckError(f"The zip the server sent for {what} unpacks to more than {limit} bytes. Nothing was stored.",
                                       fix="The file on the hub is not what the manifest describes: report it to its maintainers.")
            dest.unlink(missing_ok=True)  # created anew ("x"): never written through a link planted at its name
            with zf.open(names[0]) as src, open(dest, "xb") as out:
                digest, done = _copy_bounded(src, out, limit, too_big)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError, ValueError, RuntimeError) as exc:
        dest.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
        raise FormatCheckError(f"The zip the server sent for {what} is damaged ({exc}). Nothing was stored.",
                               fix="Run the command again; if it persists report it to the manifest's maintainers.") from None
    except BaseException:
        dest.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
        raise
    return digest, done


def _copy_bounded(src, out, limit: int, too_big: Exception, on_bytes=None) -> tuple[str, int]:
    """Copy from `src` to `out`, hashing, until the end or until more than `limit` bytes (then raise
    `too_big`: a source that grows or a zip bomb stops there); fsynced. Returns (sha256, size)."""
    h = hashlib.sha256()
    done = 0
    while block := src.read(min(8 << 20, limit + 1 - done)):
        done += len(block)
        if done > limit:
            raise too_big
        h.update(block)
        out.write(block)
        if on_bytes:
            on_bytes(len(block))
    out.flush()
    os.fsync(out.fileno())
    return h.hexdigest(), done


def _integrity_fix(variant: Variant) -> str | None:
    """What to do about bytes that failed their digest: for an artifact a URL described (`zoo pull
    oci://...`, no manifest of zoo's), pull that URL again, never the catalog id it may share."""
    if variant.manifest_path:
        return None  # IntegrityError's own advice: pull the variant again, then tell the manifest's maintainers
    return ("Run the same `zoo pull` again (the bad bytes were not kept). If it fails the same way, the registry "
            "serves other bytes than the artifact's own manifest names: tell whoever runs it or pushed the artifact.")


def _verify_file(variant, spec, local, got_sha, got_size, sha, size, promised_by, transfer: Transfer) -> None:
    fix = _integrity_fix(variant)
    if size is not None and got_size != size:
        raise IntegrityError(variant.id, spec.path, "size", f"{size} bytes", f"{got_size} bytes", fix=fix)
    if sha and got_sha != sha:
        pinned_in = promised_by if variant.manifest_path else "the artifact's manifest"
        raise IntegrityError(variant.id, spec.path, f"sha256 (pinned in {pinned_in})", sha, got_sha, fix=fix)
    if transfer.hub_sha256 and got_sha != transfer.hub_sha256:
        raise IntegrityError(variant.id, spec.path, "sha256 (the hub's ETag)", transfer.hub_sha256, got_sha, fix=fix)
    # The git blob id is checked even when a sha256 already vouches for the bytes: the store's source
    # index records it, and a later pull from any hub reuses the blob by that id without a GET, so
    # a mirror that named another file's id would otherwise poison every later pull of that file.
    if transfer.hub_git_sha1:
        got_git = git_blob_sha1(local)
        if got_git != transfer.hub_git_sha1:
            raise IntegrityError(variant.id, spec.path, "git blob id (the hub's ETag)", transfer.hub_git_sha1, got_git)


def _format_checks(catalog: Catalog, store: Store, variant: Variant, arrived: dict[str, _Arrived], expected) -> None:
    """Structural checks of every output, before anything is stored. They run on the file whether it
    arrived now or was already in the store (shared with another variant, which may check less), and
    an output that is none of the downloaded files is a failure, never a skip."""
    for output in variant.outputs:
        item = arrived.get(output.path)
        if item is not None:
            local = item.local
        elif output.path in expected and expected[output.path][0]:
            local = store.blob_path(expected[output.path][0])
        else:
            raise FormatCheckError(
                f"{variant.id}'s output {output.path} is none of the files it downloads, so its checks cannot run. Nothing was stored.",
                fix="The manifest is wrong: report it to its maintainers (`zoo manifest validate` names the key).",
            )
        problems = run_structural_checks(catalog, variant, output, local, pulled=True)
        if problems:
            raise FormatCheckError(
                f"{output.path} of {variant.id} downloaded with the right bytes count but fails its format checks: "
                + "; ".join(problems) + ". Nothing was stored.",
                fix="The file on the hub is not what the manifest describes: report it to the manifest's maintainers.",
            )


def run_structural_checks(catalog: Catalog, variant: Variant, output, path: Path, *, pulled: bool = False) -> list[str]:
    """Problems the output's structural checks find. A check no plugin provides is a problem; so is,
    on a pull (`pulled`), a check that runs the model, which a build runs in its toolchain instead."""
    problems = []
    checks = catalog.checks_for(variant, output)
    if output.path == variant.outputs[0].path and not any(
            (v := catalog.component("verifier", c)) is not None and not v.runs_model for c in checks):
        # Fail closed: a main artifact no loaded plugin can read is not verified, whatever the manifest says.
        problems.append(f"no loaded plugin checks the structure of {variant.format} files, so {output.path} cannot be "
                        "verified")
    for check in checks:
        verifier = catalog.component("verifier", check)
        if verifier is None:
            problems.append(f"check '{check}' is not provided by any loaded plugin")
            continue
        if verifier.runs_model:
            if pulled:
                problems.append(f"check '{check}' runs the model, which zoo pull cannot do")
            continue
        try:
            found = verifier.check(path, variant, output)
        except Exception as exc:  # noqa: BLE001 - a check that breaks on a file has not passed it
            found = [f"the check could not read the file ({type(exc).__name__}: {str(exc)[:200]})"]
        problems += [f"{check}: {p}" for p in found]
    return problems


def _commit(store: Store, variant: Variant, entry_id: str, kind: str, specs: list[FileSpec], plan: FetchPlan, arrived,
            expected, reporter) -> PullResult:
    files = []
    downloaded = reused = 0
    for f in specs:
        if f.path in arrived:
            item = arrived[f.path]
            files.append(EntryFile(f.path, item.sha256, item.size))
            downloaded += item.downloaded
        else:
            sha, size, _ = expected[f.path]
            files.append(EntryFile(f.path, sha, store.blob_path(sha).stat().st_size))
            reused += files[-1].size
    main = variant.outputs[0].path if any(f.path == variant.outputs[0].path for f in files) else files[0].path
    entry = Entry(
        id=entry_id,
        kind=kind,
        files=files,
        main=main,
        source=variant.source.model_dump(mode="json") | {"resolved": plan.resolved},
        created_at=time.time(),
        verified_at=time.time(),
    )
    with store.store_lock():  # every blob is held by this pull's lease, so none can have gone
        store.install(entry)
    store.record_fingerprints({f.sha256: store.stat_fingerprint(store.blob_path(f.sha256)) for f in files})
    newly_pinned = [f.path for f in files if expected[f.path][2] not in ("the manifest", "zoo.lock")]
    unchecked = sorted(path for path, item in arrived.items() if item.unchecked)
    if newly_pinned:
        lockfile.record(entry_id, {f.path: {"sha256": f.sha256, "size": f.size} for f in files if f.path in newly_pinned}, plan.resolved)
        checked = [path for path in newly_pinned if path not in unchecked]
        reporter.message(
            f"The manifest pins no digest for {', '.join(newly_pinned)}; "
            + (f"{', '.join(checked)} matched what the source said of them; " if checked else "")
            + (f"nothing the source sent could check {', '.join(unchecked)}, so zoo trusted this first download; "
               if unchecked else "")
            + f"zoo pinned them in {settings.get().lock_file}. Later pulls must match."
        )
    return PullResult(entry_id, entry, store.artifact_dir(entry_id) / entry.main, downloaded, reused, pinned_now=newly_pinned,
                      unchecked=unchecked)


def partial_key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


