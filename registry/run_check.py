"""Proving a stored artifact by running it: `zoo verify --run ID` and `zoo pull --run-check`.

The runtime plugin for the artifact's format (LiteRT-LM on CPU for .litertlm and .task) loads it
in its toolchain and generates a few greedy tokens from the manifest's test prompt. Nothing
generated, or a load error, is a failure with the runtime's own message. What ran, with which
runtime version, is recorded beside the store (ZOO_HOME/run-checks/ID.json), never inside the
content-addressed artifact.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from . import settings, toolchains
from .child import run_job
from .errors import BuildError, FormatCheckError, ZooError
from .fsutil import write_atomically


def record_path(entry_id: str) -> Path:
    return settings.get().home / "run-checks" / f"{entry_id}.json"


def run_check(catalog, store, entry, reporter_message=lambda text: None) -> dict:
    """Run `entry`'s main file in its runtime; returns what was recorded, raises FormatCheckError on failure."""
    fmt = entry.main.rsplit(".", 1)[-1]
    runtime = catalog.runtime_for(fmt)
    if runtime is None:
        raise ZooError(f"No loaded runtime runs .{fmt} files, so {entry.id} cannot be checked by running it.",
                       fix="Verify its structure with `zoo verify ID`; `zoo plugins` lists the loaded runtimes.")
    row = catalog.rows.get(catalog.variant_id_of(entry), {})
    prompt = str((row.get("expect") or {}).get("prompt") or "Hello")
    context = artifact_context(store, entry, default=int((row.get("inference") or {}).get("max_tokens") or 512))
    python, variables = toolchains.for_job(runtime, reporter_message)
    job = runtime.plan(store.artifact_dir(entry.id) / entry.main, prompt, runtime.check_tokens, context)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="zoo-run-check-") as work:
            result = run_job(python, job.runner, job.request, Path(work), what=f"the run check of {entry.id}", env=variables,
                             on_progress=reporter_message)
    except BuildError as exc:
        raise FormatCheckError(f"{entry.id} did not run in {runtime.name}: {exc.message}",
                               fix="The file is not loadable by its runtime: `zoo pull --repair ID`, or report it to its publisher.") from None
    text = str(result.data.get("text", ""))
    if not text.strip():
        raise FormatCheckError(f"{entry.id} loaded in {runtime.name} but generated nothing for {prompt!r}.",
                               fix="The file is broken or not a model for this runtime: report it to its publisher.")
    record = {"entry": entry.id, "runtime": runtime.name, "runtime_version": result.data.get("runtime_version"),
              "prompt": prompt, "text": text, "seconds": round(time.monotonic() - started, 3), "at": time.time(),
              "files": {f.path: f.sha256 for f in entry.files},
              "details": {k: v for k, v in result.data.items() if k not in ("text", "runtime_version")}}
    path = record_path(entry.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(record, indent=2))
    return record


def artifact_context(store, entry, *, default: int) -> int:
    """The context a stored artifact runs with: what its build recorded, else what a .litertlm says of
    itself, else `default` (zoo run, zoo verify --run and zoo bench all ask this one question)."""
    directory = store.artifact_dir(entry.id)
    try:
        recorded = json.loads((directory / "provenance.json").read_text()).get("context_length")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if isinstance(recorded, int) and recorded > 0:
        return recorded
    if entry.main.endswith(".litertlm"):
        from . import litertlm

        path = directory / entry.main
        try:
            found = litertlm.llm_metadata(path, litertlm.read(path)).get("max_num_tokens")
        except (litertlm.NotLiteRTLM, OSError):
            found = None
        if isinstance(found, int) and found > 0:
            return found
    return default
