"""`zoo bench`: how fast a stored artifact runs on this machine, as its runtime measures it.

Users pick between int4 and int8, cpu and gpu variants by these numbers, so they come from the
runtime's own benchmark (LiteRT-LM's: load time, time to first token, prefill and decode tokens/s),
repeated, with the spread, and the job's peak RSS. Each result is kept beside the store
(ZOO_HOME/benchmarks/<id>.json) with the machine, the runtime and the versions it was measured with,
and `zoo info` shows the latest.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from . import __version__, settings, toolchains
from .child import machine_ram_bytes, run_job
from .errors import ZooError
from .fsutil import write_atomically
from .run_check import artifact_context

METRICS = ("load_seconds", "time_to_first_token_seconds", "prefill_tokens_per_second", "decode_tokens_per_second")
MAX_RUNS = 50


def record_path(entry_id: str) -> Path:
    return settings.get().home / "benchmarks" / f"{entry_id}.json"


def latest(entry_id: str) -> dict | None:
    """The last benchmark of an entry on this machine, or None."""
    try:
        data = json.loads(record_path(entry_id).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def bench(catalog, store, entry, *, runs: int = 5, prefill_tokens: int | None = None, decode_tokens: int | None = None,
          on_progress=None) -> dict:
    """Measure `entry`'s main file `runs` times in its runtime; returns (and keeps) the record."""
    if not 1 <= runs <= MAX_RUNS:
        raise ZooError(f"--runs {runs} is outside 1..{MAX_RUNS}.", fix="Pass --runs 5 (the default), or up to 50.")
    fmt = entry.main.rsplit(".", 1)[-1]
    runtime = catalog.runtime_for(fmt)
    if runtime is None or not runtime.supports_bench:
        raise ZooError(f"No loaded runtime benchmarks .{fmt} files, so zoo cannot measure {entry.id}.",
                       fix="`zoo bench` measures .litertlm and .task files with LiteRT-LM and gpu .bin files in MediaPipe's "
                       "Web runtime; `zoo run ID --prompt TEXT` runs the others.")
    context = artifact_context(store, entry, default=512)
    prefill = prefill_tokens or max(1, min(256, context // 2))
    decode = decode_tokens or max(1, min(128, context - prefill - 1))
    if prefill + decode > context:
        raise ZooError(f"--prefill {prefill} and --decode {decode} tokens do not fit {entry.id}'s context of {context}.",
                       fix=f"Ask for at most {context} tokens in all, e.g. --prefill {context // 2} --decode {context // 4}.")
    python, variables = toolchains.for_job(runtime, on_progress or (lambda text: None))
    job = runtime.plan_bench(store.artifact_dir(entry.id) / entry.main, runs, prefill, decode, context)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as work:
        result = run_job(python, job.runner, job.request, Path(work), what=job.what, env=variables, on_progress=on_progress)
    measured = [r for r in result.data.get("runs", []) if isinstance(r, dict)]
    if len(measured) != runs:
        raise ZooError(f"{runtime.name} reported {len(measured)} of the {runs} runs of {entry.id}.",
                       fix="Run `zoo bench` again; if it keeps happening, report it with the log it names.")
    record = {
        "entry": entry.id, "artifact": entry.main, "runtime": runtime.name,
        "runtime_version": result.data.get("runtime_version"), "zoo_version": __version__, "measured_at": time.time(),
        "machine": machine(), "runs": runs, "context": context, "prefill_tokens": prefill, "decode_tokens": decode,
        "peak_rss_bytes": result.peak_rss_bytes,
        "metrics": {name: summary([float(r[name]) for r in measured if isinstance(r.get(name), (int, float))])
                    for name in METRICS},
    }
    write_atomically(record_path(entry.id), json.dumps(record, indent=2))
    return record


def summary(values: list[float]) -> dict:
    """Median and spread of repeated measurements."""
    if not values:
        return {"median": None, "min": None, "max": None, "values": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def machine() -> dict:
    """What the numbers were measured on."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), None)
    except OSError:
        pass
    return {"system": platform.system(), "machine": platform.machine(), "cpu": model, "cpus": os.cpu_count(),
            "ram_bytes": machine_ram_bytes(), "python": platform.python_version()}
