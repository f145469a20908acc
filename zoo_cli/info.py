"""`zoo info ID`: everything the manifest says about a variant, or an overview of a model or family."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.common import filter_options, json_option, load_catalog, make_filters, names_a_file
from zoo_cli.list import how_to_get, summary
from zoo_cli.terminal import terminal


def next_step(row: dict) -> str:
    if row["prebuilt"]:
        return f"zoo pull {row['id']}"
    command = f"zoo build {row['model']} --backend {row['backend']} --quant {row['quantization_label']}"
    if row["source"]["kind"] == "local" and not row["source"].get("path"):
        command += " --from DIR"
    return command


def reference_hint(row: dict) -> str | None:
    """How to build a repo of your own with this model's recipe, when its manifest allows it."""
    template = row.get("by_reference")
    if not template:
        return None
    kind = load_catalog().component("source", template["kind"])
    syntax = getattr(kind, "reference_syntax", None) or "REFERENCE"
    return f"zoo build {row['model']}:{syntax} (a {template['kind']} repo, fetched and verified into the store)"


def _pairs(data: dict, skip: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{k}={v}" for k, v in data.items() if k not in skip and v not in (None, [], {}))


def with_effective_checks(row: dict) -> dict:
    """The row with each output's checks as they run: its format's default checks included."""
    catalog = load_catalog()
    return row | {"outputs": [o | {"checks": catalog.output_checks(o["path"], o["checks"])} for o in row["outputs"]]}


def build_options(row: dict) -> dict[str, dict]:
    """The options (--param) the variant's converter declares, each with its value for this variant."""
    if not row["recipe"]:
        return {}
    converter = load_catalog().component("converter", row["recipe"]["converter"])
    if converter is None:
        return {}
    from registry.params import type_name

    return {name: {"description": p.description, "type": type_name(p.type),
                   "value": row["recipe"]["params"].get(name, p.default)}
            for name, p in converter.parameters.items()}


def _from_users_folder(row: dict) -> bool:
    """Whether the variant's inputs are only ever the folder the user passes (`zoo build hf --from DIR`)."""
    catalog = load_catalog()
    source = catalog.component("source", row["source"]["kind"])
    return bool(getattr(source, "needs_from", False)) and source.local_directory(catalog.variant(row["id"])) is None


def _variant_table(row: dict) -> list[list[str]]:
    lic = row["license"]
    rows = [
        ["id", row["id"]],
        ["aliases", ", ".join(row["aliases"]) or "-"],
        ["family / model", f"{row['family']} / {row['model']}"],
        ["description", row["description"]],
        ["backend", row["backend"]],
        ["accelerator", row.get("accelerator", row["backend"])],
        ["quantization", row["quantization_label"]],
        ["format", row["format"]],
        ["platforms", ", ".join(row["platforms"])],
        ["min device RAM", f"{row['min_device_ram_mb']} MB" if row["min_device_ram_mb"] else "-"],
        ["licence", " ".join(x for x in [lic["name"], f"({lic['spdx']})" if lic["spdx"] else "", lic["url"] or ""] if x)],
        ["gated", f"yes: accept the licence at {lic['accept_url']}" if lic["gated"] else "no"],
        ["inference defaults", _pairs(row["inference"])],
        ["source", f"{row['source']['kind']} {_pairs(row['source'], skip=('kind',))}".strip()],
        ["how", how_to_get(row)],
    ]
    if reference_hint(row):
        rows.append(["from a repo", reference_hint(row)])
    unpinned = "hashed from your --from folder at build time" if _from_users_folder(row) else "digest pinned on first download"
    for f in row["files"]:
        digest = f"sha256 {f['sha256']}" if f["sha256"] else unpinned
        size = f"{f['size']} B, " if f["size"] else ""
        rows.append(["file", f"{f['path']} ({f['role']}, {size}{digest})"])
    recipe = row["recipe"]
    if recipe:
        rows.append(["recipe", f"{recipe['converter']}: {_pairs(recipe['params'])}"])
        for name, option in build_options(row).items():
            value = option["value"]
            shown = "" if value is None else "=" + (",".join(map(str, value)) if isinstance(value, list) else str(value))
            rows.append(["option", f"--param {name}{shown}: {option['description']} ({option['type']})"])
        needs = [f"{recipe['ram_gb']:g} GB RAM" if recipe["ram_gb"] else "", f"{recipe['disk_gb']:g} GB disk" if recipe["disk_gb"] else ""]
        if any(needs):
            rows.append(["build needs", ", ".join(n for n in needs if n)])
    bundle = row["bundle"]
    if bundle:
        stops = ", ".join(repr(t) for t in bundle["stop_tokens"])
        rows.append(["bundle", f"{', '.join(bundle['bundlers'])}; start {bundle['start_token']!r}, stop {stops}"])
        if bundle["prompt_template"]:
            rows.append(["prompt template", _pairs(bundle["prompt_template"])])
    if row["lora"]:
        rows.append(["LoRA", f"allowed on this {row['backend']} variant: --lora ADAPTER, rank up to {row['lora']['max_rank']}"])
    for out in row["outputs"]:
        rows.append(["output", f"{out['path']} (checks: {', '.join(out['checks']) or 'none'})"])
    rows += [["note", note] for note in row["notes"]]
    rows.append(["plugin", row["plugin"]])
    rows.append(["next step", next_step(row)])
    return rows


def local_artifacts(variant_id: str) -> list[dict]:
    """What the store holds for this variant (pulled or built, LoRA builds included), with provenance."""
    import json

    from registry.store import default_store

    store = default_store()
    found = []
    for entry in store.entries():
        if entry.id != variant_id and entry.source.get("variant") != variant_id:
            continue
        item = {"entry": entry.id, "kind": entry.kind, "path": str(store.artifact_dir(entry.id) / entry.main),
                "size": entry.size, "files": [f.__dict__ for f in entry.files], "origin": origin(entry.source)}
        record = store.artifact_dir(entry.id) / "provenance.json"
        if record.is_file():
            item["provenance"] = json.loads(record.read_text())
        if entry.main.endswith(".litertlm"):  # what the file says of itself, as the text view shows it
            item["litertlm"] = litertlm_metadata(Path(item["path"]))
        from registry.bench import latest

        item["bench"] = latest(entry.id)
        found.append(item)
    return found


def litertlm_metadata(path: Path) -> dict | None:
    """A stored .litertlm's own LlmMetadata (sections, tokens, template, context, sampler), or None."""
    from registry import litertlm

    try:
        info = litertlm.read(path)
        runs = litertlm.accelerators(path)
        return ({"sections": [s.kind for s in info.sections], "backends": list(runs.backends), "npu_chip": runs.chip}
                | (litertlm.llm_metadata(path, info) or {}))
    except (litertlm.NotLiteRTLM, OSError):
        return None


def _float32_size(row: dict, entry_id: str) -> int | None:
    """The stored size of the same model's float32 variant built from the same inputs (a `--from`
    build's entry id carries its checkpoint after the variant id), for "size against float32"."""
    from registry.store import default_store
    from zoo_cli.common import load_catalog

    inputs = entry_id[len(row["id"]):] if entry_id.startswith(row["id"]) else ""
    for other in load_catalog().rows.values():
        if other["model"] == row["model"] and other["family"] == row["family"] and other["quantization_label"] == "fp32":
            entry = default_store().entry(other["id"] + inputs)
            if entry is not None:
                return next((f.size for f in entry.files if f.path == entry.main), None)
    return None


def origin(source: dict) -> str | None:
    """Where a stored artifact came from when not from the catalog's own source: a registry (its digest)
    or the team's build cache; the provenance it was built with travels in its provenance.json."""
    kind = source.get("kind")
    if kind == "cache":
        return (f"the build cache {source.get('cache')} (build key {str(source.get('build_key'))[:12]}, "
                f"manifest {str(source.get('manifest_digest'))[:19]})")
    if kind == "oci":
        return f"{source.get('reference')} (manifest {str(source.get('manifest_digest'))[:19]})"
    return None


def _local_rows(local: list[dict], row: dict) -> list[list[str]]:
    rows = []
    for item in local:
        reference = _float32_size(row, item["entry"])
        main = next((f["size"] for f in item["files"] if item["path"].endswith("/" + f["path"])), item["size"])
        versus = f"; {main / reference:.2f}x the float32 build's size" if reference and row["quantization_label"] != "fp32" else ""
        if item["entry"] != row["id"]:  # a build from a checkpoint or adapter of the user's, under an id of its own
            rows.append(["entry", item["entry"]])
        rows.append(["local", f"{item['path']} ({item['kind']}, {main} bytes{versus})"])
        if item.get("origin"):
            rows.append(["came from", item["origin"]])
        if item["path"].endswith(".litertlm"):
            rows += _litertlm_rows(Path(item["path"]))
        rows += _bench_rows(item["entry"])
        record = item.get("provenance")
        if not record:
            continue
        steps = ", ".join(f"{s['what']} {s['seconds']:.0f} s, peak RSS {s['peak_rss_bytes'] / 1e9:.1f} GB" for s in record["steps"])
        rows.append(["built", f"{steps}; total {record['timings'].get('total', 0):.0f} s"])
        derived = record["inputs"]["source"].get("derived_from")
        if derived:
            rows.append(["built from", f"{derived['path']} sha256 {derived['sha256'][:12]}, as the checkpoint "
                         f"{record['inputs']['source'].get('path')}"])
        rows.append(["built from" if not derived else "checkpoint", f"{record['inputs']['source'].get('kind')} "
                     + ", ".join(f"{f['path']} sha256 {f['sha256'][:12]}" for f in record["inputs"]["files"])])
        rows.append(["toolchains", ", ".join(f"{n} ({len(t['lock'])} packages, lock {t['lock_sha256'][:12]})"
                                             for n, t in record["toolchains"].items())])
        for check in record.get("checks") or []:  # what each check that ran the model found, in its own words
            line = (check.get("details") or {}).get("summary")
            if isinstance(line, str):
                rows.append([f"checked ({check['check']})", line])
            elif check.get("skipped"):
                rows.append([f"checked ({check['check']})", f"skipped ({check['skipped']})"])
        for step in record["steps"]:
            bundle = (step.get("result") or {}).get("bundle")
            if isinstance(bundle, dict):
                rows += _bundle_rows(bundle)
        if record.get("lora"):
            rows.append(["LoRA", f"{record['lora']['file']} rank {record['lora']['rank']} sha256 {record['lora']['sha256'][:12]}"])
        rows.append(["build key", record["build_key"]])
        if record.get("command"):
            rows.append(["command", record["command"]])
    return rows


def _bench_rows(entry_id: str) -> list[list[str]]:
    """The latest `zoo bench` of a stored artifact on this machine."""
    from registry.bench import latest
    from zoo_cli.bench import describe

    record = latest(entry_id)
    if record is None:
        return []
    load, ttft, prefill, decode = describe(record)
    return [["bench", f"load {load} s, first token {ttft} ms, prefill {prefill} tok/s, decode {decode} tok/s "
                      f"({record['runs']} runs, {record['runtime']} {record.get('runtime_version') or ''})"]]


def _litertlm_rows(path: Path) -> list[list[str]]:
    """What a stored .litertlm's own LlmMetadata says (decoded, bounded, with the format's schema)."""
    from registry import litertlm

    try:
        info = litertlm.read(path)
        meta = litertlm.llm_metadata(path, info)
    except (litertlm.NotLiteRTLM, OSError) as exc:
        return [["litertlm", f"unreadable: {exc}"]]
    rows = [["sections", ", ".join(s.kind for s in info.sections)]]
    try:
        runs = litertlm.accelerators(path)
        rows.append(["runs on", ", ".join(runs.backends) + (f" (compiled for {runs.chip})" if runs.chip else "")])
    except litertlm.NotLiteRTLM:
        pass
    if meta:
        rows.append(["chat template", f"yes ({meta['chat_template']} characters)" if meta["chat_template"] else "none"])
        stops = ", ".join(f"id {' '.join(map(str, t))}" if isinstance(t, list) else repr(t) for t in meta["stop_tokens"])
        rows.append(["stop tokens", stops or "none"])
        if meta["start_token"] is not None:
            rows.append(["start token", str(meta["start_token"])])
        if meta["max_num_tokens"]:
            rows.append(["context", f"{meta['max_num_tokens']} tokens"])
        if meta["model_type"]:
            rows.append(["LiteRT-LM model type", meta["model_type"]])
    try:
        weights = litertlm.model_weights(path)
    except (litertlm.NotLiteRTLM, OSError):
        weights = {}
    if weights:
        rows.append(["weights", litertlm.describe_weights(weights)])
    return rows


def _bundle_rows(bundle: dict) -> list[list[str]]:
    """What the built bundle itself carries (read from it at build time): chat template, sampler, tokens."""
    template = bundle.get("chat_template")
    sampler = ", ".join(f"{k}={v}" for k, v in (bundle.get("sampler") or {}).items()) or "none (apps pass their own)"
    stops = ", ".join(f"id {' '.join(map(str, t))}" if isinstance(t, list) else repr(t)
                      for t in bundle.get("stop_tokens") or []) or "none"
    rows = [["chat template", (f"yes ({len(template)} characters): `zoo run ID --chat` uses it" if template
                               else "none: `zoo run --chat` refuses; apps wrap prompts themselves")],
            ["sampler defaults", sampler],
            ["stop tokens", stops]]
    if bundle.get("max_num_tokens"):
        rows.append(["context", f"{bundle['max_num_tokens']} tokens"])
    return rows


def _stored_build(catalog, query: str):
    """The store entry `query` names when it is a build of a catalog variant under an id of its own
    (`zoo build hf --from DIR`, `--lora`, `hf:ORG/REPO`); None for anything the catalog names itself."""
    if query in catalog.names:
        return None
    from registry.store import default_store

    entry = default_store().entry(query)
    return entry if entry is not None and catalog.variant_id_of(entry) is not None else None


def _uncatalogued(query: str, as_json: bool) -> bool:
    """Show a stored artifact no manifest describes (one `zoo import` kept, or a registry's artifact zoo did
    not push): what the file says, and where it came from; False when `query` names none. A path to a
    file suggests importing it."""
    from registry.errors import NotInStoreError
    from registry.imports import IMPORT_KIND
    from registry.store import default_store

    catalog = load_catalog()
    if query not in catalog.names and names_a_file(query):
        raise NotInStoreError(f"{query} is a file, not a variant or a stored artifact.",
                              fix=f"Import it first: `zoo import {query}`, then `zoo info` the id it prints.")
    store = default_store()
    entry = store.entry(query)
    if entry is None or catalog.variant_id_of(entry) is not None:
        return False
    path = store.artifact_dir(entry.id) / entry.main
    if as_json:
        from registry.bench import latest

        terminal.json({"id": entry.id, "kind": entry.kind, "path": str(path), "source": entry.source,
                       "files": [f.__dict__ for f in entry.files],
                       "litertlm": litertlm_metadata(path) if entry.main.endswith(".litertlm") else None,
                       "bench": latest(entry.id)})
        return True
    if entry.kind == IMPORT_KIND:
        rows = [["id", entry.id], ["kind", "imported with `zoo import`"], ["format", entry.source.get("format", "-")],
                ["imported from", f"{entry.source.get('path')} (sha256 {str(entry.source.get('sha256'))[:12]})"]]
    else:
        rows = [["id", entry.id], ["kind", entry.kind], ["format", catalog.format_of(entry.main) or "-"],
                ["came from", origin(entry.source) or str(entry.source.get("kind", "-"))]]
    rows.append(["local", f"{path} ({entry.size} bytes)"])
    if entry.main.endswith(".litertlm"):
        rows += _litertlm_rows(path)
    rows += _bench_rows(entry.id)
    terminal.table(["FIELD", "VALUE"], rows)
    return True


@click.command("info")
@click.argument("query")
@filter_options
@json_option
def info_command(query: str, as_json: bool, **filters) -> None:
    """Show what the manifest says about a variant, a model or a family."""
    from registry.resolver import candidates

    catalog = load_catalog()
    built = _stored_build(catalog, query)
    if built is None and _uncatalogued(query, as_json):
        return
    found = [catalog.rows[catalog.variant_id_of(built)]] if built else candidates(catalog, query, make_filters(**filters))
    found = sorted(found, key=lambda r: r["id"])
    if len(found) == 1:
        row = with_effective_checks(found[0])
        local = [item for item in local_artifacts(row["id"]) if built is None or item["entry"] == built.id]
        if as_json:
            terminal.json(row | {"next_step": next_step(row), "options": build_options(row), "local": local})
        else:
            terminal.table(["FIELD", "VALUE"], _variant_table(row) + _local_rows(local, row))
        return
    if as_json:
        terminal.json({"query": query, "variants": [summary(r) | {"next_step": next_step(r)} for r in found]})
        return
    models = sorted({r["model"] for r in found})
    terminal.print(f"[bold]{query}[/]: {len(found)} variants of {', '.join(models)}", markup=True)
    for note in dict.fromkeys(n for r in found for n in r["notes"]):
        terminal.print(f"  note: {note}", markup=False)
    for hint in dict.fromkeys(filter(None, (reference_hint(r) for r in found))):
        terminal.print(f"  from a repo: {hint}", markup=False)
    terminal.table(
        ["ID", "BACKEND", "QUANT", "FORMAT", "PLATFORMS", "HOW", "NEXT STEP"],
        [[r["id"] + (" (default)" if r.get("default_rank") == 0 else ""), r["backend"], r["quantization_label"], r["format"],
          ",".join(r["platforms"]), how_to_get(r), next_step(r)] for r in found],
    )
    terminal.message(f"Run `zoo info ID` for everything about one variant, e.g. `zoo info {found[0]['id']}`.")
