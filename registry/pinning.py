"""`zoo manifest pin`: copy observed digests into a manifest, keeping its comments and layout.

Maintainers pull (or build) once, then pin: the digests come from the store entry, whose bytes
were verified when they entered, or else from zoo.lock.
"""

from __future__ import annotations

from pathlib import Path

from . import lockfile
from .errors import ZooError
from .fsutil import temp_beside, write_atomically
from .manifest import Variant, load_manifest


def observed_digests(variant: Variant, store) -> dict[str, tuple[str, int]]:
    entry = store.entry(variant.id)
    if entry is not None and entry.kind == "pulled":
        return {f.path: (f.sha256, f.size) for f in entry.files}
    pinned = lockfile.pins(variant.id)
    if pinned:
        return {path: (p["sha256"], p["size"]) for path, p in pinned.items()}
    raise ZooError(
        f"zoo has not seen the files of {variant.id} yet, so there is nothing to pin.",
        fix=f"Run `zoo pull {variant.id}` first, then `zoo manifest pin {variant.id}`.",
    )


def pin(variant: Variant, digests: dict[str, tuple[str, int]], manifest_path: Path) -> list[str]:
    """Write sha256 and size for each file of `variant` into `manifest_path`; returns the paths changed."""
    import tomlkit

    document = tomlkit.parse(manifest_path.read_text())
    target_files = None
    for model in document.get("models", []):
        for spec in model.get("variants", []):
            if spec.get("id") == variant.id:
                target_files = spec.get("files") if "files" in spec else model.get("files")
    if target_files is None:
        raise ZooError(f"{manifest_path} does not declare {variant.id}'s files.",
                       fix="Pass the manifest that declares it with --manifest PATH.")
    changed = []
    for spec in target_files:
        found = digests.get(spec["path"])
        if found is None:
            continue
        sha, size = found
        if spec.get("sha256") not in (None, sha):
            raise ZooError(
                f"{manifest_path} pins {spec['path']} to {spec['sha256']}, but zoo observed {sha}.",
                fix="Investigate before overwriting: the hub's file changed, or the manifest is wrong.",
            )
        if spec.get("sha256") != sha or spec.get("size") != size:
            spec["size"] = size
            spec["sha256"] = sha
            changed.append(spec["path"])
    if changed:
        text = tomlkit.dumps(document)
        fh, tmp = temp_beside(manifest_path, suffix=".toml")
        try:
            with fh:
                fh.write(text.encode())
            load_manifest(tmp)  # never write a manifest zoo itself would refuse
        finally:
            tmp.unlink(missing_ok=True)
        write_atomically(manifest_path, text)
    return changed
