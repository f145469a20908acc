"""`zoo bench ID... [--all] [--runs N] [--prefill N] [--decode N] [--json]`: speed on this machine."""

from __future__ import annotations

import click

from zoo_cli.common import human_size, json_option
from zoo_cli.terminal import terminal


def _entries(queries: tuple[str, ...], every_variant: bool):
    """The stored entries to measure: each query's, or with --all every stored build or pull of its model."""
    from registry.errors import NotInStoreError
    from registry.store import default_store
    from zoo_cli.common import load_catalog
    from zoo_cli.store_commands import entry_for

    if not every_variant:
        return [entry_for(query)[1] for query in queries]
    catalog, store = load_catalog(), default_store()
    found = []
    for query in queries:
        claim = catalog.names.get(query)
        model = claim.model if claim else None
        if model is None:
            raise NotInStoreError(f"--all compares the stored variants of a model, and '{query}' names none.",
                                  fix="Name a model, e.g. `zoo bench gemma3-1b-it --all`; `zoo ls` lists what is local.")
        mine = [e for e in store.entries() if (catalog.rows.get(catalog.variant_id_of(e) or "") or {}).get("model") == model]
        if not mine:
            raise NotInStoreError(f"No variant of {model} is in the store.",
                                  fix=f"Pull or build one first (`zoo info {model}` lists them).")
        found += [e for e in mine if _benchable(catalog, e)]
    return found


def _benchable(catalog, entry) -> bool:
    """Whether a loaded runtime benchmarks the entry's main file."""
    fmt = catalog.format_of(entry.main)
    runtime = catalog.runtime_for(fmt) if fmt else None
    return runtime is not None and runtime.supports_bench


@click.command("bench")
@click.argument("queries", nargs=-1, required=True)
@click.option("--all", "every_variant", is_flag=True, help="Measure every stored variant of each MODEL named, to compare them.")
@click.option("--runs", type=int, default=5, show_default=True, help="How many times to measure each artifact.")
@click.option("--prefill", "prefill_tokens", type=click.IntRange(1, 1 << 20), help="Prompt tokens per run (default: half the context, at most 256).")
@click.option("--decode", "decode_tokens", type=click.IntRange(1, 1 << 20), help="Generated tokens per run (default: at most 128).")
@json_option
def bench_command(queries, every_variant, runs, prefill_tokens, decode_tokens, as_json) -> None:
    """Measure stored artifacts on this machine with their runtime: load time, time to first token, prefill
    and decode tokens/s (median and spread over --runs) and peak RSS. Kept beside the store; `zoo info` shows it."""
    from registry.bench import bench
    from registry.store import default_store
    from zoo_cli.common import load_catalog
    from zoo_cli.progress import PlainReporter

    catalog, store = load_catalog(), default_store()
    records = []
    with PlainReporter(as_json) as reporter:
        for entry in _entries(queries, every_variant):
            records.append(bench(catalog, store, entry, runs=runs, prefill_tokens=prefill_tokens,
                                 decode_tokens=decode_tokens, on_progress=reporter.message))
    if as_json:
        terminal.json(records)
        return
    terminal.table(["ID", "LOAD S", "TTFT MS", "PREFILL TOK/S", "DECODE TOK/S", "PEAK RSS", "RUNS"],
                   [[r["entry"], *describe(r), human_size(r["peak_rss_bytes"]), str(r["runs"])] for r in records])
    first = records[0]
    terminal.message(f"{first['runtime']} {first['runtime_version'] or ''} on {first['machine']['cpus']} CPUs "
                     f"({first['machine']['cpu'] or first['machine']['machine']}); medians, the spread in brackets; "
                     f"{first['prefill_tokens']} prompt and {first['decode_tokens']} generated tokens per run.")


def describe(record: dict) -> list[str]:
    """A record's four figures as a table shows them: median [min-max]."""
    def cell(name: str, scale: float = 1.0, digits: int = 2) -> str:
        m = record["metrics"][name]
        if m["median"] is None:
            return "-"
        return f"{m['median'] * scale:.{digits}f} [{m['min'] * scale:.{digits}f}-{m['max'] * scale:.{digits}f}]"

    return [cell("load_seconds", 1, 3), cell("time_to_first_token_seconds", 1000, 1), cell("prefill_tokens_per_second", 1, 0),
            cell("decode_tokens_per_second", 1, 0)]
