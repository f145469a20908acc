"""`zoo list`: every variant the installed plugins know, filtered."""

from __future__ import annotations

import click

from zoo_cli.common import filter_options, json_option, load_catalog, make_filters
from zoo_cli.terminal import terminal


def how_to_get(row: dict) -> str:
    how = f"pull ({row['source']['kind']})" if row["prebuilt"] else f"build ({row['recipe']['converter']})"
    return how + (" (gated)" if row["license"]["gated"] else "")


def summary(row: dict) -> dict:
    return {
        "id": row["id"],
        "family": row["family"],
        "model": row["model"],
        "backend": row["backend"],
        "accelerator": row.get("accelerator", row["backend"]),
        "quantization": row["quantization_label"],
        "format": row["format"],
        "platforms": row["platforms"],
        "source": row["source"]["kind"],
        "prebuilt": row["prebuilt"],
        "gated": row["license"]["gated"],
        "plugin": row["plugin"],
        "default": row.get("default_rank") == 0,
    }


@click.command("list")
@filter_options
@json_option
def list_command(as_json: bool, **filters) -> None:
    """List the variants you can pull or build."""
    from registry.resolver import filter_rows

    catalog = load_catalog()
    rows = sorted(filter_rows(catalog, make_filters(**filters)), key=lambda r: (r["family"], r["model"], r["id"]))
    if as_json:
        terminal.json([summary(r) for r in rows])
        return
    if not rows:
        terminal.message("No variant matches those filters. Run `zoo list` without options to see them all.")
        return
    terminal.table(
        ["ID", "FAMILY", "BACKEND", "ACCEL", "QUANT", "FORMAT", "PLATFORMS", "HOW"],
        [
            [r["id"], r["family"], r["backend"], r.get("accelerator", r["backend"]), r["quantization_label"], r["format"],
             ",".join(r["platforms"]), how_to_get(r)]
            for r in rows
        ],
    )
