"""`zoo manifest pin ID`"""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.terminal import terminal


@click.command("pin")
@click.argument("query")
@click.option("--manifest", "manifest_path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The manifest file to write (default: the one that declares the variant).")
def pin_command(query: str, manifest_path: Path | None) -> None:
    """Write the digests zoo observed for a variant's files into its manifest (for maintainers)."""
    from registry.errors import ZooError
    from registry.store import default_store
    from registry.pinning import observed_digests, pin
    from registry.resolver import resolve
    from zoo_cli.common import load_catalog

    catalog = load_catalog()
    variant = catalog.variant(resolve(catalog, query)["id"])
    path = manifest_path or Path(variant.manifest_path)
    if not path.is_file():
        raise ZooError(f"{variant.id} was registered by plugin '{variant.plugin}' without a manifest file.",
                       fix="Pass the TOML file to write with --manifest PATH.")
    changed = pin(variant, observed_digests(variant, default_store()), path)
    if changed:
        terminal.message(f"Pinned {', '.join(changed)} of {variant.id} in {path}.")
    else:
        terminal.message(f"{path} already pins every file of {variant.id}.")
