"""`zoo build MODEL`: convert, bundle, verify and install a variant that is not published ready-made."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.common import filter_options, human_size, json_option, load_catalog, make_filters, say_default
from zoo_cli.terminal import terminal


@click.command("build")
@click.argument("query", metavar="MODEL[:REFERENCE]")
@filter_options
@click.option("--from", "from_dir", type=click.Path(path_type=Path), metavar="DIR|FILE",
              help="Build from this local checkpoint directory instead of downloading (its files are still checked), "
              "or from a single file the converter takes (export-hf: a .gguf).")
@click.option("--lora", type=click.Path(path_type=Path), metavar="ADAPTER",
              help="A PEFT LoRA adapter: the folder save_pretrained wrote, or its adapter_model.safetensors.")
@click.option("--lora-rank", type=int, help="The adapter's LoRA rank (read from its adapter_config.json when left out).")
@click.option("--param", "param_pairs", multiple=True, metavar="KEY=VALUE",
              help="A converter option, e.g. --param kv_cache_max_len=128 (`zoo info MODEL` lists them).")
@click.option("--force", is_flag=True, help="Build even if the machine has less RAM or disk than the recipe needs.")
@click.option("--rebuild", is_flag=True, help="Ignore the build cache.")
@click.option("--no-run-check", "no_run_check", is_flag=True,
              help="Skip the checks that run the model (structural checks still run; provenance records the skip).")
@click.option("--sign", "key", type=click.Path(path_type=Path, dir_okay=False),
              help="Sign the built artifact with this private key (PEM); `zoo push` attaches the signature.")
@click.option("--cache", "cache_url", metavar="oci://REGISTRY/REPO",
              help="The team's build cache (default: ZOO_BUILD_CACHE): a build found there under its key is pulled "
              "instead of converted; one made here is pushed there.")
@click.option("--insecure", is_flag=True, help="For --cache: plain http, for a registry on this machine only.")
@click.option("--require-signature", "signed_by", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              metavar="KEY", help="For --cache: take only a cached build signed by this public key (PEM).")
@click.option("--reproduce", is_flag=True, help="Build again from scratch and say whether the bytes equal the stored "
              "(or cached) build's; the stored build is kept either way.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@json_option
def build_command(query, from_dir, lora, lora_rank, param_pairs, force, rebuild, no_run_check, key, cache_url, insecure,
                  signed_by, reproduce, quiet, as_json, **filters) -> None:
    """Build a variant with its converter, in its toolchain, and install it verified.

    MODEL:REFERENCE builds a repo you name with a model's recipe, e.g. `zoo build hf:Qwen/Qwen3-0.6B@main`
    (`zoo info MODEL` says whether it takes one)."""
    from registry import settings
    from registry.build import BuildFlags, build
    from registry.build_cache import BuildCache, share
    from registry.params import parse_pairs
    from registry.references import for_reference, split
    from registry.resolver import resolve
    from zoo_cli.progress import PlainReporter

    catalog = load_catalog()
    named = split(query)  # MODEL:REFERENCE, e.g. hf:Qwen/Qwen3-0.6B@main
    row = resolve(catalog, named[0] if named else query, make_filters(**filters), purpose="build")
    variant = catalog.variant(row["id"])
    if named:
        variant = for_reference(catalog, variant, named[1])
    default = say_default(row, quiet or as_json)
    cache_url = cache_url or settings.get().build_cache
    cache = BuildCache.parse(cache_url, insecure=insecure, signed_by=signed_by) if cache_url else None
    options = BuildFlags(from_dir=from_dir, lora=lora, lora_rank=lora_rank, force=force, rebuild=rebuild,
                         run_checks=not no_run_check, params=parse_pairs(list(param_pairs)), cache=cache)
    if reproduce:
        _reproduce(catalog, variant, options, quiet, as_json)
        return
    with PlainReporter(quiet) as reporter:
        result = build(catalog, variant, options, reporter)
        from registry.store import default_store

        if key is not None:
            from registry.signing import sign

            sign(default_store(), result.entry, key, reporter.message)
        if cache is not None and not result.cache_hit:  # after signing, so the signature travels with it
            share(catalog, cache, default_store(), result.entry, result.provenance["build_key"], reporter,
                  signed=key is not None)
    if as_json:
        terminal.json({
            "id": result.variant_id,
            "entry": result.entry.id,
            "path": str(result.path),
            "cache_hit": result.cache_hit,
            "seconds": round(result.seconds, 3),
            "files": [f.__dict__ for f in result.entry.files],
            "provenance": result.provenance,
        } | default)
        return
    if not quiet:
        main = next(f for f in result.entry.files if f.path == result.entry.main)
        how = "cache hit, unchanged inputs, recipe and toolchain" if result.cache_hit else f"built in {result.seconds:.0f} s"
        verified = "verified" if options.run_checks else "structure verified; the run check was skipped (--no-run-check)"
        terminal.message(f"{result.entry.id}: {main.path} ({human_size(main.size)}), {how}, {verified}.")
        for check in (result.provenance or {}).get("checks", []):
            summary = (check.get("details") or {}).get("summary")
            if summary:  # what a check that ran the model says it saw
                terminal.message(f"  {check['check']}: {summary}")
    terminal.line(str(result.path))


def _reproduce(catalog, variant, options, quiet: bool, as_json: bool) -> None:
    """The stored build (built here, pulled from the cache, or made now when there is none), then the same
    build again from scratch: equal bytes, or the files that differ (exit 6). The stored build is put back."""
    import dataclasses

    from registry.build import build
    from registry.errors import NotReproducibleError
    from registry.store import default_store
    from zoo_cli.progress import PlainReporter

    with PlainReporter(quiet) as reporter:
        stored = build(catalog, variant, options, reporter)
        again = build(catalog, variant, dataclasses.replace(options, rebuild=True, cache=None), reporter)
    before = {f.path: f.sha256 for f in stored.entry.files if f.path != "provenance.json"}
    after = {f.path: f.sha256 for f in again.entry.files if f.path != "provenance.json"}
    differ = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    store = default_store()
    with store.store_lock():
        store.install(stored.entry)  # the build it was compared with stays the stored one
    if as_json:
        terminal.json({"id": stored.entry.id, "identical": not differ, "differ": differ, "files": before})
    if differ:
        raise NotReproducibleError(f"Rebuilt from scratch, {stored.entry.id} differs from the stored build in "
                                   f"{', '.join(differ)}; the stored build is kept.",
                                   fix="This converter or bundler is not reproducible for these inputs: report it "
                                   "with the command, and compare the two builds' provenance.json.")
    if not as_json:
        terminal.message(f"{stored.entry.id}: rebuilt from scratch, byte-identical to the stored build "
                         f"({', '.join(f'{path} sha256 {sha[:12]}' for path, sha in sorted(before.items()))}).")
