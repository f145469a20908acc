"""Figures for zoo under faults and hostile input, in one table (the scenarios are tests/scenarios/, a module per class).

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

from scenarios import hostile, transfers, trust  # noqa: E402
from scenarios import trust_round3 as round3  # noqa: E402


def fuzz_manifests(count: int = 2000, seed: int = 3) -> dict:
    from registry.errors import ManifestError
    from registry.manifest import parse_manifest
    from helpers import FUZZ_MANIFEST as BASE

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


def hostile_files(count: int = 1000, seed: int = 13) -> dict:
    """Random truncations, bit flips and oversized fields on a valid file of each format; and four bombs."""
    import json as _json
    import subprocess

    import test_hostile_files as hostile
    from registry.catalog import Catalog

    catalog = Catalog.load()
    rng = random.Random(seed)
    exceptions = findings = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for _ in range(count):
            fmt = rng.choice(sorted(hostile.SAMPLES))
            kind = rng.choice(["truncate", "flip", "huge"])
            mutation = {"truncate": ("truncate", rng.random()),
                        "flip": ("flip", [(rng.random(), rng.randrange(8)) for _ in range(rng.randint(1, 8))]),
                        "huge": ("huge", rng.random(), rng.choice([b"\xff" * 4, b"\xff" * 8, b"\x00\x00\x00\x80"]))}[kind]
            try:
                findings += bool(hostile._run_checks(catalog, fmt, hostile._mutate(hostile.SAMPLES[fmt][0], mutation), tmp))
            except Exception:  # noqa: BLE001 - exactly what is counted
                exceptions += 1
        growth = {}
        for name, make, check, variant in [("metadata", hostile._metadata_bomb, "mediapipe-metadata", "gemma-2b-it-gpu-int4"),
                                           ("zip", hostile._zip_bomb, "task-bundle", "zoo-demo-cpu-int8"),
                                           ("names", hostile._names_bomb, "tflite-flatbuffer", "gpt2-cpu-int8"),
                                           ("litertlm", hostile._litertlm_bomb, "litertlm-bundle", "-")]:
            path = tmp / f"bomb-{name}"
            path.write_bytes(make())
            out = subprocess.run([sys.executable, "-c", hostile.BOMB_CHECK, str(path), check, variant], capture_output=True,
                                 text=True, cwd=REPO, check=True).stdout
            growth[name] = _json.loads(out)["grew_kb"] / 1024
    return {"mutations": count, "exceptions": exceptions, "with_findings": findings, "bomb_growth_mb": growth}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for source in ("huggingface", "kaggle"):
            crash = transfers.crash_resume(tmp / f"crash-{source}", points=20, source=source)
            rows.append((f"crash-resume ({source}): SIGKILL at 20 random points",
                         f"{crash['completed_correctly']}/20 completed with correct digests",
                         f"re-downloaded {crash['bytes_refetched'] / 1e6:.1f} MB vs minimum {crash['bytes_minimum'] / 1e6:.1f} MB "
                         f"({crash['bytes_refetched'] / crash['bytes_minimum']:.3f}x)"))
        flips = transfers.corruption(tmp / "flips", flips=50)
        rows.append(("corruption: 50 single-bit flips", f"{flips['caught']}/50 caught, {flips['named_the_file']}/50 named the file",
                     f"{flips['repair_fetched_only_the_bad_file']}/50 repairs fetched only the bad file"))
        busy = transfers.concurrency(tmp / "busy")
        rows.append(("concurrency: 8 pulls + 2 gc loops", f"{busy['pulls_succeeded']}/8 pulls succeeded, verify {'ok' if busy['verify_ok'] else 'FAILED'}",
                     f"{busy['gc_runs']} gc runs, at most {busy['max_downloads_per_file']} download per file"))
        fuzz = fuzz_manifests()
        rows.append(("hostile manifests: 2000 mutations", f"{fuzz['tracebacks']} tracebacks",
                     f"{fuzz['rejected_with_clear_errors']} rejected with key and fix, {fuzz['accepted']} valid"))
        for name, row in hostile.hostile_servers(tmp / "hostile").items():
            rows.append((f"hostile server: {name}", "clear error, store empty" if row["failed_cleanly"] and row["store_empty"] else "FAILED",
                         f"{row['seconds']:.1f} s: {row['message'][:70]}"))
        try:
            disk = hostile.disk_full_pull(tmp / "disk")
            rows.append(("full disk during pull (5 MB tmpfs)", "clear error" if disk["failed_cleanly"] and disk["says_disk"] else "FAILED",
                         f"{disk['partial_files_left']} partial files left, {disk['entries']} entries"))
        except PermissionError as exc:
            rows.append(("full disk during pull", "not measured", f"cannot mount a small file system: {exc}"))
        classes = trust.trust_classes(tmp / "trust")
        for name, row in classes.items():
            if name.endswith(", unmended") and not row["why"]:
                continue
            rows.append((f"trust: {name}", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in row.items()), ""))
        for name, row in trust.trust_plugins_and_text(tmp / "trust-text").items():
            rows.append((f"trust: {name}", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in row.items()), ""))
        confusion = trust.url_confusion(tmp / "urls")
        rows.append((f"trust: {confusion['forms']} redirect URL-confusion forms", f"{confusion['tokens_to_other_origin']} tokens to another origin",
                     f"{confusion['refused']} refused"))
        files = hostile_files()
        rows.append((f"trust: {files['mutations']} hostile .bin/.tflite/.task/.litertlm", f"{files['exceptions']} exceptions",
                     f"{files['with_findings']} with findings; bombs grew RSS by at most {max(files['bomb_growth_mb'].values()):.0f} MB"))
        garbage = hostile.garbage_hub(tmp / "garbage", cases=300)
        rows.append(("trust: 300 pulls from a hub answering garbage", f"{len(garbage['internal_errors'])} internal errors",
                     f"{garbage['stored_after_failure']} stored anything, {garbage['succeeded']} succeeded, {garbage['seconds']:.0f} s"))
        for name, row in round3.all_counts(tmp / "round3").items():
            rows.append((f"trust: {name}", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in row.items()), ""))
        leaks = hostile.secrets(tmp / "secrets")
        rows.append(("secrets: HF and Kaggle tokens", f"{leaks['token_occurrences']} occurrences",
                     f"in {leaks['outputs_scanned']} outputs and {leaks['files_scanned']} files under ZOO_HOME"))
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':{width}}  {'result':45}  detail")
    for name, result, detail in rows:
        print(f"{name:{width}}  {result:45}  {detail}")


if __name__ == "__main__":
    main()
