"""Figures for zoo under faults and hostile input, in one table (the scenarios are tests/reliability_scenarios.py).

    python benchmarks/reliability.py

Each row is also a test in tests/test_reliability.py; this prints the numbers behind them.
"""

from __future__ import annotations

import copy
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import reliability_scenarios as scenarios  # noqa: E402


def fuzz_manifests(count: int = 2000, seed: int = 3) -> dict:
    from registry.errors import ManifestError
    from registry.manifest import parse_manifest
    from test_reliability import BASE

    rng = random.Random(seed)
    values = [None, True, 0, -1, 2**70, 1.5, float("nan"), "", "../x", "/abs", "a\\b", "x\x00", "A" * 300, [], {}, [1], {"k": 1}]
    rejected = accepted = tracebacks = 0
    for _ in range(count):
        data = copy.deepcopy(BASE)
        node, key = data, None
        while True:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if isinstance(node[key], (dict, list)) and node[key] and rng.random() < 0.6:
                node = node[key]
                continue
            break
        node[key] = rng.choice(values)
        try:
            parse_manifest(data, "fuzz.toml")
            accepted += 1
        except ManifestError:
            rejected += 1
        except Exception:  # noqa: BLE001 - exactly what is counted
            tracebacks += 1
    return {"manifests": count, "rejected_with_clear_errors": rejected, "accepted": accepted, "tracebacks": tracebacks}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for source in ("huggingface", "kaggle"):
            crash = scenarios.crash_resume(tmp / f"crash-{source}", points=20, source=source)
            rows.append((f"crash-resume ({source}): SIGKILL at 20 random points",
                         f"{crash['completed_correctly']}/20 completed with correct digests",
                         f"re-downloaded {crash['bytes_refetched'] / 1e6:.1f} MB vs minimum {crash['bytes_minimum'] / 1e6:.1f} MB "
                         f"({crash['bytes_refetched'] / crash['bytes_minimum']:.3f}x)"))
        flips = scenarios.corruption(tmp / "flips", flips=50)
        rows.append(("corruption: 50 single-bit flips", f"{flips['caught']}/50 caught, {flips['named_the_file']}/50 named the file",
                     f"{flips['repair_fetched_only_the_bad_file']}/50 repairs fetched only the bad file"))
        busy = scenarios.concurrency(tmp / "busy")
        rows.append(("concurrency: 8 pulls + 2 gc loops", f"{busy['pulls_succeeded']}/8 pulls succeeded, verify {'ok' if busy['verify_ok'] else 'FAILED'}",
                     f"{busy['gc_runs']} gc runs, at most {busy['max_downloads_per_file']} download per file"))
        fuzz = fuzz_manifests()
        rows.append(("hostile manifests: 2000 mutations", f"{fuzz['tracebacks']} tracebacks",
                     f"{fuzz['rejected_with_clear_errors']} rejected with key and fix, {fuzz['accepted']} valid"))
        for name, row in scenarios.hostile_servers(tmp / "hostile").items():
            rows.append((f"hostile server: {name}", "clear error, store empty" if row["failed_cleanly"] and row["store_empty"] else "FAILED",
                         f"{row['seconds']:.1f} s: {row['message'][:70]}"))
        try:
            disk = scenarios.disk_full_pull(tmp / "disk")
            rows.append(("full disk during pull (5 MB tmpfs)", "clear error" if disk["failed_cleanly"] and disk["says_disk"] else "FAILED",
                         f"{disk['partial_files_left']} partial files left, {disk['entries']} entries"))
        except PermissionError as exc:
            rows.append(("full disk during pull", "not measured", f"cannot mount a small file system: {exc}"))
        leaks = scenarios.secrets(tmp / "secrets")
        rows.append(("secrets: HF and Kaggle tokens", f"{leaks['token_occurrences']} occurrences",
                     f"in {leaks['outputs_scanned']} outputs and {leaks['files_scanned']} files under ZOO_HOME"))
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':{width}}  {'result':45}  detail")
    for name, result, detail in rows:
        print(f"{name:{width}}  {result:45}  {detail}")


if __name__ == "__main__":
    main()
