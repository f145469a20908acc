"""`zoo web ID`: try a stored model in the browser, on a page served from 127.0.0.1 by its runtime."""

from __future__ import annotations

import re

import click

from zoo_cli.terminal import terminal

_URL = re.compile(r"http://127\.0\.0\.1:\d+/\S+")


@click.command("web")
@click.argument("query")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="any free port",
              help="The port on 127.0.0.1 to serve on.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in your default browser.")
def web_command(query: str, port: int, open_page: bool) -> None:
    """Serve a chat page for a stored web-capable model (a gpu .bin) and print its URL; Ctrl-C stops it.

    The page runs MediaPipe's LLM Inference API for the Web in your browser on WebGPU: prompt box,
    streamed tokens, the manifest's generation defaults as controls, load time and tokens/s. The
    server listens on 127.0.0.1 only, under a random path, and serves nothing but that model and
    the runtime's files.
    """
    import tempfile
    import webbrowser
    from pathlib import Path

    from registry import toolchains
    from registry.child import run_job
    from registry.errors import ZooError
    from zoo_cli.common import load_catalog
    from zoo_cli.store_commands import entry_for

    store, entry = entry_for(query)
    catalog = load_catalog()
    row = catalog.rows.get(catalog.variant_id_of(entry), {})
    platforms = row.get("platforms") or []
    if platforms and ("web" not in platforms or row.get("backend") != "gpu"):
        raise ZooError(f"{entry.id} is built for {', '.join(platforms)} ({row.get('backend')} backend), not for the Web: "
                       "MediaPipe's Web runtime runs gpu variants that list the web platform.",
                       fix="`zoo list --platform web` lists them; pull or build one of those.")
    runtime = catalog.runtime_for(entry.main.rsplit(".", 1)[-1])
    if runtime is None or not runtime.serves_page:
        raise ZooError(f"No loaded runtime serves a page for {entry.main}.",
                       fix="`zoo web` serves gpu .bin files with MediaPipe's Web runtime; `zoo run ID --prompt TEXT` runs the others.")
    python, variables = toolchains.for_job(runtime, terminal.message)
    inference = row.get("inference") or {}
    defaults = {"max_tokens": inference.get("max_tokens", 512), "top_k": inference.get("top_k", 40),
                "temperature": inference.get("temperature", 0.8), "seed": inference.get("random_seed", 0)}
    prompt = str((row.get("expect") or {}).get("prompt") or "")
    job = runtime.plan_page(store.artifact_dir(entry.id) / entry.main, entry.id, prompt, defaults, port)

    def on_progress(message: str) -> None:
        found = _URL.search(message)
        if found is None:
            terminal.message(message)
            return
        terminal.print(found.group(0), markup=False)  # stdout: the one line a script reads
        terminal.message(f"Serving {entry.id} on this machine only; open the URL above in a browser with WebGPU. Ctrl-C stops.")
        if open_page:
            webbrowser.open(found.group(0))

    try:
        with tempfile.TemporaryDirectory(prefix="zoo-web-") as work:
            run_job(python, job.runner, job.request, Path(work), what=job.what, env=variables, on_progress=on_progress)
    except KeyboardInterrupt:
        terminal.message("Stopped.")
