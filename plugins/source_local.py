"""A directory on this machine: beside the manifest (the built-in demo), or given with --from DIR."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from registry.api import FetchContext, FetchPlan, SourceKind, Transfer, ZooError, hookimpl
from registry.manifest import SafeRelativePath, SourceOptions


class LocalOptions(SourceOptions):
    path: SafeRelativePath | None = Field(
        None, description="Directory relative to the manifest; omitted when the user passes --from DIR."
    )


class LocalSource(SourceKind):
    name = "local"
    description = "A directory on this machine: beside the manifest, or given with --from DIR."
    options = LocalOptions
    needs_from = True

    def local_directory(self, variant) -> Path | None:
        relative = self.source_options(variant).path
        return (Path(variant.manifest_path).parent / relative).resolve() if relative else None

    def prepare(self, context: FetchContext) -> FetchPlan:
        variant = context.variant
        root = context.source_root or self.local_directory(variant)
        if root is None:
            raise ZooError(f"{variant.id} is built from a directory you give.", fix="Pass it with --from DIR.")
        root = root.resolve()
        if not root.is_dir():
            raise ZooError(f"{root} is not a directory.", fix="Pass an existing checkpoint directory with --from DIR.")
        transfers = []
        for spec in context.files:
            candidate = root / spec.path
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root):
                raise ZooError(
                    f"{candidate} points outside {root} (a symlink to {resolved}); zoo does not follow links out of a source directory.",
                    fix="Copy the real file into the directory instead of linking to it.",
                )
            if not resolved.is_file():
                raise ZooError(f"{variant.id} needs {spec.path}, which is missing from {root}.",
                               fix=f"Put {spec.path} in {root}, or point --from at the right directory.")
            transfers.append(Transfer(path=spec.path, size=resolved.stat().st_size, partial_key="", fetch=lambda p=resolved: p))
        return FetchPlan(transfers, {"path": str(root)})


@hookimpl
def register_sources(register):
    register(LocalSource())
