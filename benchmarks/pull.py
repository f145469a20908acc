"""Pull throughput, first and repeat `zoo verify`, and store deduplication, against baselines in one run.

Targets (issues 4 and 18):
  * `zoo pull` of a >= 1 GB file from the local Hugging Face hub, and from the local Kaggle hub (kagglehub
    resolves, zoo moves the bytes), each >= 0.9x curl fetching the same file from the same server;
  * the same pull from a server that caps each connection (a token bucket, --capped-mib-s) >= aria2c -x8 -s8
    on that server (Debian package `aria2`); zoo on its default 16 connections, and on 8 for comparison;
  * first `zoo verify` of a 2 GB artifact >= 0.9x `openssl dgst -sha256` of the same file;
    a repeat verify of an unchanged artifact < 50 ms (answered from fingerprints);
  * bytes on disk / unique bytes after pulling two variants that share files = 1.00.

The hub serves the big file with sendfile, so the server is not the bottleneck (curl shows it).
The pulled variant holds just that file, so both tools fetch the same bytes. zoo runs as
installed: its home's caches are warm while its store holds nothing of the variant (a second row
shows the very first command in a new ZOO_HOME). Each command starts after os.sync(), one untimed
round warms both up, and the table shows medians, the spread below it. On a cloud disk the
figures swing by 2x from run to run (burst credits, online discard of the files just deleted);
ZOO_BENCH_DIR=/dev/shm measures the same on tmpfs, where only the CPU counts. On two cores the
server, zoo's receiving thread and its hashing thread share them, and a run is 30% slower when
the server lands on the hashing thread's core, so use 9 runs or more.

    python benchmarks/pull.py [--size-mb 1024] [--verify-mb 2048] [--runs 9] [--capped-mib-s 32] [--only-pull]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.testing.hubs import HuggingFaceHub, KaggleHub  # noqa: E402
from registry.testing.plugins import write_plugin_distribution  # noqa: E402
from registry.testing.tflite_builder import build_tflite  # noqa: E402

MANIFEST = """
schema_version = 1
family = "bench"
description = "Benchmark family."

[[models]]
name = "big"
description = "A big file."
platforms = ["android"]
source = {{ kind = "huggingface", repo = "bench/big" }}
license = {{ name = "MIT", url = "https://opensource.org/license/mit" }}

[[models.variants]]
id = "big-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [{{ path = "model.tflite", role = "weights", sha256 = "{big_sha}", size = {big_size} }}]
outputs = [{{ path = "model.tflite", checks = ["tflite-flatbuffer"] }}]

[[models]]
name = "kbig"
description = "The same big file on Kaggle."
platforms = ["android"]
source = {{ kind = "kaggle", handle = "bench/big/tfLite/big" }}
license = {{ name = "MIT", url = "https://opensource.org/license/mit" }}

[[models.variants]]
id = "kbig-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [{{ path = "model.tflite", role = "weights", sha256 = "{big_sha}", size = {big_size} }}]
outputs = [{{ path = "model.tflite", checks = ["tflite-flatbuffer"] }}]

[[models]]
name = "small"
description = "Files shared by two variants."
platforms = ["android"]
source = {{ kind = "huggingface", repo = "bench/big" }}
license = {{ name = "MIT", url = "https://opensource.org/license/mit" }}

[[models.variants]]
id = "small-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [{{ path = "small.tflite", role = "weights" }}, {{ path = "shared.model", role = "tokenizer" }}]
outputs = [{{ path = "small.tflite", checks = ["tflite-flatbuffer"] }}]

[[models.variants]]
id = "small-gpu-int8"
backend = "gpu"
quantization = "int8"
format = "tflite"
files = [{{ path = "small.tflite", role = "weights" }}, {{ path = "shared.model", role = "tokenizer" }}]
outputs = [{{ path = "small.tflite", checks = ["tflite-flatbuffer"] }}]

