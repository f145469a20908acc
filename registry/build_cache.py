"""A team's build cache in an OCI registry: a build is looked up by its key before anything converts,
and a build made here is shared under its key afterwards (`zoo build --cache oci://REGISTRY/REPO`, or
ZOO_BUILD_CACHE).

An entry is found by the build key alone (tag `zoo-build-<key>`), never by a name someone chose, and
counts only when the provenance it carries names that key. Its blobs come through the same pull as any
artifact (every byte checked against its digest, the format's checks run), so a tampered entry is
refused, and the build then runs here. The key is computed from the committed toolchain locks, so a
hit needs no converter toolchain on this machine. A registry that refuses the push never fails the
build: the artifact is installed here all the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import toolchain_locks
from .errors import SourceNotFoundError, ZooError

TAG_PREFIX = "zoo-build-"


@dataclass(frozen=True)
class BuildCache:
    """Where the cache lives: `oci://REGISTRY/REPOSITORY`."""

    url: str
    insecure: bool = False
    signed_by: Path | None = None
    """Only entries signed by this public key count (`--require-signature`)."""

    @classmethod
    def parse(cls, url: str, *, insecure: bool = False, signed_by: Path | None = None) -> "BuildCache":
        location = url.removeprefix("oci://")
        if not url.startswith("oci://") or ":" in location.split("/", 1)[-1] or "@" in location or "/" not in location:
            raise ZooError(f"The build cache '{url[:200]}' is no oci://REGISTRY/REPOSITORY.",
                           fix="Name a repository without a tag, e.g. --cache oci://registry.example.com/team/zoo-cache "
                               "(zoo tags each build by its key).")
        return cls(location, insecure, signed_by)

    def reference(self, key: str) -> str:
        return f"{self.url}:{TAG_PREFIX}{key}"


def planned_locks(components) -> dict[str, str] | None:
    """Each toolchain's committed lock digest, as the build key records it, without creating any
    toolchain; None when one has no committed lock here (its key is known only once it is installed)."""
    digests = {}
    for component in components:
        spec = getattr(component, "toolchain", None)
        if spec is None:
            continue
        try:
            lock = toolchain_locks.find(spec)
        except ZooError:
            return None
        if lock is None:
            return None
        digests[spec.name] = lock.digest
    return digests


def _oci_source(catalog):
    found = [s for s in catalog.registered("source").values() if s.url_scheme == "oci"]
    if not found:
        raise ZooError("The build cache is an OCI registry, and no loaded plugin speaks to one.",
                       fix="Reinstall zoo (its source-oci plugin), or drop --cache / ZOO_BUILD_CACHE.")
    return found[0]


def lookup(catalog, cache: BuildCache, key: str, entry_id: str, reporter):
    """The cached build of `key`, pulled and installed as `entry_id` (kind built), or None on a miss.
    A cache entry that fails its checks is refused (ZooError), with nothing kept."""
    from .fetch import fetch_files
    from .store import default_store

    url = f"oci://{cache.reference(key)}"
    try:
        remote = _oci_source(catalog).remote_variant(url, insecure=cache.insecure)
    except SourceNotFoundError:
        return None
    reporter.message(f"the build cache has this build ({cache.reference(key)[:120]}); pulling it")
    pulled = fetch_files(catalog, remote, entry_id, kind="pulled", update=True, reporter=reporter,
                         signed_by=cache.signed_by)
    store = default_store()
    try:
        provenance = json.loads((store.artifact_dir(entry_id) / "provenance.json").read_text())
    except (OSError, ValueError):
        provenance = {}
    if provenance.get("build_key") != key:
        store.remove(entry_id)
        raise ZooError("The build cache's entry for this key carries the provenance of another build; zoo removed it "
                       "here and builds locally.", fix="Whoever pushed it under this key pushed the wrong artifact.")
    entry = pulled.entry
    entry.kind = "built"
    entry.source = entry.source | {"kind": "cache", "build_key": key, "variant": provenance.get("variant"),
                                   "cache": cache.url, "built_by": provenance.get("command")}
    with store.store_lock():
        store.install(entry)
    return entry, provenance


def share(catalog, cache: BuildCache, store, entry, key: str, reporter, *, signed: bool) -> str | None:
    """Push a build made here under its key; the registry refusing it is said, never fatal.

    A home that takes only signed entries (`--require-signature`) shares only a build it signed: an
    unsigned push would replace the team's signed entry with one that such homes refuse."""
    if entry.source.get("kind") == "cache":
        return None  # it came from the cache
    if cache.signed_by is not None and not signed:
        reporter.message("not shared with the build cache: this home takes only signed entries (--require-signature) "
                         "and this build is unsigned; add --sign KEY to share it")
        return None
    row = catalog.rows.get(catalog.variant_id_of(entry))
    try:
        written = _oci_source(catalog).publish(store.artifact_dir(entry.id), entry, cache.reference(key), variant=row,
                                               insecure=cache.insecure, reporter=reporter)
    except ZooError as exc:
        reporter.message(f"the build cache did not take this build ({exc.message}); it is installed here all the same")
        return None
    reporter.message(f"shared with the build cache as {written['reference']}")
    return written["reference"]
