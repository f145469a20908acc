"""`zoo verify [ID|PATH]`: re-check stored artifacts offline."""

from __future__ import annotations

import time
from pathlib import Path

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


def _format_checker(entry, directory: Path) -> list[str]:
    """Structural checks for entries the catalog still knows, and imported ones (plugins load only when a
    file changed)."""
    from registry.catalog import get_catalog
    from registry.fetch import run_structural_checks
    from registry.imports import IMPORT_KIND, variant_of

    catalog = get_catalog()
    variant_id = catalog.variant_id_of(entry)
    if variant_id is not None:
        variant = catalog.variant(variant_id)
    elif entry.kind == IMPORT_KIND:  # no manifest describes it: the variant its import made
        variant = variant_of(entry, catalog)
    else:
        return []
    problems = []
    for output in variant.outputs:
        path = directory / output.path
        if path.exists():
            problems += run_structural_checks(catalog, variant, output, path)
    return problems


def _entries_to_verify(store, target: str | None) -> list:
    """Every entry, the one an id names, or the one a stored file belongs to."""
    from registry.errors import NotInStoreError
    from registry.verify import find_entry_for_path
    from zoo_cli.store_commands import entry_for

    if target is None:
        return store.entries()
    if _names_a_file(target):
        found = find_entry_for_path(store, Path(target))
        if found is None:
            raise NotInStoreError(f"{target} is not a file of any stored artifact.",
                                  fix=f"Pass an artifact id, or a path printed by `zoo path ID`; to keep this file, "
                                  f"`zoo import {target}`.")
        return [found[0]]
    return [entry_for(target)[1]]


def _show_reports(reports: list) -> None:
    for report in reports:
        if report.ok:
            how = "fingerprints unchanged" if all(f.from_fingerprint for f in report.files) else "hashed"
            terminal.print(f"ok      {report.variant_id} ({len(report.files)} files, {how})", markup=False)
        else:
            terminal.print(f"FAILED  {report.variant_id}", markup=False)
            for f in report.files:
                if not f.ok:
                    terminal.print(f"  {f.path}: {f.problem}", markup=False)
            for problem in report.format_problems:
                terminal.print(f"  {problem}", markup=False)
    if not reports:
        terminal.message("The store is empty: nothing to verify.")


def _run_entries(store, entries: list, as_json: bool) -> None:
    """Each artifact run in its runtime from the manifest's test prompt (`--run`)."""
    from registry.run_check import run_check
    from zoo_cli.common import load_catalog

    catalog = load_catalog()
    for entry in entries:
        record = run_check(catalog, store, entry, terminal.message)
        if not as_json:
            rate = record["details"].get("tokens_per_second")
            terminal.print(f"ran     {entry.id} in {record['runtime']} {record['runtime_version'] or ''}: "
                           f"{record['text'][:60]!r}" + (f" ({rate:.2f} tokens/s)" if rate else ""), markup=False)


def _names_a_file(target: str) -> bool:
    """Whether TARGET is a path to a file rather than an id (a name too long for the file system is not)."""
    try:
        return Path(target).exists() and (Path(target).is_file() or Path(target).is_symlink())
    except (OSError, ValueError):
        return False


def _repair_advice(store, entry) -> str:
    """How to get the right bytes back, by how the artifact came: pulled ones are fetched again, built
    ones built again (the build's cache check finds the damage), imported ones imported again."""
    if entry.kind == "inputs":
        return f"Run `zoo rm {entry.id}`: the next build that needs these inputs fetches them again."
    if entry.kind != "built":
        return f"Run `zoo pull --repair {entry.id}` to fetch only the bad files again."
    import json

    try:
        command = json.loads((store.artifact_dir(entry.id) / "provenance.json").read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        command = None
    if not isinstance(command, str) or not command.startswith("zoo build "):
        command = f"zoo build {entry.source.get('variant', entry.id)}"
    return f"{entry.id} was built here: run `{command}` again; it finds the damaged files and builds them anew."


@click.command("verify")
@click.argument("target", required=False)
@click.option("--full", is_flag=True, help="Re-hash every file, ignoring recorded fingerprints.")
@click.option("--run", "run", is_flag=True, help="Also load the artifact in its runtime (LiteRT-LM on CPU) and generate "
              "a few tokens from the manifest's test prompt.")
@click.option("--signature", "public_key", type=click.Path(path_type=Path, dir_okay=False),
              help="Also require a signature by this public key (PEM) over the artifact's files (`zoo sign`).")
@json_option
def verify_command(target: str | None, full: bool, run: bool, public_key: Path | None, as_json: bool) -> None:
    """Re-check stored artifacts (all, one ID, or the stored file at PATH) against their digests."""
    from registry.errors import ExitCode
    from registry.store import default_store
    from registry.verify import verify_entries

    started = time.perf_counter()
    store = default_store()
    entries = _entries_to_verify(store, target)
    reports = verify_entries(store, entries, full=full, format_check=_format_checker)
    seconds = time.perf_counter() - started
    if as_json:
        terminal.json([r.as_dict() | {"seconds": round(seconds, 4)} for r in reports])
    else:
        _show_reports(reports)
    bad = [r.variant_id for r in reports if not r.ok]
    if public_key is not None and not bad:
        from registry.signing import verify

        for entry in entries:
            verify(store, entry, public_key, terminal.message)
            if not as_json:
                terminal.print(f"signed  {entry.id} (by the given key, over these files)", markup=False)
    if run and not bad:
        _run_entries(store, entries, as_json)
    if bad:
        by_id = {e.id: e for e in entries}
        terminal.error(
            f"{len(bad)} artifact{'s' if len(bad) != 1 else ''} failed verification: {', '.join(bad)}. "
            + " ".join(_repair_advice(store, by_id[name]) for name in bad)
        )
        raise click.exceptions.Exit(int(ExitCode.INTEGRITY))
