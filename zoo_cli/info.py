"""`zoo info ID`: everything the manifest says about a variant, or an overview of a model or family."""

from __future__ import annotations

import click

from zoo_cli.common import filter_options, json_option, load_catalog, make_filters
from zoo_cli.list import how_to_get, variant_row
from zoo_cli.terminal import terminal


def _next_step(variant) -> str:
    if variant.prebuilt:
        return f"zoo pull {variant.id}"
    command = f"zoo build {variant.model} --backend {variant.backend} --quant {variant.quantization_label}"
    if variant.source.kind == "local" and getattr(variant.source, "path", None) is None:
        command += " --from DIR"
    return command


def _source_text(source) -> str:
    fields = source.model_dump(exclude={"kind"}, exclude_none=True)
    return f"{source.kind} " + " ".join(f"{k}={v}" for k, v in fields.items())


def _show_variant(variant) -> None:
    lic = variant.license
    rows = [
        ["id", variant.id],
        ["aliases", ", ".join(variant.aliases) or "-"],
        ["family / model", f"{variant.family} / {variant.model}"],
        ["description", variant.description],
        ["backend", variant.backend],
        ["quantization", variant.quantization_label],
        ["format", variant.format],
        ["platforms", ", ".join(variant.platforms)],
        ["min device RAM", f"{variant.min_device_ram_mb} MB" if variant.min_device_ram_mb else "-"],
        ["licence", f"{lic.name}" + (f" ({lic.spdx})" if lic.spdx else "") + (f" {lic.url}" if lic.url else "")],
        ["gated", f"yes: accept the licence at {lic.accept_url}" if lic.gated else "no"],
        ["inference defaults", ", ".join(f"{k}={v}" for k, v in variant.inference.model_dump().items())],
        ["source", _source_text(variant.source)],
        ["how", how_to_get(variant)],
    ]
    for f in variant.files:
        detail = ", ".join(x for x in [f.role, f"{f.size} B" if f.size else "", f"sha256 {f.sha256}" if f.sha256 else "digest pinned on first download"] if x)
        rows.append(["file", f"{f.path} ({detail})"])
    if variant.recipe:
        params = ", ".join(f"{k}={v}" for k, v in variant.recipe.params.items())
        rows.append(["recipe", f"{variant.recipe.converter}: {params}"])
        needs = [f"{variant.recipe.ram_gb:g} GB RAM" if variant.recipe.ram_gb else "", f"{variant.recipe.disk_gb:g} GB disk" if variant.recipe.disk_gb else ""]
        if any(needs):
            rows.append(["build needs", ", ".join(n for n in needs if n)])
    if variant.bundle:
        b = variant.bundle
        rows.append(["bundle", f"{', '.join(b.bundlers)}; start {b.start_token!r}, stop {', '.join(map(repr, b.stop_tokens))}"])
    if variant.lora:
        rows.append(["LoRA", f"allowed (gpu), rank up to {variant.lora.max_rank}"])
    for out in variant.outputs:
        rows.append(["output", f"{out.path} (checks: {', '.join(out.checks) or 'none'})"])
    for note in variant.notes:
        rows.append(["note", note])
    rows.append(["plugin", variant.plugin])
    rows.append(["next step", _next_step(variant)])
    terminal.table(["FIELD", "VALUE"], rows)


@click.command("info")
@click.argument("query")
@filter_options
@json_option
def info_command(query: str, as_json: bool, **filters) -> None:
    """Show what the manifest says about a variant, a model or a family."""
    from registry.errors import AmbiguousVariantError
    from registry.resolver import resolve

    catalog = load_catalog()
    try:
        variant = resolve(catalog, query, make_filters(**filters))
    except AmbiguousVariantError as exc:
        variants = [catalog.variants[i] for i in exc.candidates]
        if as_json:
            terminal.json({"query": query, "variants": [variant_row(v) | {"next_step": _next_step(v)} for v in variants]})
            return
        first = variants[0]
        terminal.print(f"[bold]{query}[/]: {first.description}")
        for note in first.notes:
            terminal.print(f"  note: {note}")
        terminal.table(
            ["ID", "BACKEND", "QUANT", "FORMAT", "PLATFORMS", "HOW"],
            [[v.id, v.backend, v.quantization_label, v.format, ",".join(v.platforms), how_to_get(v)] for v in variants],
        )
        terminal.message(f"Run `zoo info ID` for one variant, e.g. `zoo info {first.id}`.")
        return
    if as_json:
        terminal.json(variant.model_dump(mode="json") | {"prebuilt": variant.prebuilt, "next_step": _next_step(variant)})
        return
    _show_variant(variant)
