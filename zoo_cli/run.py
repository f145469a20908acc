"""`zoo run ID --prompt TEXT`: generate text with a stored artifact, through a runtime plugin."""

from __future__ import annotations

import click

from zoo_cli.terminal import terminal


@click.command("run")
@click.argument("query")
@click.option("--prompt", help="The text to continue (with --chat: one message, then exit).")
@click.option("--chat", is_flag=True, help="Chat through the artifact's own chat template and sampler defaults; "
              "without --prompt, one message per line of input until end of input (Ctrl-D).")
@click.option("--max-tokens", type=int, default=16, show_default=True, help="How many tokens to generate (greedy).")
@click.option("--runtime", "runtime_name", metavar="NAME", help="Run with this runtime (`zoo plugins` lists them); "
              "default: the first that runs the artifact's format.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def run_command(query: str, prompt: str | None, chat: bool, max_tokens: int, runtime_name: str | None, as_json: bool) -> None:
    """Generate from a stored artifact (e.g. .task or .litertlm with LiteRT-LM on CPU), or chat with it.

    Prints the continuation alone, for every runtime: a tokenizer that decodes only the new tokens
    drops the space that joined them to the prompt, so prompt + text read "once uponvery".
    """
    from registry import toolchains
    from registry.errors import ZooError
    from registry.run_check import artifact_context
    from zoo_cli.common import load_catalog
    from zoo_cli.store_commands import entry_for

    if prompt is None and not chat:
        raise ZooError("zoo run needs --prompt TEXT, or --chat to talk with the model.",
                       fix=f"Run `zoo run {query} --prompt \"Once upon a time\"` or `zoo run {query} --chat`.")
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
        if runtime is not None and (runtime.supports_chat or not chat):
            break
    else:
        if chat:
            raise ZooError(f"No loaded runtime can chat with {entry.id} ({', '.join(f.path for f in entry.files)}).",
                           fix=f"Use `zoo run {query} --prompt TEXT`; LiteRT-LM chats with .litertlm and .task files.")
        raise ZooError(
            f"No loaded runtime can run {entry.id} ({', '.join(f.path for f in entry.files)}).",
            fix="`zoo plugins` lists the loaded runtimes: LiteRT-LM runs .task and .litertlm files, MediaPipe's Web runtime "
            "gpu .bin files; other formats run on the device.",
        )
    context = artifact_context(store, entry, default=64)
    # A runtime without a toolchain runs its job with zoo's own interpreter.
    python, variables = toolchains.for_job(runtime, terminal.message)
    if chat:
        _chat(runtime, python, variables, directory / name, prompt, max_tokens, context, as_json, entry.id)
        return
    job = runtime.plan(directory / name, prompt, max_tokens, context)
    result = _run_job(runtime, python, variables, job, "zoo-run-", on_progress=None if as_json else terminal.message)
    text = result.data.get("text", "")
    if as_json:
        terminal.json({"id": entry.id, "artifact": name, "prompt": prompt, "text": text})
    else:
        terminal.line(text)


def _chat(runtime, python, variables, artifact, prompt, max_tokens, context, as_json, entry_id) -> None:
    """One conversation in one child: zoo reads each message from its input (a "> " cue on a terminal)
    and prints each reply as it comes; --json prints the turns at the end instead."""
    import sys

    interactive = sys.stdin.isatty() and prompt is None
    turns: list[dict] = []

    def next_turn():
        if interactive:
            terminal.err.print("> ", end="", markup=False)
        line = sys.stdin.readline()
        if not line:
            return None
        turns.append({"user": line.rstrip("\n")})
        return line.rstrip("\n")

    def on_text(chunk: str) -> None:
        if prompt is not None and not turns:
            turns.append({"user": prompt})
        turns[-1]["reply"] = turns[-1].get("reply", "") + chunk.rstrip("\n")
        if not as_json:
            terminal.stream(chunk)

    job = runtime.plan_chat(artifact, max_tokens, context, prompt)
    _run_job(runtime, python, variables, job, "zoo-chat-", on_text=on_text, next_turn=next_turn)
    if as_json:
        terminal.json({"id": entry_id, "artifact": artifact.name, "turns": [t for t in turns if "reply" in t]})


def _run_job(runtime, python, variables, job, prefix: str, **callbacks):
    """The job in its child, in a work folder of its own: handed to the runner this zoo started
    early when that is the one the job needs, and remembered for the next run when the runtime
    starts early (registry/warm_start.py)."""
    import tempfile
    from pathlib import Path

    from registry import warm_start
    from registry.child import run_job

    early = warm_start.take(python, job.runner, variables)
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        result = run_job(python, job.runner, job.request, Path(work), what=job.what, env=variables, early=early,
                         **callbacks)
    if runtime.starts_early:
        warm_start.remember(python, job.runner, variables)
    return result
