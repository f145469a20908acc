"""`zoo ls`, `zoo path`, `zoo rm`, `zoo gc`: the local store."""

from __future__ import annotations

import click

from zoo_cli.common import human_size, json_option, names_a_file
from zoo_cli.terminal import terminal


def _store():
    from registry.store import default_store

    return default_store()


def entry_for(query: str):
    """A stored entry by exact id, or by whatever the catalog resolves `query` to."""
    from registry.errors import NotInStoreError

    store = _store()
    entry, wanted = store.entry(query), query
    if entry is None:
        from registry.errors import ZooError
        from registry.resolver import resolve
        from zoo_cli.common import load_catalog

        from registry.references import for_reference, split

        try:
            catalog, named = load_catalog(), split(query)
            wanted = resolve(catalog, named[0] if named else query)["id"]
            if named:  # MODEL:REFERENCE names the entry `zoo build MODEL:REFERENCE` made
                wanted = for_reference(catalog, catalog.variant(wanted), named[1]).id
            entry = store.entry(wanted)
        except ZooError:
            entry = None
    if entry is None:
        # `zoo build hf --from DIR` and `--lora` builds are entries of their own, named after their
        # inputs: the variant's name finds one when it is the only build of that variant from a
        # checkpoint, and lists them when there are several (a LoRA build is never taken for its base).
        builds = sorted((e for e in store.entries() if e.id.startswith(f"{wanted}.")), key=lambda e: e.id)
        if len(builds) == 1 and ".lora-" not in builds[0].id:
            return store, builds[0]
        if builds:
            names = [e.id for e in builds]
            raise NotInStoreError(
                f"'{query}' itself is not in the store, but these builds of it from your checkpoints or adapters are: "
                f"{', '.join(names)}.",
                fix=f"Name one of them, e.g. `zoo path {names[0]}`; `zoo ls` lists everything local.",
            )
        if names_a_file(query):  # a model file the user has: `zoo pull PATH` would fail
            raise NotInStoreError(f"{query} is a file, not a stored artifact.",
                                  fix=f"Import it first: `zoo import {query}`, then use the id it prints.")
        raise NotInStoreError(
            f"'{query}' is not in the store.",
            fix=f"Run `zoo pull {query}` (or `zoo build ...` for built variants); `zoo ls` lists what is local.",
        )
    return store, entry


@click.command("ls")
@json_option
def ls_command(as_json: bool) -> None:
    """List local artifacts: size, verified state and path."""
    from registry.verify import fingerprint_state

    store = _store()
    fingerprints = store.fingerprints()
    rows = [
        {
            "id": e.id,
            "kind": e.kind,
            "size": e.size,
            "state": fingerprint_state(store, e, fingerprints),
            "path": str(store.artifact_dir(e.id) / e.main),
            "files": len(e.files),
        }
        for e in store.entries()
    ]
    if as_json:
        terminal.json(rows)
        return
    if not rows:
        terminal.message("The store is empty. `zoo list` shows what you can pull or build.")
        return
    terminal.table(["ID", "KIND", "SIZE", "STATE", "PATH"], [[r["id"], r["kind"], human_size(r["size"]), r["state"], r["path"]] for r in rows])


@click.command("path")
@click.argument("query")
@click.option("--dir", "as_dir", is_flag=True, help="Print the artifact's directory instead of its main file.")
def path_command(query: str, as_dir: bool) -> None:
    """Print the path of a stored artifact, for scripts."""
    store, entry = entry_for(query)
    directory = store.artifact_dir(entry.id)
    terminal.line(str(directory if as_dir else directory / entry.main))


@click.command("rm")
@click.argument("queries", nargs=-1, required=True)
def rm_command(queries) -> None:
    """Remove artifacts from the store (their bytes go at the next `zoo gc`)."""
    for query in queries:
        store, entry = entry_for(query)
        store.remove(entry.id)
        terminal.message(f"Removed {entry.id}. Run `zoo gc` to free the bytes no other artifact uses.")


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be freed.")
@json_option
def gc_command(dry_run: bool, as_json: bool) -> None:
    """Delete stored blobs that no artifact refers to, and report the bytes freed."""
    digests, freed = _store().gc(dry_run=dry_run)
    if as_json:
        terminal.json({"dry_run": dry_run, "blobs": digests, "bytes": freed})
        return
    verb = "Would free" if dry_run else "Freed"
    terminal.print(f"{verb} {human_size(freed)} in {len(digests)} blob{'s' if len(digests) != 1 else ''}.")
