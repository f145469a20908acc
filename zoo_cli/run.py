"""`zoo run ID --prompt TEXT`: generate text with a stored artifact, through a runtime plugin."""

from __future__ import annotations

import click

from zoo_cli.terminal import terminal


@click.command("run")
@click.argument("query")
@click.option("--prompt", required=True, help="The text to continue.")
@click.option("--max-tokens", type=int, default=16, show_default=True, help="How many tokens to generate (greedy).")
@click.option("--runtime", "runtime_name", metavar="NAME", help="Run with this runtime (`zoo plugins` lists them); "
              "default: the first that runs the artifact's format.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def run_command(query: str, prompt: str, max_tokens: int, runtime_name: str | None, as_json: bool) -> None:
    """Generate from a stored artifact (e.g. .task or .litertlm with LiteRT-LM on CPU).

    Prints the continuation alone, for every runtime: a tokenizer that decodes only the new tokens
    drops the space that joined them to the prompt, so prompt + text read "once uponvery".
    """
    import json
    import sys
    import tempfile
    from pathlib import Path

    from registry import toolchains
    from registry.child import run_job
    from registry.errors import ZooError
    from zoo_cli.common import load_catalog
    from zoo_cli.store_commands import entry_for

    store, entry = entry_for(query)
    catalog = load_catalog()
    directory = store.artifact_dir(entry.id)
    candidates = [f.path for f in entry.files if f.path == entry.main] + [f.path for f in entry.files if f.path != entry.main]
    chosen = catalog.component("runtime", runtime_name) if runtime_name else None
    if runtime_name and chosen is None:
        raise ZooError(f"No loaded plugin provides a runtime named '{runtime_name}'.",
                       fix="`zoo plugins` lists the runtimes; leave out --runtime to pick one by the artifact's format.")
    for name in candidates:
        fmt = name.rsplit(".", 1)[-1]
        runtime = (chosen if fmt in chosen.formats else None) if chosen else catalog.runtime_for(fmt)
        if runtime is not None:
            break
    else:
        raise ZooError(
            f"No loaded runtime can run {entry.id} ({', '.join(f.path for f in entry.files)}).",
            fix="zoo runs .task and .litertlm files with LiteRT-LM; other formats run on the device "
            "(MediaPipe's LLM Inference API for .bin).",
        )
    context = 64
    record = directory / "provenance.json"
    if record.is_file():
        try:
            recorded = json.loads(record.read_text()).get("context_length")
        except ValueError:
            recorded = None
        context = recorded if isinstance(recorded, int) and recorded > 0 else context
    # A runtime without a toolchain runs its job with zoo's own interpreter.
    python = toolchains.ensure(runtime.toolchain, terminal.message).python if runtime.toolchain else Path(sys.executable)
    job = runtime.plan(directory / name, prompt, max_tokens, context)
    with tempfile.TemporaryDirectory(prefix="zoo-run-") as work:
        result = run_job(python, job.runner, job.request, Path(work), what=job.what)
    text = result.data.get("text", "")
    if as_json:
        terminal.json({"id": entry.id, "artifact": name, "prompt": prompt, "text": text})
    else:
        terminal.line(text)
