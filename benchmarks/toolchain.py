"""How fast a toolchain is created from its committed lock, against pip installing the same lock, in one run.

Target (issue 26): creating the litert-torch toolchain (4 GB, 104 packages) takes no longer than the
71 s the unpinned pip install took before the locks. zoo installs a lock with uv; the baseline is
pip itself, given the very same lock (`pip install --no-deps --require-hashes -r LOCK` in a fresh
venv), so both move the same files from the same indexes under your pip configuration. Each row is
one creation into an empty directory; "warm" runs again with the package caches filled.

    python benchmarks/toolchain.py [--toolchain litert-torch] [--cold]

`--cold` empties uv's and pip's caches first (both download everything).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def zoo_create(spec, root: Path) -> float:
    from registry import settings, toolchains

    os.environ["ZOO_TOOLCHAINS"] = str(root)
    settings.reload()
    started = time.monotonic()
    toolchains.ensure(spec)
    return time.monotonic() - started


def pip_create(lock: Path, root: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    subprocess.run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--require-hashes", "-r", str(lock)], check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toolchain", default="litert-torch")
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    from registry import toolchain_locks
    from registry.catalog import get_catalog

    spec = get_catalog().toolchains()[args.toolchain]
    lock = toolchain_locks.find(spec)
    if args.cold:
        for cache in (Path.home() / ".cache" / "uv", Path.home() / ".cache" / "pip"):
            shutil.rmtree(cache, ignore_errors=True)
    rows = []
    for run in ("first", "warm"):
        for name, create in (("zoo (uv, from the lock)", lambda root: zoo_create(spec, root)),
                             ("pip, the same lock", lambda root: pip_create(lock.path, root))):
            with tempfile.TemporaryDirectory(prefix="zoo-bench-toolchain-") as root:
                subprocess.run(["sync"])
                rows.append((name, run, create(Path(root))))
    baseline = {run: seconds for name, run, seconds in rows if name.startswith("pip")}
    print(f"{args.toolchain}: {len(lock.pins)} packages from {lock.path.name}")
    print(f"{'creator':26} {'run':6} {'seconds':>8} {'vs pip':>7}")
    for name, run, seconds in rows:
        print(f"{name:26} {run:6} {seconds:8.1f} {seconds / baseline[run]:6.2f}x")
    print("target: zoo's first run <= 71 s (the unpinned pip install before locks) and <= pip's")


if __name__ == "__main__":
    main()
