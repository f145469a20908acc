"""`zoo sign ID --key KEY`: sign a stored artifact's files (OpenSSF model signing)."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.terminal import terminal


@click.command("sign")
@click.argument("query")
@click.option("--key", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Your private key (PEM, e.g. EC P-256). It is read, never copied or printed.")
def sign_command(query: str, key: Path) -> None:
    """Sign every file of a stored artifact, provenance included; `zoo push` attaches the signature."""
    from registry.signing import sign
    from zoo_cli.store_commands import entry_for

    store, entry = entry_for(query)
    path = sign(store, entry, key, terminal.message)
    terminal.message(f"{entry.id}: signed; teammates check it with `zoo verify {entry.id} --signature PUBLIC_KEY`.")
    terminal.line(str(path))
