"""`zoo import FILE [--as ID] [--run-check]`: a model file you already have, checked and kept in the store."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--as", "entry_id", metavar="ID", help="The id to keep it under (default: its name and the start of its digest).")
@click.option("--run-check", "run_check_", is_flag=True, help="Also load it in its runtime and generate a few tokens.")
@json_option
def import_command(file: Path, entry_id: str | None, run_check_: bool, as_json: bool) -> None:
    """Check a ready-made .litertlm, .task, .tflite or .bin by its format and keep a copy in the store.

    The copy is the store's own (your file is never linked or moved); every command that takes a stored
    artifact (run, verify, info, export, push, rm) then takes its id."""
    from registry.imports import import_file
    from registry.store import default_store
    from zoo_cli.common import load_catalog
    from zoo_cli.progress import PlainReporter

    catalog = load_catalog()
    with PlainReporter(as_json) as reporter:
        entry = import_file(catalog, file, entry_id=entry_id, reporter=reporter)
        record = None
        if run_check_:
            from registry.run_check import run_check

            store = default_store()
            try:
                record = run_check(catalog, store, entry, reporter.message)
            except BaseException:
                store.remove(entry.id)  # an import that does not run is not kept
                raise
    path = default_store().artifact_dir(entry.id) / entry.main
    if as_json:
        terminal.json({"id": entry.id, "path": str(path), "source": entry.source,
                       "files": [f.__dict__ for f in entry.files], "ran": record})
        return
    if record is not None:
        terminal.message(f"{entry.id}: ran in {record['runtime']}: {record['text'][:60]!r}")
    terminal.line(entry.id)
