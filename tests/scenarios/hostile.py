"""Hostile servers, a full disk, secrets and a hub that answers garbage."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from registry.testing.hubs import Fault
from registry.testing.plugins import write_plugin_distribution
from scenarios.world import HF_TOKEN, KAGGLE_TOKEN, MANIFEST, MIB, world

# ---------------------------------------------------------------------------- 5. hostile servers


HOSTILE = {
    "lies about the size": lambda w: Fault(announce_size=len(w.files["model.tflite"]) + 1000, times=-1),
    "sends more bytes than announced": lambda w: Fault(no_length=True, extra_bytes=4096, times=-1),
    "stalls": lambda w: Fault(stall_seconds=30, times=-1),
    "redirects to another host mid-download": lambda w: Fault(redirect_to=f"{w.hub.endpoint}/elsewhere/model.tflite", times=-1),
    "corrupts the bytes": lambda w: Fault(corrupt=True, times=-1),
}


def hostile_servers(root: Path) -> dict:
    rows = {}
    with world(root) as w:
        for name, make in HOSTILE.items():
            w.fresh_home()
            w.hub.faults.clear()
            w.hub.add_fault(w.digest("model.tflite"), make(w))
            started = time.monotonic()
            result = w.zoo("pull", "rel-cpu-fp32", timeout=120)
            rows[name] = {
                "failed_cleanly": result.returncode != 0 and "Traceback" not in result.stderr and result.stderr.startswith("error:"),
                "seconds": round(time.monotonic() - started, 2),
                "store_empty": w.store_is_empty(),
                "message": result.stderr.strip().splitlines()[0][:200] if result.stderr.strip() else "",
            }
        w.hub.faults.clear()
    return rows


# ---------------------------------------------------------------------------- 6. resource exhaustion


@contextmanager
def small_filesystem(path: Path, megabytes: int):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        raise PermissionError(mounted.stderr.decode().strip() or "mount failed")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def disk_full_pull(root: Path) -> dict:
    with world(root) as w, small_filesystem(root / "tiny", 5) as tiny:
        result = w.zoo("pull", "rel-cpu-fp32", env={"ZOO_HOME": str(tiny / "home")})
        leftovers = [p for p in (tiny / "home" / "store" / "partials").glob("*")] if (tiny / "home" / "store" / "partials").exists() else []
        return {
            "failed_cleanly": result.returncode != 0 and "Traceback" not in result.stderr,
            "says_disk": "No space left" in result.stderr or "Free space" in result.stderr,
            "partial_files_left": len(leftovers),
            "entries": len(list((tiny / "home" / "store" / "entries").glob("*.json"))) if (tiny / "home" / "store").exists() else 0,
            "message": result.stderr.strip()[:200],
        }


# ---------------------------------------------------------------------------- 7. secrets


def secrets(root: Path) -> dict:
    """Run pulls (fine and failing), verify, ls, info and a gated refusal with tokens set; scan everything."""
    texts = []
    with world(root) as w:
        env = {"HF_TOKEN": HF_TOKEN, "KAGGLE_API_TOKEN": KAGGLE_TOKEN}
        for args in (["pull", "rel-cpu-fp32", "--json"], ["verify", "--full"], ["ls", "--json"], ["info", "rel-cpu-fp32", "--json"],
                     ["pull", "gemma-2b-it-gpu-int4"]):
            result = w.zoo(*args, env=env | ({"ZOO_LOAD_PLUGINS": "zoo_rel", "ZOO_KAGGLE_ENDPOINT": w.hub.endpoint}
                                              if args[1] == "gemma-2b-it-gpu-int4" else {}))
            texts += [result.stdout, result.stderr]
        w.hub.add_fault(w.digest("model-int8.tflite"), Fault(corrupt=True, times=-1))
        failing = w.zoo("pull", "rel-cpu-int8", env=env)
        texts += [failing.stdout, failing.stderr]
        leaks = sum(t.count(HF_TOKEN) + t.count(KAGGLE_TOKEN) for t in texts)
        scanned = 0
        for path in w.home.rglob("*"):
            if path.is_file() and "blobs" not in path.parts:
                data = path.read_bytes()
                scanned += 1
                leaks += data.count(HF_TOKEN.encode()) + data.count(KAGGLE_TOKEN.encode())
    return {"outputs_scanned": len(texts), "files_scanned": scanned, "token_occurrences": leaks}


# ---------------------------------------------------------------------------- 9. a hub that answers garbage

GARBAGE_NAMES = ["model.tflite", "../../etc/passwd", "a" * 300, "\x1b[2J\x1b]0;pwned\x07", "", "/abs", "x\\y", "\u202eexe.bin",
                 "tokenizer.json", "dir/../../x", "con", "\x00nul"]
GARBAGE_SIZES = [0, -1, -(2**40), 1, 2**63, 2**70, "12", None, 1.5, True, 6 * MIB]


def garbage_json(rng: random.Random, depth: int = 0):
    shapes = [
        lambda: {"files": [{"name": rng.choice(GARBAGE_NAMES), "size": rng.choice(GARBAGE_SIZES)} for _ in range(rng.randint(0, 4))],
                 "nextPageToken": rng.choice(["", None, 5, "more"])},
        lambda: {"versionNumber": rng.choice([1, 0, -1, "x", None, 2**70, 1.5, [1]])},
        lambda: {"id": "acme/rel", "sha": rng.choice(["0" * 40, "zz", None, 5, "../.." + "a" * 34])},
        lambda: [{"type": rng.choice(["file", "directory", 5]), "path": rng.choice(GARBAGE_NAMES), "size": rng.choice(GARBAGE_SIZES),
                  "oid": rng.choice(["0" * 40, None, "x"])} for _ in range(rng.randint(0, 4))],
        lambda: {"code": rng.choice([400, 500, "x", None]), "message": rng.choice(GARBAGE_NAMES)},
        lambda: {"error": rng.choice(GARBAGE_NAMES), "url": rng.choice(GARBAGE_NAMES)},
        lambda: rng.choice([None, 0, "text", [], {}, 2**80, -1.5]),
        lambda: _nested(rng.randint(50, 3000)),
    ]
    return rng.choice(shapes)()


def _nested(depth: int):
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


GARBAGE_CHILD = r'''
import io, json, os, random, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import scenarios.hostile as s

cases, start = int(sys.argv[1]), int(sys.argv[2])
state = {"case": 0, "n": 0}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        state["n"] += 1
        rng = random.Random(state["case"] * 1000 + state["n"])
        port = self.server.server_address[1]
        status = rng.choice([200] * 6 + [206, 301, 302, 307, 400, 401, 403, 404, 416, 429, 500, 503])
        kind = rng.choice(["json", "json", "bytes", "empty"])
        body = json.dumps(s.garbage_json(rng)).encode() if kind == "json" else (rng.randbytes(rng.randint(1, 5000)) if kind == "bytes" else b"")
        headers = {"Content-Type": rng.choice(["application/json", "text/html", "application/octet-stream", "x/\x7f"]), "Connection": "close"}
        if rng.random() < 0.6:  # a plausible answer, so the garbage reaches the later stages too
            status, body, headers = plausible(self.command, self.path, port, rng)
        pool = {
            "X-Repo-Commit": ["0" * 40, "zz", "a" * 500, "../x"],
            "ETag": ['"' + "0" * 64 + '"', '"' + "0" * 40 + '"', "W/", "\x1b[2J"],
            "X-Linked-Etag": ['"' + "1" * 64 + '"', "x"],
            "X-Linked-Size": [str(v) for v in GARBAGE_SIZES_STR],
            "Location": [f"http://127.0.0.1:{port}/x", f"http://127.0.0.1:1\\@127.0.0.1:{port}/x", "file:///etc/passwd", "../../x",
                         f"http://user:pw@127.0.0.1:{port}/x", "http://" + "a" * 3000, "//127.0.0.1:1/x", ""],
            "Content-Range": ["bytes 0-1/2", "bytes */5", "garbage"],
            "Accept-Ranges": ["bytes", "none"],
        }
        for name in rng.sample(sorted(pool), rng.randint(0, len(pool))):
            headers[name] = rng.choice(pool[name])
        lie = rng.random()
        announced = len(body) if lie < 0.7 else rng.choice([0, len(body) // 2, len(body) + 100, 10 ** 12])
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(announced))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ValueError):
            pass
        self.close_connection = True
    do_GET = do_POST = do_HEAD = _answer

GARBAGE_SIZES_STR = ["0", "-1", "99999999999999999999", "abc", "", "1.5"]
FILES = ["model.tflite", "extra-a.safetensors", "extra-b.safetensors", "tokenizer.json", "config.json"]


def plausible(method, path, port, rng):
    """What a real hub would answer, with sizes and digests that cannot match the bytes sent later."""
    size = rng.randint(1, 4000)
    common = {"Content-Type": "application/json", "Connection": "close"}
    if path.endswith("/GetModelInstance"):
        return 200, json.dumps({"versionNumber": 1}).encode(), common
    if path.endswith("/ListModelInstanceVersionFiles"):
        return 200, json.dumps({"files": [{"name": n, "size": rng.randint(1, 4000)} for n in FILES], "nextPageToken": ""}).encode(), common
    if path.endswith("/DownloadModelInstanceVersion"):
        return 302, b"", {"Location": f"http://127.0.0.1:{port}/download/{rng.randint(0, 9)}", "Connection": "close"}
    if "/resolve/" in path and method == "HEAD":
        return 200, b"", {"X-Repo-Commit": "%040x" % rng.getrandbits(160), "ETag": '"%064x"' % rng.getrandbits(256),
                          "Content-Length": str(size), "Connection": "close"}
    return 200, rng.randbytes(rng.randint(1, 5000)), {"Content-Type": "application/octet-stream", "Connection": "close"}
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = f"http://127.0.0.1:{server.server_address[1]}"
os.environ.update({"HF_ENDPOINT": endpoint, "ZOO_KAGGLE_ENDPOINT": endpoint, "ZOO_HTTP_TIMEOUT": "1", "ZOO_HTTP_RETRIES": "1",
                   "HF_HUB_ETAG_TIMEOUT": "1", "HF_HUB_DOWNLOAD_TIMEOUT": "1"})
from registry import settings
from zoo_cli.root import main
home = Path(os.environ["ZOO_HOME"])
report = {"cases": 0, "internal_errors": [], "succeeded": 0, "stored_after_failure": 0, "exit_codes": {}}
for case in range(start, start + cases):
    state["case"], state["n"] = case, 0
    settings.reload()
    variant = "rel-cpu-fp32" if case % 2 else "relk-cpu-fp32"
    err, out = io.StringIO(), io.StringIO()
    sys.stderr, sys.stdout = err, out
    try:
        code = main(["pull", variant, "-q"])
    except BaseException as exc:
        code = f"raised {type(exc).__name__}: {exc}"
    finally:
        sys.stderr, sys.stdout = sys.__stderr__, sys.__stdout__
    report["cases"] += 1
    report["exit_codes"][str(code)] = report["exit_codes"].get(str(code), 0) + 1
    text = err.getvalue() + out.getvalue()
    if "internal error" in text or not isinstance(code, int):
        report["internal_errors"].append({"case": case, "variant": variant, "code": str(code), "output": text[-400:]})
    if code == 0:
        report["succeeded"] += 1
    else:
        blobs = home / "store" / "blobs" / "sha256"
        entries = home / "store" / "entries"
        if (blobs.exists() and any(blobs.iterdir())) or (entries.exists() and any(entries.glob("*.json"))):
            report["stored_after_failure"] += 1
print(json.dumps(report))
'''


def garbage_hub(root: Path, cases: int = 300, seed: int = 0) -> dict:
    """`zoo pull` against a hub that answers every endpoint (HF and Kaggle) with randomized garbage."""
    root.mkdir(parents=True, exist_ok=True)
    site = root / "site"
    if not site.exists():
        write_plugin_distribution(site, "zoo-rel", "zoo_rel", manifest=MANIFEST)
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD",)}
    env.update({"PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parents[1])]), "ZOO_LOAD_PLUGINS": "zoo_rel",
                "ZOO_HOME": str(root / "home"), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"})
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", GARBAGE_CHILD, str(cases), str(seed)], capture_output=True, text=True,
                            env=env, timeout=900, cwd=Path(__file__).resolve().parents[2])
    if result.returncode != 0:
        raise RuntimeError(f"the garbage-hub driver failed: {result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["seconds"] = time.monotonic() - started
    return report
