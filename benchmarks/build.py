"""`zoo build` against calling the converter directly, in the same toolchain.

Targets (issues 5 and 16): zoo's conversion step <= 1.05x the direct call's wall time and <= 1.1x its
peak RSS; an unchanged rebuild (a cache hit) under 1 s.
- mediapipe: a full-size FALCON_RW_1B checkpoint with random weights (2.8 GB), cpu int8, against
  converter.convert_checkpoint (~50 s, ~8 GB RAM here).
- export-hf: a full-size SmolLM2-135M configuration with random weights, int8 (dynamic_wi8_afp32),
  prefill 128, cache 1280, against litert_torch's export_hf.export. Random weights give the generation
  check nothing to agree on, so zoo builds with --no-run-check here (structural checks still run).

    python benchmarks/build.py [--only mediapipe|export-hf]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIRECT = """
import sys
from mediapipe.tasks.python.genai import converter
converter.convert_checkpoint(converter.ConversionConfig(
    input_ckpt=sys.argv[1], ckpt_format="pytorch", model_type="FALCON_RW_1B", backend="cpu", output_dir=sys.argv[2],
    combine_file_only=False, vocab_model_file=sys.argv[3], output_tflite_file=sys.argv[4],
    attention_quant_bits=8, feedforward_quant_bits=8, embedding_quant_bits=8))
"""


def measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS of the process tree's largest member (bytes), stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed")
    return time.perf_counter() - start, usage.ru_maxrss * 1024, out


EXPORT_HF = """
import sys
from litert_torch.generative.export_hf import export
export.export(model=sys.argv[1], output_dir=sys.argv[2], prefill_lengths=[128], cache_length=1280,
              quantization_recipe="dynamic_wi8_afp32")
"""


def export_hf() -> None:
    from plugins.toolchains import LITERT_TORCH
    from registry import toolchains

    python = str(toolchains.ensure(LITERT_TORCH, print).interpreter)
    with tempfile.TemporaryDirectory(dir=os.environ.get("ZOO_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "smollm2-135m"
        subprocess.run([python, str(REPO / "registry" / "testing" / "make_hf_checkpoint.py"), "llama", str(ckpt), "--steps", "0",
                        "--shape", "smollm2-135m"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(os.environ, ZOO_HOME=str(tmp / "home"))
        direct_wall, direct_rss, _ = measured([python, "-c", EXPORT_HF, str(ckpt), str(tmp / "direct")], env)
        zoo = [sys.executable, "-m", "zoo_cli", "build", "hf", "--from", str(ckpt), "--param", "prefill_lengths=128",
               "--param", "cache_length=1280", "--no-run-check", "--json"]
        wall, _, out = measured(zoo, env)
        record = json.loads(out)["provenance"]
        convert = record["steps"][0]
        noop = statistics.median(measured(zoo, env)[0] for _ in range(5))
        size = (tmp / "direct" / "model.litertlm").stat().st_size
    print(f"{'export-hf: SmolLM2-135M shape, int8':46} {'wall s':>8} {'peak RSS GB':>12} {'vs direct':>10}  target")
    print(f"{'export_hf.export, direct':46} {direct_wall:8.1f} {direct_rss / 1e9:12.2f} {'':>10}")
    ratio = f"{convert['seconds'] / direct_wall:.2f}x/{convert['peak_rss_bytes'] / direct_rss:.2f}x"
    print(f"{'zoo build hf: the export step':46} {convert['seconds']:8.1f} {convert['peak_rss_bytes'] / 1e9:12.2f} {ratio:>10}"
          "  <= 1.05x wall, <= 1.1x RSS")
    print(f"{'zoo build hf: whole command':46} {wall:8.1f}")
    print(f"{'zoo build hf, unchanged (cache hit), median of 5':46} {noop:8.3f} {'':>12} {'':>10}  < 1 s")
    print(f"(.litertlm: {size / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["mediapipe", "export-hf"])
    args = parser.parse_args()
    if args.only != "mediapipe":
        export_hf()
        if args.only == "export-hf":
            return
        print()
    from plugins.toolchains import MEDIAPIPE
    from registry import toolchains

    python = str(toolchains.ensure(MEDIAPIPE, print).interpreter)
    with tempfile.TemporaryDirectory(dir=os.environ.get("ZOO_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "ckpt"
        subprocess.run([python, str(REPO / "registry" / "testing" / "make_checkpoint.py"), "FALCON_RW_1B", str(ckpt)], check=True,
                       stdout=subprocess.DEVNULL)
        env = dict(os.environ, ZOO_HOME=str(tmp / "home"))
        rows = []
        direct_wall, direct_rss, _ = measured(
            [python, "-c", DIRECT, str(ckpt / "pytorch_model.bin"), str(tmp / "direct-work"), str(ckpt), str(tmp / "direct.bin")], env)
        rows.append(("converter.convert_checkpoint, direct", direct_wall, direct_rss))
        zoo = [sys.executable, "-m", "zoo_cli", "build", "falcon-rw-1b", "--backend", "cpu", "--quant", "int8", "--from", str(ckpt), "--json"]
        first_wall, first_rss, out = measured(zoo, env)
        record = json.loads(out)["provenance"]
        rows.append(("zoo build (first: hashes 2.8 GB of inputs)", first_wall, first_rss))
        again_wall, again_rss, _ = measured(zoo + ["--rebuild"], env)
        rows.append(("zoo build --rebuild (input digests cached)", again_wall, again_rss))
        noop = statistics.median(measured(zoo, env)[0] for _ in range(5))
    print(f"{'run':46} {'wall s':>8} {'peak RSS GB':>12} {'vs direct':>10}  target")
    for name, wall, rss in rows:
        ratio = f"{wall / direct_wall:.2f}x/{rss / direct_rss:.2f}x" if rows[0][0] != name else ""
        print(f"{name:46} {wall:8.1f} {rss / 1e9:12.2f} {ratio:>10}  {'<= 1.05x wall, <= 1.1x RSS' if ratio else ''}")
    print(f"{'zoo build, unchanged (cache hit), median of 5':46} {noop:8.3f} {'':>12} {'':>10}  < 1 s")
    print(f"(the conversion step alone inside zoo: {record['steps'][0]['seconds']:.1f} s, peak RSS {record['steps'][0]['peak_rss_bytes'] / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
