"""How fast `zoo list` starts, with 20 extra plugins installed, against two baselines in one run.

Targets (issue 3): `zoo list` <= 0.35x of `hf --help` (the Hugging Face CLI), and <= 1.6x of the bare
import of zoo's own light dependencies (pydantic, pluggy, rich.console, tomllib, click): what zoo
does on top of its imports must stay small.

    python benchmarks/startup.py [--runs 15] [--plugins 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MANIFEST = """
schema_version = 1
family = "bench{i}"
description = "Benchmark family {i}."

[[models]]
name = "bench{i}-lm"
description = "A model."
platforms = ["android", "ios"]
source = {{ kind = "huggingface", repo = "bench/lm{i}" }}
files = [{{ path = "model.safetensors", role = "weights" }}, {{ path = "tokenizer.json", role = "tokenizer" }}]
recipe = {{ converter = "mediapipe", params = {{ model_type = "PHI_2" }} }}
license = {{ name = "MIT", spdx = "MIT", url = "https://opensource.org/license/mit" }}

[[models.variants]]
id = "bench{i}-lm-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "bin"

[[models.variants]]
id = "bench{i}-lm-gpu-int4"
backend = "gpu"
quantization = "int4"
format = "bin"
"""


def install_fake_plugins(site: Path, count: int) -> None:
    """Lay out `count` installed distributions exactly as pip leaves them (dist-info + module)."""
    for i in range(count):
        module = site / f"zoo_bench{i}"
        module.mkdir(parents=True)
        (module / "family.toml").write_text(MANIFEST.format(i=i))
        (module / "__init__.py").write_text(
            textwrap.dedent(
                """
                from pathlib import Path
                from registry.hookspecs import hookimpl

                @hookimpl
                def register_families(register):
                    register(Path(__file__).parent / "family.toml")
                """
            )
        )
        info = site / f"zoo_bench{i}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-bench{i}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[zoo]\nbench{i} = zoo_bench{i}\n")


def median_seconds(cmd: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm caches and the snapshot
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plugins", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        install_fake_plugins(site, args.plugins)
        env = dict(os.environ, PYTHONPATH=str(site), ZOO_HOME=str(Path(tmp) / "home"))
        env.pop("ZOO_DISABLE_PLUGIN_AUTOLOAD", None)
        env.pop("ZOO_LOAD_PLUGINS", None)
        listed = subprocess.run([sys.executable, "-m", "zoo_cli", "list", "--json"], env=env, capture_output=True, text=True, check=True)
        assert listed.stdout.count('"bench') >= 2 * args.plugins, "the extra plugins did not load"
        zoo = shutil.which("zoo") or ""
        zoo_cmd = [zoo, "list"] if zoo else [sys.executable, "-m", "zoo_cli", "list"]
        rows = [("zoo list (20 extra plugins)", median_seconds(zoo_cmd, env, args.runs))]
        rows.append(
            ("bare light imports", median_seconds([sys.executable, "-c", "import pydantic, pluggy, rich.console, tomllib, click"], env, args.runs))
        )
        hf = shutil.which("hf")
        if hf:
            rows.append(("hf --help", median_seconds([hf, "--help"], env, args.runs)))
        cold_env = dict(env, ZOO_NO_CACHE="1")
        rows.append(("zoo list, no caches", median_seconds(zoo_cmd, cold_env, args.runs)))
    zoo_time = rows[0][1]
    print(f"{'command':32} {'median s':>9} {'zoo / this':>11}  target")
    targets = {"bare light imports": "zoo <= 1.6x", "hf --help": "zoo <= 0.35x"}
    for name, seconds in rows:
        print(f"{name:32} {seconds:9.3f} {zoo_time / seconds:11.2f}  {targets.get(name, '')}")


if __name__ == "__main__":
    main()
