"""How fast and small the .litertlm structural check is on a multi-GB file, against hashing it.

Target (issue 17): the check answers from the header of a 3.6 GB .litertlm in < 50 ms and < 32 MB of
RSS above the interpreter's own (imports included in neither: they are paid once per command). The
file is sparse: a real header (TFLiteModel, tokenizer and LlmMetadata sections, then one 3.6 GB
section), so only the header's bytes exist on disk. The baseline is `openssl dgst -sha256` of the
same file, what checking its digest costs, measured in the same run.

    python benchmarks/litertlm_header.py [--size-gb 3.66] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.testing.litertlm_builder import llm_metadata, write_sized_litertlm  # noqa: E402

MEASURE = """
import json, resource, sys, time
from pathlib import Path
from registry import litertlm
path, runs = Path(sys.argv[1]), int(sys.argv[2])
litertlm.problems(path)  # imports and first use
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(runs):
    started = time.perf_counter()
    found = litertlm.problems(path)
    times.append(time.perf_counter() - started)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"times": times, "rss_growth_kb": after - before, "problems": found}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gb", type=float, default=3.66)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.litertlm"
        write_sized_litertlm(path, int(args.size_gb * 1e9), llm_metadata(chat_template="{{ messages }}", max_num_tokens=4096))
        out = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(args.runs)], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).resolve().parents[1])
        measured = json.loads(out.stdout)
        assert measured["problems"] == [], measured["problems"]
        check = statistics.median(measured["times"])
        rows = [("zoo's .litertlm check (header, sections, LlmMetadata)", check, f"{measured['rss_growth_kb'] / 1024:.1f} MB",
                 "< 0.050 s, < 32 MB")]
        openssl = shutil.which("openssl")
        if openssl:
            started = time.perf_counter()
            subprocess.run([openssl, "dgst", "-sha256", str(path)], check=True, capture_output=True)
            digest = time.perf_counter() - started
            rows.append(("openssl dgst -sha256, same file (sparse: no disk reads)", digest, "", f"{digest / check:.0f}x the check"))
    print(f"{'measure':58} {'seconds':>9}  {'RSS growth':>10}  target")
    for name, seconds, rss, target in rows:
        print(f"{name:58} {seconds:9.4f}  {rss:>10}  {target}")
    print(json.dumps({"check_seconds": check, "rss_growth_mb": measured["rss_growth_kb"] / 1024}))


if __name__ == "__main__":
    main()
