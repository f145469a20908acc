"""`zoo serve [ID...]`: an OpenAI-compatible API over stored artifacts, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import click

from zoo_cli.terminal import terminal


@click.command("serve")
@click.argument("ids", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs an API key.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free one; the URL is printed).")
@click.option("--api-key", envvar="ZOO_API_KEY", metavar="KEY",
              help="Require `Authorization: Bearer KEY` on every request (or set ZOO_API_KEY).")
@click.option("--memory", "memory_gb", type=click.FloatRange(min=0.1), metavar="GB",
              help="Memory the loaded models may take together (default: half this machine's RAM); the least "
              "recently used idle one is unloaded to make room.")
@click.option("--queue", "max_waiting", default=16, show_default=True, type=click.IntRange(1, 1024),
              help="Requests that may wait for one model; more are answered 503.")
def serve_command(ids: tuple[str, ...], host: str, port: int, api_key: str | None, memory_gb: float | None,
                  max_waiting: int) -> None:
    """Serve stored models over an OpenAI-compatible HTTP API (all runnable ones, or the IDs given).

    \b
    GET  /v1/models             the models served
    POST /v1/chat/completions   messages through the model's chat template (stream: true for events)
    POST /v1/completions        a prompt continued as it is
    Each model loads on its first request; requests for one model are answered one after another.
    """
    import signal

    from registry.child import machine_ram_bytes
    from registry.engines import EnginePool
    from registry.serving import listen, refuse_open_without_key, servables
    from zoo_cli.common import load_catalog
    from zoo_cli.store_commands import entry_for

    refuse_open_without_key(host, api_key)
    chosen = [entry_for(query)[1] for query in ids]
    catalog = load_catalog()
    served, environments = servables(catalog, chosen, terminal.message)
    budget = int(memory_gb * 1e9) if memory_gb else machine_ram_bytes() // 2
    pool = EnginePool(served, environments, budget, max_waiting)
    server = listen(host, port, pool, api_key, terminal.message)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background, which ignores it
    address = f"http://{_url_host(host)}:{server.server_address[1]}/v1"
    terminal.message(f"Serving {', '.join(served)} at {address} (Ctrl-C stops it).")
    terminal.line(address)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        terminal.message("Stopping: the engines are closed.")
    finally:
        server.server_close()
        pool.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
