"""`zoo run`, `zoo serve` and `zoo bench` against calling LiteRT-LM directly, in one run, on the same stored file.

Targets (issue 29), each within 1.1x of its direct counterpart in the same litert-lm toolchain:
- `zoo run ID --prompt TEXT` against a Python process that calls litert_lm itself (load the engine,
  prefill the prompt, decode): what zoo adds (resolving the id, checking the store, starting its job)
  must stay small next to the model's own work;
- a request to `zoo serve` (POST /v1/completions, the engine already loaded) against the same request
  made to an engine loaded in the measuring process: what zoo adds is HTTP, JSON and one pipe.
`zoo bench` is shown beside them: LiteRT-LM's own figures for the same file.

    python benchmarks/run.py [--runs 7] [--max-tokens 16] [--home DIR]

Without --home it builds the demo (`zoo build zoo-demo`, offline, about 30 s once the toolchains exist)
in a temporary ZOO_HOME; with --home it uses the stored artifact QUERY (--query) there, e.g. a real model.
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
import sys, litert_lm
artifact, prompt, tokens, context, cache = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
engine = litert_lm.Engine(artifact, backend=litert_lm.Backend.CPU(), max_num_tokens=context, cache_dir=cache)
session = engine.create_session(apply_prompt_template=False, max_output_tokens=tokens,
                                sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0))
session.run_prefill([prompt])
print("".join(session.run_decode().texts))
"""


LOADED = """
import json, sys, time, litert_lm
artifact, prompt, tokens, context, cache, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
engine = litert_lm.Engine(artifact, backend=litert_lm.Backend.CPU(), max_num_tokens=context, cache_dir=cache)
seconds = []
for _ in range(runs + 1):  # the first one warms up
    started = time.perf_counter()
    session = engine.create_session(apply_prompt_template=False, max_output_tokens=tokens,
                                    sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0))
    session.run_prefill([prompt])
    text = "".join(session.run_decode().texts)
    session.close()
    seconds.append(time.perf_counter() - started)
print(json.dumps({"seconds": seconds[1:], "text": text}))
"""


def served(zoo: list[str], env: dict, entry_id: str, prompt: str, tokens: int, runs: int) -> tuple[list[float], str]:
    """Per-request seconds of `zoo serve` (one warm-up request first) and the text it answered."""
    import urllib.request

    server = subprocess.Popen(zoo + ["serve", entry_id, "--port", "0"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().strip() + "/completions"
        body = json.dumps({"model": entry_id, "prompt": prompt, "max_tokens": tokens, "temperature": 0}).encode()
        seconds, text = [], ""
        for _ in range(runs + 1):
            started = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"})) as answer:
                text = json.loads(answer.read())["choices"][0]["text"]
            seconds.append(time.perf_counter() - started)
        return seconds[1:], text
    finally:
        server.terminate()
        server.wait(timeout=30)


def timed(command: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--home", type=Path, help="a ZOO_HOME holding --query already")
    parser.add_argument("--query", default="zoo-demo")
    parser.add_argument("--prompt", default="the zoo keeps")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="zoo-bench-run-"))
    env = os.environ | {"ZOO_HOME": str(home)}
    console = Path(sys.executable).parent / "zoo"  # the command as users type it (no runpy, as `-m` adds)
    zoo = [str(console)] if console.exists() else [sys.executable, "-m", "zoo_cli"]
    if args.home is None:
        subprocess.run(zoo + ["build", args.query, "-q"], env=env | {"ZOO_OFFLINE": "1"}, check=True)
    path = Path(subprocess.run(zoo + ["path", args.query], env=env, capture_output=True, text=True, check=True).stdout.strip())

    from registry import settings, toolchains
    from registry.run_check import artifact_context
    from registry.catalog import get_catalog
    from registry.store import default_store

    os.environ["ZOO_HOME"] = str(home)
    settings.reload()
    store = default_store()
    entry = next(e for e in store.entries() if store.artifact_dir(e.id) / e.main == path)
    runtime = get_catalog().component("runtime", "litert-lm")
    python = toolchains.ensure(runtime.toolchain, print).interpreter
    context = artifact_context(store, entry, default=512)
    cache = settings.get().cache_dir / "litert-lm"
    cache.mkdir(parents=True, exist_ok=True)
    direct = [str(python), "-c", DIRECT, str(path), args.prompt, str(args.max_tokens), str(context), str(cache)]
    ours = zoo + ["run", entry.id, "--prompt", args.prompt, "--max-tokens", str(args.max_tokens)]

    timed(direct, env), timed(ours, env)  # one untimed round: caches warm for both
    rows = {"direct": [], "zoo": []}
    texts = set()
    for _ in range(args.runs):
        for name, command in (("direct", direct), ("zoo", ours)):
            seconds, text = timed(command, env)
            rows[name].append(seconds)
            texts.add((name, text))
    loaded = json.loads(subprocess.run([str(python), "-c", LOADED, str(path), args.prompt, str(args.max_tokens), str(context),
                                        str(cache), str(args.runs)], env=env, capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()[-1])
    serve_seconds, serve_text = served(zoo, env, entry.id, args.prompt, args.max_tokens, args.runs)
    bench = json.loads(subprocess.run(zoo + ["bench", entry.id, "--runs", "3", "--json"], env=env, capture_output=True,
                                      text=True, check=True).stdout)[0]

    base, mine = statistics.median(rows["direct"]), statistics.median(rows["zoo"])
    print(f"{'measure':52} {'seconds':>8}  {'zoo vs':>7}  target")
    print(f"{'litert_lm called directly (same toolchain, same file)':52} {base:8.3f}")
    print(f"{'zoo run ' + entry.id:52} {mine:8.3f}  {mine / base:6.2f}x  <= 1.1x")
    print(f"runs (s): direct {' '.join(f'{s:.2f}' for s in sorted(rows['direct']))}; "
          f"zoo {' '.join(f'{s:.2f}' for s in sorted(rows['zoo']))}")
    engine, server = statistics.median(loaded["seconds"]), statistics.median(serve_seconds)
    print(f"{'one request to an engine loaded in-process':52} {engine:8.3f}")
    print(f"{'one request to zoo serve (POST /v1/completions)':52} {server:8.3f}  {server / engine:6.2f}x  <= 1.1x")
    if serve_text != loaded["text"]:
        print(f"note: zoo serve answered {serve_text!r}, the loaded engine {loaded['text']!r}")
    metrics = bench["metrics"]
    print(f"zoo bench (LiteRT-LM's own, median of 3): load {metrics['load_seconds']['median']:.3f} s, first token "
          f"{metrics['time_to_first_token_seconds']['median'] * 1000:.1f} ms, prefill "
          f"{metrics['prefill_tokens_per_second']['median']:.0f} tok/s, decode {metrics['decode_tokens_per_second']['median']:.0f} tok/s")
    if len({text for _, text in texts}) != 1:
        print(f"note: the texts differ between the two ({sorted(texts)})")


if __name__ == "__main__":
    main()
