"""Transfers under faults: crash and resume, corruption and repair, concurrency."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from registry.testing.hubs import Fault
from scenarios.world import MIB, VARIANT_FILES, sizes, world

# ---------------------------------------------------------------------------- 1. crash and resume


def crash_resume(root: Path, points: int = 20, seed: int = 7, source: str = "huggingface") -> dict:
    """SIGKILL `zoo pull` at random points across a multi-file variant, then run it again.

    `source` is "huggingface" or "kaggle": the same files, from either local hub.
    """
    rng = random.Random(seed)
    lfs = ["model.tflite", "extra-a.safetensors", "extra-b.safetensors"]
    variant = "rel-cpu-fp32" if source == "huggingface" else "relk-cpu-fp32"
    rows = []
    with world(root) as w:
        hub = w.hub if source == "huggingface" else w.kaggle
        total = sum(len(w.files[n]) for n in VARIANT_FILES[variant])
        for _ in range(points):
            w.fresh_home()
            name = rng.choice(lfs)
            cut = rng.randint(1, len(w.files[name]) // MIB - 1) * MIB
            hub.add_fault(w.digest(name) if source == "huggingface" else name, Fault(pause_after=cut, pause_seconds=30))
            child = w.popen("pull", variant, "-q")
            partials = w.home / "store" / "partials"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if any(size >= cut for size in sizes(partials, "*.part")):
                    break
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
            child.wait()
            hub.faults.clear()
            # What the killed pull kept: partial downloads, and files it had verified into the store.
            on_disk = sum(sizes(partials, "*")) + sum(sizes(w.home / "store" / "blobs" / "sha256", "*"))
            before = len(hub.requests)
            rerun = w.zoo("pull", variant, "--json")
            fetched = w.served_bytes(before, hub)
            rows.append({"file": name, "cut_at": cut, "on_disk": on_disk, "refetched": fetched, "minimum": total - on_disk,
                         "ok": rerun.returncode == 0 and w.stored_ok(variant)})
    return {
        "runs": len(rows),
        "completed_correctly": sum(r["ok"] for r in rows),
        "bytes_refetched": sum(r["refetched"] for r in rows),
        "bytes_minimum": sum(r["minimum"] for r in rows),
        "rows": rows,
    }


# ---------------------------------------------------------------------------- 2. corruption and repair


def corruption(root: Path, flips: int = 50, seed: int = 11) -> dict:
    """Flip single bits at random offsets in stored files; verify must catch each, repair must refetch only it."""
    from registry.store import Store
    from registry.verify import verify_entries

    rng = random.Random(seed)
    caught = named = repaired_only_bad = 0
    with world(root) as w:
        assert w.zoo("pull", "rel-cpu-fp32", "-q").returncode == 0
        store = Store(w.home / "store")
        for _ in range(flips):
            name = rng.choice(VARIANT_FILES["rel-cpu-fp32"])
            blob = store.blob_path(w.digest(name))
            offset = rng.randrange(blob.stat().st_size)
            os.chmod(blob, 0o644)
            with open(blob, "r+b") as fh:
                fh.seek(offset)
                byte = fh.read(1)[0]
                fh.seek(offset)
                fh.write(bytes([byte ^ (1 << rng.randrange(8))]))
            os.chmod(blob, 0o444)
            [report] = verify_entries(store, [store.entry("rel-cpu-fp32")])
            bad = [f.path for f in report.files if not f.ok]
            caught += not report.ok
            named += bad == [name]
            before = len(w.hub.requests)
            w.zoo("pull", "--repair", "rel-cpu-fp32", "-q")
            refetched = {r.path for r in w.hub.requests[before:] if r.method == "GET"}
            resolved = {n for n in w.files if any(p.endswith("/" + n) or p.endswith(w.digest(n)) for p in refetched)}
            repaired_only_bad += resolved == {name} and w.stored_ok("rel-cpu-fp32")
    return {"flips": flips, "caught": caught, "named_the_file": named, "repair_fetched_only_the_bad_file": repaired_only_bad}


# ---------------------------------------------------------------------------- 3. concurrency


def concurrency(root: Path, pullers: int = 8, collectors: int = 2) -> dict:
    """Pull two variants that share files from many processes while others run gc in a loop."""
    with world(root) as w:
        variants = ["rel-cpu-fp32", "rel-cpu-int8"]
        pulls = [w.popen("pull", variants[i % 2], "-q") for i in range(pullers)]
        stop = time.monotonic() + 60
        gc_runs = 0
        gcs = [w.popen("gc") for _ in range(collectors)]
        gc_errors = []
        while any(p.poll() is None for p in pulls) and time.monotonic() < stop:
            for i, g in enumerate(gcs):
                if g.poll() is not None:
                    gc_runs += 1
                    if g.returncode != 0:
                        gc_errors.append(g.stderr.read().strip()[:300])
                    gcs[i] = w.popen("gc")
            time.sleep(0.01)
        outcomes = [p.communicate(timeout=60) + (p.returncode,) for p in pulls]
        for g in gcs:
            _, err = g.communicate(timeout=60)
            if g.returncode != 0:
                gc_errors.append(err.strip()[:300])
        codes = [code for _, _, code in outcomes]
        verify = w.zoo("verify", "--full")
        downloads = {}
        for name in w.files:
            downloads[name] = sum(1 for r in w.hub.requests if r.method == "GET"
                                  and (r.path.endswith("/" + name) or r.path.endswith(w.digest(name))))
    return {
        "pulls": pullers,
        "pulls_succeeded": codes.count(0),
        "gc_runs": gc_runs + collectors,
        "verify_ok": verify.returncode == 0 and all(w.stored_ok(v) for v in variants),
        "max_downloads_per_file": max(downloads.values()),
        "downloads": downloads,
        "pull_errors": [err.strip()[:300] for _, err, code in outcomes if code != 0],
        "gc_errors": gc_errors,
    }
