"""Pieces several commands share: loading the catalog (with plugin warnings) and filter options."""

from __future__ import annotations

import click

from zoo_cli.terminal import terminal


def load_catalog():
    from registry.catalog import get_catalog

    catalog = get_catalog()
    for record in catalog.failed_plugins():
        terminal.warning(
            f"plugin '{record.name}' ({record.distribution} {record.version}) was skipped: {record.error}. "
            "Run `zoo plugins` for details, or set ZOO_LOAD_PLUGINS to the plugins you want."
        )
    return catalog


def filter_options(func):
    """--family --backend --quant --platform --format, shared by commands that select variants."""
    for decorator in reversed(
        [
            click.option("--family", help="Only this family (e.g. gemma, phi, gpt2)."),
            click.option("--backend", type=click.Choice(["cpu", "gpu"]), help="Only this backend."),
            click.option("--quant", "quant", help="Only this quantization (int4, int8, fp16, fp32)."),
            click.option("--platform", type=click.Choice(["android", "ios", "web", "desktop"]), help="Only variants that run there."),
            click.option("--format", "format_", help="Only this artifact format (bin, task, tflite, litertlm, or a plugin's)."),
            click.option("--accelerator", help="Only files compiled for it: cpu, gpu, web, npu, or npu:<soc>."),
        ]
    ):
        func = decorator(func)
    return func


def make_filters(family=None, backend=None, quant=None, platform=None, format_=None, accelerator=None):
    from registry.resolver import Filters

    return Filters(family=family, backend=backend, quant=quant, platform=platform, format=format_, accelerator=accelerator)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def say_default(row: dict, quiet: bool = False) -> dict:
    """When the resolver chose the model's default, say so and how to pick another (one line on
    stderr); returns what --json output carries about it ({} when the query named one variant)."""
    chosen = row.get("chosen_by_default")
    if not chosen:
        return {}
    if not quiet:
        terminal.message(f"{chosen['query']}: using its default variant {row['id']} "
                         f"(also {', '.join(chosen['others'])}: name one, or add --backend / --quant).")
    return {"chosen_by_default": True, "other_variants": chosen["others"]}


def human_size(n: int) -> str:
    """Bytes as people read them (decimal units): '512 B', '1.4 GB'."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def names_a_file(query: str) -> bool:
    """Whether what the user typed is a path to a file (a model file to `zoo import`), not an id."""
    from pathlib import Path

    try:
        return ("/" in query or "." in query) and Path(query).expanduser().is_file()
    except (OSError, ValueError):
        return False
