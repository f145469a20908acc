"""`zoo push ID REGISTRY/REPO[:TAG]`: share a stored artifact through a registry (OCI, ModelPack)."""

from __future__ import annotations

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


def publisher_for(catalog, target: str):
    """The source kind that publishes to `target`: by its URL scheme (oci://...), else the only one that can."""
    from registry.components import SourceKind
    from registry.errors import ZooError

    sources = catalog.registered("source").values()
    scheme = target.split("://", 1)[0] if "://" in target else None
    able = [s for s in sources if type(s).publish is not SourceKind.publish and (scheme is None or s.url_scheme == scheme)]
    if len(able) != 1:
        names = ", ".join(f"{s.url_scheme}://" for s in sources if s.url_scheme) or "none"
        raise ZooError(f"No single loaded plugin publishes to '{target[:200]}' (schemes: {names}).",
                       fix="Write the target as REGISTRY/REPOSITORY[:TAG], e.g. registry.example.com/team/phi-2:gpu-int4.")
    return able[0]


@click.command("push")
@click.argument("query")
@click.argument("target", metavar="REGISTRY/REPO[:TAG]")
@click.option("--insecure", is_flag=True, help="Plain http, for a registry on this machine (or in ZOO_INSECURE_REGISTRIES).")
@json_option
def push_command(query: str, target: str, insecure: bool, as_json: bool) -> None:
    """Upload a stored artifact (files and provenance) to an OCI registry as a ModelPack artifact.

    Blobs the registry already has are not sent again. Credentials: ZOO_REGISTRY_USER and
    ZOO_REGISTRY_PASSWORD, or the docker config file (`docker login`)."""
    from zoo_cli.common import load_catalog
    from zoo_cli.progress import PlainReporter
    from zoo_cli.store_commands import entry_for

    store, entry = entry_for(query)
    damaged = store.check_entry(entry)
    if damaged:
        from registry.errors import IntegrityError

        raise IntegrityError(entry.id, ", ".join(damaged), "store check", "the bytes it was stored with", "other bytes",
                             fix=f"Run `zoo verify {entry.id}` and repair it as it says, then push it; nothing was sent.")
    catalog = load_catalog()
    row = catalog.rows.get(catalog.variant_id_of(entry))
    publisher = publisher_for(catalog, target)
    with PlainReporter(as_json) as reporter:
        written = publisher.publish(store.artifact_dir(entry.id), entry, target.split("://", 1)[-1], variant=row,
                                    insecure=insecure, reporter=reporter)
    if as_json:
        terminal.json({"id": entry.id} | written)
        return
    terminal.message(f"{entry.id}: pushed {written['reference']} ({written['uploaded']} blobs uploaded, "
                     f"{written['already_there']} already there). Teammates run: {written['pull']}")
    terminal.line(written["pull"].removeprefix("zoo pull "))
