"""`zoo plugins`: which plugins loaded, what each provides, and why any failed."""

from __future__ import annotations

import click

from zoo_cli.common import json_option
from zoo_cli.terminal import terminal


@click.group("plugins", invoke_without_command=True)
@json_option
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List plugins: name, version, package, hooks and status (failed ones included)."""
    if ctx.invoked_subcommand is not None:
        return
    from registry import settings
    from registry.catalog import get_catalog

    catalog = get_catalog()
    records = list(catalog.records.values())
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
    checks = catalog.descriptions.get("verifier", {})
    if checks:
        always: dict[str, list[str]] = {}
        built: dict[str, list[str]] = {}
        for fmt, names in catalog.default_checks.items():
            for name in names:
                always.setdefault(name, []).append(f".{fmt}")
        for fmt, names in catalog.default_run_checks.items():
            for name in names:
                built.setdefault(name, []).append(f".{fmt}")

        def runs_on(name: str) -> str:
            if name in always:
                return f"every {', '.join(always[name])}"
            if name in built:
                return f"builds of {', '.join(built[name])} it applies to"
            return "outputs listing it"

        terminal.table(["CHECK", "PLUGIN", "RUNS ON", "WHAT IT PROVES"],
                       [[name, catalog.components["verifier"][name], runs_on(name), description]
                        for name, description in sorted(checks.items())])
    if settings.get().debug:
        for r in records:
            if r.traceback:
                terminal.message(f"{r.name}: {r.traceback}")
    if any(r.status == "failed" for r in records):
        terminal.message(
            "Failed plugins are skipped; the rest work. Fix or uninstall them, or choose plugins with "
            "ZOO_LOAD_PLUGINS=name1,name2 (ZOO_DISABLE_PLUGIN_AUTOLOAD=1 loads none but the built-ins)."
        )


@plugins_command.command("check")
@click.argument("name")
@json_option
def check_command(name: str, as_json: bool) -> None:
    """Check that plugin NAME conforms: loads, registers valid, resolvable things (for plugin authors)."""
    from registry.catalog import Catalog
    from registry.conformance import check_plugin
    from registry.errors import ExitCode

    catalog = Catalog.load()  # always the plugins themselves, never the startup snapshot
    problems = check_plugin(name, catalog)
    if as_json:
        terminal.json({"plugin": name, "ok": not problems, "problems": problems, "provides": catalog.provided_by(name)})
    elif problems:
        terminal.print(f"FAILED  {name}", markup=False)
        for problem in problems:
            terminal.print(f"  {problem}", markup=False)
    else:
        terminal.print(f"ok      {name}: " + ", ".join(catalog.provided_by(name)), markup=False)
    if problems:
        raise click.exceptions.Exit(int(ExitCode.PLUGIN_ERROR))
