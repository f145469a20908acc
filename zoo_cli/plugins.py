"""`zoo plugins`: which plugins loaded, what each provides, and why any failed."""

from __future__ import annotations

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


@click.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List plugins: name, version, package, hooks and status (failed ones included)."""
    from registry.catalog import get_catalog

    records = list(get_catalog().records.values())
    if as_json:
        terminal.json([r.as_dict() for r in records])
        return
    terminal.table(
        ["NAME", "VERSION", "PACKAGE", "STATUS", "HOOKS", "PROVIDES / ERROR"],
        [
            [
                r.name,
                r.version,
                r.distribution + (" (built-in)" if r.builtin else ""),
                r.status,
                ", ".join(h.removeprefix("register_") for h in r.hooks),
                r.error if r.error else ", ".join(r.provides),
            ]
            for r in records
        ],
    )
    if any(r.status == "failed" for r in records):
        terminal.message(
            "Failed plugins are skipped; the rest work. Fix or uninstall them, or choose plugins with "
            "ZOO_LOAD_PLUGINS=name1,name2 (ZOO_DISABLE_PLUGIN_AUTOLOAD=1 loads none but the built-ins)."
        )