[[models.variants]]
id = "verify-cpu-fp16"
backend = "cpu"
quantization = "fp16"
format = "tflite"
files = [{{ path = "verify.tflite", role = "weights" }}]
outputs = [{{ path = "verify.tflite", checks = ["tflite-flatbuffer"] }}]
"""


def make_file(path: Path, size: int) -> str:
    """A TFLite header followed by pseudo-random bytes (incompressible), and its sha256."""
    header = build_tflite(tensor_names=["w"])
    block = hashlib.sha256(path.name.encode()).digest() * (1 << 15)  # 1 MiB pattern seed
    h = hashlib.sha256()
    with open(path, "wb") as out:
        out.write(header)
        h.update(header)
        written, counter = len(header), 0
        while written < size:
            chunk = hashlib.sha256(counter.to_bytes(8, "little")).digest() + block[32:]
            chunk = chunk[: size - written]
            out.write(chunk)
            h.update(chunk)
            written += len(chunk)
            counter += 1
    return h.hexdigest()


def timed(cmd: list[str], env: dict[str, str]) -> float:
    # Every command starts with nothing left to write back: otherwise the gigabyte curl leaves
    # dirty (it never fsyncs) is flushed during, and charged to, the zoo run that follows it.
    os.sync()
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def _spread(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in sorted(times)) or "-"


def _table(rows) -> None:
    print(f"{'measure':44} {'seconds':>9} {'GB/s':>7} {'zoo vs':>8}  target")
    for name, seconds, rate, ratio, target in rows:
        print(f"{name:44} {seconds:9.3f} {rate:7.2f} {ratio:>8}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--verify-mb", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--capped-mib-s", type=int, default=32, help="per-connection cap of the capped server (MiB/s)")
    parser.add_argument("--capped-runs", type=int, default=3)
    parser.add_argument("--only-pull", action="store_true", help="skip the verify and dedupe rows")
    args = parser.parse_args()
    curl = shutil.which("curl")
    aria2c = shutil.which("aria2c")
    openssl = shutil.which("openssl")
    # zoo as pip installs it, with its modules compiled to bytecode: under PYTHONDONTWRITEBYTECODE
    # (set on some machines) a source checkout would otherwise compile them again in every run.
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "registry", "zoo_cli", "plugins"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(dir=os.environ.get("ZOO_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        big = tmp / "model.tflite"
        big_sha = make_file(big, args.size_mb << 20)
        verify_file = tmp / "verify.tflite"
        make_file(verify_file, args.verify_mb << 20)
        small = tmp / "small.tflite"
        make_file(small, 8 << 20)
        shared = tmp / "shared.model"
        make_file(shared, 4 << 20)
        with HuggingFaceHub() as hub, KaggleHub() as kaggle, HuggingFaceHub() as capped:
            capped.rate_per_connection = args.capped_mib_s << 20
            capped.add_repo("bench/big", {"model.tflite": big})
            kaggle.add_model("bench/big/tfLite/big", {"model.tflite": big})
            hub.add_repo("bench/big", {"model.tflite": big, "shared.model": shared, "small.tflite": small, "verify.tflite": verify_file})
            site = tmp / "site"
            write_plugin_distribution(site, "zoo-bench", "zoo_bench", manifest=MANIFEST.format(big_sha=big_sha, big_size=big.stat().st_size))
            base_env = dict(os.environ, PYTHONPATH=str(site), ZOO_LOAD_PLUGINS="zoo_bench", HF_ENDPOINT=hub.endpoint,
                            HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", ZOO_KAGGLE_ENDPOINT=kaggle.endpoint)
            cdn_url = f"{hub.url('cdn')}/lfs/{big_sha}"
            kaggle_url = f"{kaggle.endpoint}/download/bench%2Fbig%2Ftflite%2Fbig/1/model.tflite"  # where the RPC redirects
            rows = []
            curl_times, zoo_times, cold_times = [], [], []
            kaggle_curl_times, kaggle_zoo_times = [], []
            kaggle_env = dict(base_env, ZOO_HOME=str(tmp / "home-kaggle"))
            pull = [sys.executable, "-m", "zoo_cli", "pull", "big-cpu-fp32", "-q"]
            warm_env = dict(base_env, ZOO_HOME=str(tmp / "home-pull"))
            for run in range(-1, args.runs):  # run -1 warms the page cache and the allocator up for both, untimed
                if curl:
                    curl_times.append(timed([curl, "-sS", "-o", str(tmp / "curl.out"), cdn_url], base_env))
                    (tmp / "curl.out").unlink()
                # As installed: the home's caches (entry points, validated manifests) are warm from
                # the runs before, and `rm` + `gc` left nothing of the variant, so every byte is fetched.
                zoo_times.append(timed(pull, warm_env))
                for command in (["rm", "big-cpu-fp32"], ["gc"]):
                    subprocess.run([sys.executable, "-m", "zoo_cli", *command], env=warm_env, check=True, capture_output=True)
                if curl:
                    kaggle_curl_times.append(timed([curl, "-sS", "-o", str(tmp / "curl.out"), kaggle_url], base_env))
                    (tmp / "curl.out").unlink()
                kaggle_zoo_times.append(timed([sys.executable, "-m", "zoo_cli", "pull", "kbig-cpu-fp32", "-q"], kaggle_env))
                for command in (["rm", "kbig-cpu-fp32"], ["gc"]):
                    subprocess.run([sys.executable, "-m", "zoo_cli", *command], env=kaggle_env, check=True, capture_output=True)
                home = tmp / f"home-{run}"  # the very first command in a new ZOO_HOME
                cold_times.append(timed(pull, dict(base_env, ZOO_HOME=str(home))))
                shutil.rmtree(home)
            curl_times, zoo_times, cold_times = curl_times[1:], zoo_times[1:], cold_times[1:]
            kaggle_curl_times, kaggle_zoo_times = kaggle_curl_times[1:], kaggle_zoo_times[1:]
            size_gb = big.stat().st_size / 1e9
            zoo_pull = statistics.median(zoo_times)
            cold_pull = statistics.median(cold_times)
            rows.append(("zoo pull (download+verify+store)", zoo_pull, size_gb / zoo_pull, "", ""))
            if curl_times:
                curl_time = statistics.median(curl_times)
                rows.append(("curl, same file, same server", curl_time, size_gb / curl_time, f"{curl_time / zoo_pull:.2f}x", ">= 0.9x"))
                rows.append(("  zoo pull as the first command of a home", cold_pull, size_gb / cold_pull, f"{curl_time / cold_pull:.2f}x", ""))
            kaggle_pull = statistics.median(kaggle_zoo_times)
            rows.append(("zoo pull from Kaggle (kagglehub resolves)", kaggle_pull, size_gb / kaggle_pull, "", ""))
            if kaggle_curl_times:
                k_curl = statistics.median(kaggle_curl_times)
                rows.append(("curl, same file, Kaggle's server", k_curl, size_gb / k_curl, f"{k_curl / kaggle_pull:.2f}x", ">= 0.9x"))

            # A server that caps each connection, as CDNs do: zoo's ranged transfer against one
            # stream (curl) and aria2c -x8 -s8, which moves the bytes without hashing them.
            capped_env = dict(base_env, HF_ENDPOINT=capped.endpoint, ZOO_HOME=str(tmp / "home-capped"))
            capped_url = f"{capped.url('cdn')}/lfs/{big_sha}"
            capped_zoo, capped_zoo8, capped_curl, capped_aria = [], [], [], []
            for _ in range(args.capped_runs):
                for times, env in ((capped_zoo, capped_env), (capped_zoo8, dict(capped_env, ZOO_DOWNLOAD_CONNECTIONS="8"))):
                    times.append(timed(pull, env))
                    for command in (["rm", "big-cpu-fp32"], ["gc"]):
                        subprocess.run([sys.executable, "-m", "zoo_cli", *command], env=env, check=True, capture_output=True)
                if aria2c:
                    capped_aria.append(timed([aria2c, "-x8", "-s8", "-q", "--allow-overwrite=true", "--file-allocation=none",
                                              "-d", str(tmp), "-o", "aria.out", capped_url], base_env))
                    (tmp / "aria.out").unlink()
            if curl:  # one stream takes long at the cap: once is enough
                capped_curl.append(timed([curl, "-sS", "-o", str(tmp / "curl.out"), capped_url], base_env))
                (tmp / "curl.out").unlink()
            capped_pull = statistics.median(capped_zoo)
            capped_pull8 = statistics.median(capped_zoo8)
            rows.append((f"zoo pull, server capped at {args.capped_mib_s} MiB/s/conn", capped_pull, size_gb / capped_pull, "", ""))
            if capped_aria:
                a = statistics.median(capped_aria)
                rows.append(("  aria2c -x8 -s8, same capped server", a, size_gb / a, f"{a / capped_pull:.2f}x", ">= 1.0x"))
                rows.append(("  zoo pull on 8 connections, as aria2c", capped_pull8, size_gb / capped_pull8,
                             f"{a / capped_pull8:.2f}x", ""))
            if capped_curl:
                c = statistics.median(capped_curl)
                rows.append(("  curl (one stream), same capped server", c, size_gb / c, f"{c / capped_pull:.2f}x", ""))
            if args.only_pull:
                _table(rows)
                print(f"pull runs (s): zoo {_spread(zoo_times)}; curl {_spread(curl_times)}; first command {_spread(cold_times)}")
                print(f"Kaggle pull runs (s): zoo {_spread(kaggle_zoo_times)}; curl {_spread(kaggle_curl_times)}")
                print(f"capped runs (s): zoo {_spread(capped_zoo)}; zoo on 8 {_spread(capped_zoo8)}; aria2c {_spread(capped_aria)}; "
                      f"curl {_spread(capped_curl)}")
                return

            # verify: first (hashes) vs openssl, then repeat (fingerprints)
            home = tmp / "home-verify"
            env = dict(base_env, ZOO_HOME=str(home))
            subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "verify-cpu-fp16", "-q"], env=env, check=True, stdout=subprocess.DEVNULL)
            first_times, openssl_times = [], []
            for _ in range(args.runs):
                first_times.append(timed([sys.executable, "-m", "zoo_cli", "verify", "verify-cpu-fp16", "--full"], env))
                if openssl:
                    openssl_times.append(timed([openssl, "dgst", "-sha256", str(verify_file)], env))
            repeat = [timed([sys.executable, "-m", "zoo_cli", "verify", "verify-cpu-fp16"], env) for _ in range(5)]
            in_process = statistics.median(
                json.loads(subprocess.run([sys.executable, "-m", "zoo_cli", "verify", "verify-cpu-fp16", "--json"], env=env,
                                          check=True, capture_output=True, text=True).stdout)[0]["seconds"]
                for _ in range(5)
            )
            empty = [timed([sys.executable, "-m", "zoo_cli", "--version"], env) for _ in range(5)]
            first = statistics.median(first_times)
            vgb = verify_file.stat().st_size / 1e9
            rows.append((f"zoo verify, first ({vgb:.1f} GB)", first, vgb / first, "", ""))
            if openssl_times:
                o = statistics.median(openssl_times)
                rows.append(("openssl dgst -sha256", o, vgb / o, f"{o / first:.2f}x", ">= 0.9x"))
            rows.append(("zoo verify, repeat: the verification", in_process, 0, "", "< 0.050 s"))
            rows.append(("zoo verify, repeat: whole command", statistics.median(repeat), 0, "", ""))
            rows.append(("  interpreter + CLI start (zoo --version)", statistics.median(empty), 0, "", ""))

            # dedupe: two variants that share both their files, beside two others
            home = tmp / "home-dedupe"
            env = dict(base_env, ZOO_HOME=str(home))
            subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "small-cpu-int8", "small-gpu-int8", "verify-cpu-fp16", "-q"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "big-cpu-fp32", "-q"], env=env, check=True, stdout=subprocess.DEVNULL)
            blob_dir = home / "store" / "blobs" / "sha256"
            on_disk = sum(os.stat(p).st_blocks * 512 for p in blob_dir.iterdir())
            artifacts = sum(os.stat(p).st_size for p in (home / "store" / "artifacts").rglob("*") if p.is_file())
            unique = sum(p.stat().st_size for p in (big, small, shared, verify_file))
            dedupe = on_disk / unique
    _table(rows)
    print(f"{'bytes on disk / unique bytes':40} {dedupe:9.3f} {'':>7} {'':>8}  1.00 (artifact views: {artifacts / 1e9:.2f} GB of hard links)")
    print(f"pull runs (s): zoo {_spread(zoo_times)}; curl {_spread(curl_times)}; first command {_spread(cold_times)}")
    print(f"Kaggle pull runs (s): zoo {_spread(kaggle_zoo_times)}; curl {_spread(kaggle_curl_times)}")
    print(f"capped runs (s): zoo {_spread(capped_zoo)}; zoo on 8 {_spread(capped_zoo8)}; aria2c {_spread(capped_aria)}; "
                      f"curl {_spread(capped_curl)}")
    print(json.dumps({"pull_vs_curl": rows[1][1] / rows[0][1] if curl_times else None, "dedupe": dedupe}), file=sys.stderr)


if __name__ == "__main__":
    main()
