"""`zoo export ID --to DIR [--name FILE]`: copy a stored artifact to where an app expects it;
`zoo export --allowlist FILE ID...`: an AI Edge Gallery model list of what zoo verified."""

from __future__ import annotations

from pathlib import Path

import click

from zoo_cli.terminal import terminal


@click.command("export")
@click.argument("queries", nargs=-1, required=True, metavar="QUERY...")
@click.option("--to", "directory", type=click.Path(path_type=Path, file_okay=False), help="Destination directory.")
@click.option("--name", help="File name there (default: the artifact's), e.g. autocomplete.tflite.")
@click.option("--force", is_flag=True, help="Replace a file that is already there.")
@click.option("--allowlist", type=click.Path(path_type=Path, dir_okay=False),
              help="Write an AI Edge Gallery model_allowlist.json of these pulled artifacts (pinned commit, size, defaults).")
def export_command(queries: tuple[str, ...], directory: Path | None, name: str | None, force: bool, allowlist: Path | None) -> None:
    """Copy an artifact's main file out of the store (e.g. into an Android app's assets), or list
    pulled artifacts for AI Edge Gallery (--allowlist), so a team ships its own pinned model list."""
    import os

    from registry.errors import ZooError
    from registry.fsutil import copy_atomically
    from zoo_cli.store_commands import entry_for

    if allowlist is not None:
        _write_allowlist(allowlist, queries, force)
        return
    if directory is None or len(queries) != 1:
        raise ZooError("zoo export copies one artifact: it needs one QUERY and --to DIR.",
                       fix="Run `zoo export ID --to DIR`, or `zoo export --allowlist FILE ID...` for a Gallery model list.")
    store, entry = entry_for(queries[0])
    source = store.artifact_dir(entry.id) / entry.main
    if name is not None and (not name or "/" in name or "\\\\" in name or name in (".", "..")):
        raise ZooError(f"--name {name!r} is not a plain file name.", fix="Pass a name such as autocomplete.tflite.")
    target = directory / (name or Path(entry.main).name)  # into --to itself, never a subfolder of it
    if os.path.islink(target):
        raise ZooError(f"{target} is a link; zoo does not write through links.",
                       fix="Remove the link (or choose another --name), then export again.")
    if target.exists() and not force:
        raise ZooError(f"{target} already exists.", fix="Pass --force to replace it, or choose another --name.")
    directory.mkdir(parents=True, exist_ok=True)
    copy_atomically(source, target)  # a copy, not a link: the app may modify or move its file
    terminal.line(str(target))


def gallery_entry(entry, row: dict | None) -> dict:
    """One model of AI Edge Gallery's model_allowlist.json, from a verified pull from Hugging Face:
    the repo, the file, the commit every file was fetched at, its size, and the manifest's defaults."""
    from registry.errors import ZooError

    source, resolved = entry.source, entry.source.get("resolved") or {}
    if source.get("kind") != "huggingface" or not resolved.get("revision"):
        raise ZooError(f"{entry.id} was not pulled from Hugging Face, where AI Edge Gallery downloads from.",
                       fix="List artifacts pulled from Hugging Face (`zoo list --format litertlm` shows them).")
    main = next(f for f in entry.files if f.path == entry.main)
    inference = (row or {}).get("inference") or {}
    accelerator = (row or {}).get("accelerator") or (row or {}).get("backend") or "cpu"
    config = {"topK": inference.get("top_k", 40), "topP": inference.get("top_p") or 0.95,
              "temperature": inference.get("temperature", 0.8), "maxTokens": inference.get("max_tokens", 512),
              "accelerators": "gpu,cpu" if accelerator in ("cpu", "gpu") and (row or {}).get("format") == "litertlm" else accelerator}
    model = {"name": entry.id, "modelId": source["repo"], "modelFile": entry.main,
             "description": (row or {}).get("description", entry.id), "sizeInBytes": main.size,
             "commitHash": resolved["revision"], "defaultConfig": config, "taskTypes": ["llm_chat", "llm_prompt_lab"]}
    if (row or {}).get("min_device_ram_mb"):
        model["minDeviceMemoryInGb"] = max(1, round(row["min_device_ram_mb"] / 1024))
    return model


def _write_allowlist(path: Path, queries: tuple[str, ...], force: bool) -> None:
    import json

    from registry.errors import ZooError
    from registry.fsutil import write_atomically
    from zoo_cli.common import load_catalog
    from zoo_cli.store_commands import entry_for

    if path.exists() and not force:
        raise ZooError(f"{path} already exists.", fix="Pass --force to replace it.")
    catalog = load_catalog()
    models = []
    for query in queries:
        _, entry = entry_for(query)
        models.append(gallery_entry(entry, catalog.rows.get(catalog.variant_id_of(entry))))
    write_atomically(path, json.dumps({"models": models}, indent=2) + "\n")
    terminal.line(str(path))
