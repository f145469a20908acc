"""What `zoo serve` serves and where it listens: the stored artifacts a runtime can serve, their
toolchains ready before the first request, and a listening socket that is loopback unless a key
guards it."""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Callable

from . import toolchains
from .engines import EnginePool, Servable
from .errors import UsageError, ZooError
from .openai_api import ApiServer
from .run_check import artifact_context
from .store import default_store


def servables(catalog, chosen: list | None, say: Callable[[str], None]) -> tuple[dict[str, Servable], dict]:
    """The artifacts to serve (the entries chosen, or every stored one a loaded runtime serves) and the
    interpreter and variables of each runtime's toolchain, created now when missing."""
    store = default_store()
    entries = chosen if chosen else [e for e in store.entries() if e.kind != "inputs"]
    served: dict[str, Servable] = {}
    for entry in entries:
        servable = _servable(catalog, store, entry)
        if servable is not None:
            served[entry.id] = servable
        elif chosen:
            raise ZooError(f"No loaded runtime serves {entry.id} ({', '.join(f.path for f in entry.files)}).",
                           fix="LiteRT-LM serves .litertlm and .task files; `zoo run ID --prompt TEXT` runs the others.")
    if not served:
        raise ZooError("The store holds nothing zoo can serve.",
                       fix="Build or pull a .litertlm or .task first, e.g. `zoo build zoo-demo`, then run `zoo serve`.")
    environments = {}
    for servable in served.values():
        runtime = servable.runtime
        if runtime.name not in environments:
            environments[runtime.name] = toolchains.for_job(runtime, say)
    return served, environments


def _servable(catalog, store, entry) -> Servable | None:
    """The entry's first file (its main one first) that a loaded runtime serves."""
    names = [entry.main] + [f.path for f in entry.files if f.path != entry.main]
    for name in names:
        fmt = catalog.format_of(name)
        runtime = catalog.runtime_for(fmt) if fmt else None
        if runtime is not None and runtime.supports_serve:
            path = store.artifact_dir(entry.id) / name
            return Servable(entry.id, path, runtime, artifact_context(store, entry, default=512),
                            int(entry.created_at or time.time()))
    return None


def refuse_open_without_key(host: str, api_key: str | None) -> None:
    """Anything but a loopback address reaches other machines: only with a key."""
    if api_key or _loopback(host):
        return
    raise UsageError(f"zoo serve would listen on {host}, where other machines reach it, without an API key.",
                     fix="Pass --api-key KEY (or set ZOO_API_KEY) so every request must carry it, or listen on "
                     "127.0.0.1 (the default).")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int, pool: EnginePool, api_key: str | None, on_request: Callable[[str], None]) -> ApiServer:
    models = [{"id": s.id, "object": "model", "created": s.created, "owned_by": "zoo"} for s in pool.servables.values()]
    try:
        return ApiServer((host, port), pool, models, api_key, on_request)
    except OSError as exc:
        taken = exc.errno in (98, 48) or isinstance(exc, socket.gaierror) is False and "in use" in str(exc)
        raise ZooError(f"zoo serve cannot listen on {host}:{port} ({exc.strerror or exc}).",
                       fix="Pick another --port (0 takes any free one)." if taken else
                       "Check --host: it must be an address of this machine.") from None
