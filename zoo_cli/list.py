"""`zoo list`: every variant the installed plugins know, filtered."""

from __future__ import annotations

import click

from zoo_cli.common import filter_options, json_option, load_catalog, make_filters
from zoo_cli.terminal import terminal


def how_to_get(variant) -> str:
    return f"pull ({variant.source.kind})" if variant.prebuilt else f"build ({variant.recipe.converter})"


def variant_row(variant) -> dict:
    return {
        "id": variant.id,
        "family": variant.family,
        "model": variant.model,
        "backend": variant.backend,
        "quantization": variant.quantization_label,
        "format": variant.format,
        "platforms": list(variant.platforms),
        "source": variant.source.kind,
        "prebuilt": variant.prebuilt,
        "gated": variant.license.gated,
        "plugin": variant.plugin,
    }


@click.command("list")
@filter_options
@json_option
def list_command(as_json: bool, **filters) -> None:
    """List the variants you can pull or build."""
    from registry.resolver import filter_variants

    catalog = load_catalog()
    variants = sorted(filter_variants(catalog, make_filters(**filters)), key=lambda v: (v.family, v.model, v.id))
    if as_json:
        terminal.json([variant_row(v) for v in variants])
        return
    if not variants:
        terminal.message("No variant matches those filters. Run `zoo list` without options to see them all.")
        return
    terminal.table(
        ["ID", "FAMILY", "BACKEND", "QUANT", "FORMAT", "PLATFORMS", "HOW"],
        [
            [
                v.id,
                v.family,
                v.backend,
                v.quantization_label,
                v.format,
                ",".join(v.platforms),
                how_to_get(v) + (" (gated)" if v.license.gated else ""),
            ]
            for v in variants
        ],
    )
