"""`zoo export ID --to DIR [--name FILE]`: copy a stored artifact to where an app expects it."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.terminal import terminal


@click.command("export")
@click.argument("query")
@click.option("--to", "directory", required=True, type=click.Path(path_type=Path, file_okay=False), help="Destination directory.")
@click.option("--name", help="File name there (default: the artifact's), e.g. autocomplete.tflite.")
@click.option("--force", is_flag=True, help="Replace a file that is already there.")
def export_command(query: str, directory: Path, name: str | None, force: bool) -> None:
    """Copy an artifact's main file out of the store (e.g. into an Android app's assets)."""
    import os

    from registry.errors import ZooError
    from registry.fsutil import copy_atomically
    from zoo_cli.store_commands import entry_for

    store, entry = entry_for(query)
    source = store.artifact_dir(entry.id) / entry.main
    if name is not None and (not name or "/" in name or "\\\\" in name or name in (".", "..")):
        raise ZooError(f"--name {name!r} is not a plain file name.", fix="Pass a name such as autocomplete.tflite.")
    target = directory / (name or entry.main)
    if os.path.islink(target):
        raise ZooError(f"{target} is a link; zoo does not write through links.",
                       fix="Remove the link (or choose another --name), then export again.")
    if target.exists() and not force:
        raise ZooError(f"{target} already exists.", fix="Pass --force to replace it, or choose another --name.")
    directory.mkdir(parents=True, exist_ok=True)
    copy_atomically(source, target)  # a copy, not a link: the app may modify or move its file
    terminal.line(str(target))
