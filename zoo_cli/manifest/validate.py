"""`zoo manifest validate PATH...`"""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
def validate_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check manifest files strictly; every problem names its key and the fix."""
    from registry.errors import ExitCode, ManifestError
    from zoo_cli.common import load_catalog

    catalog = load_catalog()
    results = []
    for path in paths:
        try:
            manifest = catalog.load_manifest(path)
        except ManifestError as exc:
            results.append({"path": str(path), "ok": False, "problems": [p.__dict__ for p in exc.problems], "message": exc.message})
            continue
        results.append({"path": str(path), "ok": True, "variants": [v.id for v in manifest.variants()]})
    if as_json:
        terminal.json(results)
    else:
        for result in results:
            if result["ok"]:
                terminal.print(f"ok      {result['path']} ({len(result['variants'])} variants)")
            else:
                terminal.print(f"invalid {result['path']}")
                for problem in result["problems"]:
                    terminal.print(f"  {problem['key_path'] or '(top level)'}: {problem['problem']}. Fix: {problem['fix']}.", markup=False)
    if not all(r["ok"] for r in results):
        raise click.exceptions.Exit(int(ExitCode.INVALID_MANIFEST))
