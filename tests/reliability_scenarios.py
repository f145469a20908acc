"""Reliability and security scenarios: each runs the real zoo against local hubs and returns figures.

tests/test_reliability.py asserts on them; benchmarks/reliability.py prints them as a table.
Every scenario works in a directory it is given and sets its own ZOO_HOME there.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from registry.testing.hubs import Fault, HuggingFaceHub, KaggleHub
from registry.testing.plugins import write_plugin_distribution
from registry.testing.tflite_builder import build_tflite

MIB = 1 << 20
HF_TOKEN = "hf_RELIABILITYsecret0123456789abcdef"
KAGGLE_TOKEN = "KGAT_RELIABILITYsecret0123456789"

MANIFEST = """
schema_version = 1
family = "rel"
description = "Reliability scenarios."

[[models]]
name = "rel"
description = "Three LFS files and two small ones."
platforms = ["android"]
source = { kind = "huggingface", repo = "acme/rel" }
license = { name = "MIT" }

[[models.variants]]
id = "rel-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [
  { path = "model.tflite", role = "weights" },
  { path = "extra-a.safetensors", role = "other" },
  { path = "extra-b.safetensors", role = "other" },
  { path = "tokenizer.json", role = "tokenizer" },
  { path = "config.json", role = "config" },
]
outputs = [{ path = "model.tflite", checks = ["tflite-flatbuffer"] }]

[[models.variants]]
id = "rel-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [
  { path = "model-int8.tflite", role = "weights" },
  { path = "extra-a.safetensors", role = "other" },
  { path = "tokenizer.json", role = "tokenizer" },
  { path = "config.json", role = "config" },
]
outputs = [{ path = "model-int8.tflite", checks = ["tflite-flatbuffer"] }]

[[models]]
name = "relk"
description = "The same files on Kaggle."
platforms = ["android"]
source = { kind = "kaggle", handle = "acme/rel/tfLite/rel" }
license = { name = "MIT" }

[[models.variants]]
id = "relk-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [
  { path = "model.tflite", role = "weights" },
  { path = "extra-a.safetensors", role = "other" },
  { path = "extra-b.safetensors", role = "other" },
  { path = "tokenizer.json", role = "tokenizer" },
  { path = "config.json", role = "config" },
]
outputs = [{ path = "model.tflite", checks = ["tflite-flatbuffer"] }]
"""


def _payload(size: int, seed: int, header: bytes = b"") -> bytes:
    rng = random.Random(seed)
    return header + rng.randbytes(size - len(header))


def make_files() -> dict[str, bytes]:
    return {
        "model.tflite": _payload(6 * MIB, 1, build_tflite(tensor_names=["w"])),
        "model-int8.tflite": _payload(3 * MIB, 2, build_tflite(tensor_names=["q"])),
        "extra-a.safetensors": _payload(4 * MIB + 12345, 3),
        "extra-b.safetensors": _payload(3 * MIB + 777, 4),
        "tokenizer.json": b'{"model": {"type": "BPE", "vocab": {"a": 0}}}',
        "config.json": b'{"hidden_size": 64}',
    }


VARIANT_FILES = {
    "rel-cpu-fp32": ["model.tflite", "extra-a.safetensors", "extra-b.safetensors", "tokenizer.json", "config.json"],
    "rel-cpu-int8": ["model-int8.tflite", "extra-a.safetensors", "tokenizer.json", "config.json"],
    "relk-cpu-fp32": ["model.tflite", "extra-a.safetensors", "extra-b.safetensors", "tokenizer.json", "config.json"],
}


class World:
    """Local hubs serving the scenario's files (Hugging Face and Kaggle), the plugin that declares them, and a ZOO_HOME."""

    def __init__(self, root: Path, hub: HuggingFaceHub, files: dict[str, bytes], kaggle: KaggleHub | None = None):
        self.root, self.hub, self.files, self.kaggle = root, hub, files, kaggle
        site = root / "site"
        if not site.exists():
            write_plugin_distribution(site, "zoo-rel", "zoo_rel", manifest=MANIFEST)
        self.home = root / "home"
        self.env = {
            "PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_rel", "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1",
            "ZOO_HOME": str(self.home), "ZOO_HTTP_TIMEOUT": "2", "ZOO_HTTP_RETRIES": "2", "HF_HUB_DISABLE_TELEMETRY": "1",
        } | ({"ZOO_KAGGLE_ENDPOINT": kaggle.endpoint} if kaggle else {})

    def fresh_home(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def zoo(self, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD",)} | self.env | (env or {})
        return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=full, timeout=timeout)

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        full = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD",)} | self.env | (env or {})
        return subprocess.Popen([sys.executable, "-m", "zoo_cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)

    def digest(self, name: str) -> str:
        return hashlib.sha256(self.files[name]).hexdigest()

    def stored_ok(self, variant: str) -> bool:
        artifacts = self.home / "store" / "artifacts" / variant
        return all((artifacts / name).is_file() and (artifacts / name).read_bytes() == self.files[name] for name in VARIANT_FILES[variant])

    def store_is_empty(self) -> bool:
        store = self.home / "store"
        return not list((store / "entries").glob("*.json")) and not list((store / "blobs" / "sha256").glob("*")) if store.exists() else True

    def served_bytes(self, since: int, hub=None) -> int:
        """Body bytes the hub sent (or started to send) to GET requests after request number `since`."""
        total = 0
        for record in (hub or self.hub).requests[since:]:
            if record.method != "GET":
                continue
            name = next((n for n in self.files if record.path.endswith("/" + n) or record.path.endswith(self.digest(n))), None)
            if name is None:
                continue
            start = int(record.range[6:-1]) if record.range else 0
            total += len(self.files[name]) - start
        return total


def _sizes(directory: Path, pattern: str) -> list[int]:
    sizes = []
    for path in directory.glob(pattern) if directory.exists() else []:
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:  # renamed by the pull meanwhile
            pass
    return sizes


@contextmanager
def world(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    files = make_files()
    with HuggingFaceHub() as hub, KaggleHub() as kaggle:
        hub.add_repo("acme/rel", files)
        kaggle.add_model("acme/rel/tfLite/rel", files)
        yield World(root, hub, files, kaggle)


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
                if any(size >= cut for size in _sizes(partials, "*.part")):
                    break
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
            child.wait()
            hub.faults.clear()
            # What the killed pull kept: partial downloads, and files it had verified into the store.
            on_disk = sum(_sizes(partials, "*")) + sum(_sizes(w.home / "store" / "blobs" / "sha256", "*"))
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


def _garbage_json(rng: random.Random, depth: int = 0):
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
import reliability_scenarios as s

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
        body = json.dumps(s._garbage_json(rng)).encode() if kind == "json" else (rng.randbytes(rng.randint(1, 5000)) if kind == "bytes" else b"")
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
from zoo_cli import main
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
    env.update({"PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent)]), "ZOO_LOAD_PLUGINS": "zoo_rel",
                "ZOO_HOME": str(root / "home"), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"})
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", GARBAGE_CHILD, str(cases), str(seed)], capture_output=True, text=True,
                            env=env, timeout=900, cwd=Path(__file__).resolve().parents[1])
    if result.returncode != 0:
        raise RuntimeError(f"the garbage-hub driver failed: {result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["seconds"] = time.monotonic() - started
    return report


# ---------------------------------------------------------------------------- 10. trust, class by class (issue 14)

LOCAL_MANIFEST = """
schema_version = 1
family = "localrel"
description = "A ready-made variant from a folder beside the manifest."

[[models]]
name = "localrel"
description = "Local files."
platforms = ["android"]
source = { kind = "local", path = "files" }
license = { name = "MIT" }

[[models.variants]]
id = "localrel-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [{ path = "model.tflite", role = "weights" }]
"""

COMMUNITY_MANIFEST = """
schema_version = 1
family = "communityrel"
description = "A file named as litert-community names them."

[[models]]
name = "qwenrel"
description = "A .task whose name is not <id>.task."
platforms = ["android"]
source = { kind = "huggingface", repo = "litert-community/Qwen2.5-0.5B-Instruct" }
license = { name = "Apache-2.0" }

[[models.variants]]
id = "qwenrel-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "task"
files = [{ path = "Qwen2.5-0.5B-Instruct_multi-prefill-seq_q8_ekv1280.task", role = "weights" }]
"""


class TrustWorld:
    """A ZOO_HOME with a local-folder plugin pulled, for the store and file-system classes."""

    def __init__(self, root: Path):
        self.root = root
        self.site = root / "site"
        write_plugin_distribution(self.site, "zoo-localrel", "zoo_localrel", manifest=LOCAL_MANIFEST)
        write_plugin_distribution(self.site, "zoo-communityrel", "zoo_communityrel", manifest=COMMUNITY_MANIFEST)
        files = self.site / "zoo_localrel" / "files"
        files.mkdir(parents=True, exist_ok=True)
        self.original = build_tflite(tensor_names=["w"]) + b"\1" * 4000
        (files / "model.tflite").write_bytes(self.original)
        self.user_file = files / "model.tflite"
        self.home = root / "home"
        self.env = {"PYTHONPATH": str(self.site), "ZOO_LOAD_PLUGINS": "zoo_localrel,zoo_communityrel", "ZOO_HOME": str(self.home),
                    "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}

    def zoo(self, *args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD",)} | self.env | (env or {})
        return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=full, timeout=timeout)

    @property
    def store(self) -> Path:
        return self.home / "store"


def trust_classes(root: Path, races: int = 40) -> dict[str, dict]:
    """One figure per class of issue 14 that the file system and the store decide; each also a test in tests/test_trust.py."""
    import threading

    root.mkdir(parents=True, exist_ok=True)
    w = TrustWorld(root)
    assert w.zoo("pull", "localrel-cpu-fp32").returncode == 0
    rows: dict[str, dict] = {}

    # 4. export while another user keeps planting links at names beside the target
    victim = root / "victim"
    victim.write_bytes(b"precious")
    assets = root / "assets"
    assets.mkdir()
    stop = threading.Event()

    def plant() -> None:
        rng = random.Random(5)
        while not stop.is_set():
            name = rng.choice([".app.tflite.zoo-export", f".app.tflite.{rng.randint(1, 1 << 16)}.tmp", f".app.tflite.{rng.getrandbits(32):08x}"])
            try:
                (assets / name).symlink_to(victim)
            except OSError:
                pass

    planter = threading.Thread(target=plant, daemon=True)
    planter.start()
    exported = 0
    for _ in range(races):
        exported += w.zoo("export", "localrel-cpu-fp32", "--to", str(assets), "--name", "app.tflite", "--force").returncode == 0
    stop.set()
    planter.join()
    rows["export link races"] = {"attempts": races, "ok": exported, "outside_writes": int(victim.read_bytes() != b"precious")}

    # 5. path-like queries
    outside = root / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep.json").write_text("{}")
    climb = os.path.relpath(outside, w.store / "entries")
    forms = [f"{climb}/keep", f"../../{climb}/keep", "/etc/passwd", "..", ".", "a/../../b", "%2e%2e/x", "\x01x", "x" * 300, "~root", "keep\n"]
    touched = refused = 0
    for form in forms:
        for command in ("rm", "path", "verify", "info"):
            result = w.zoo(command, form)
            refused += result.returncode != 0 and "internal error" not in result.stderr
    touched = int(not (outside / "keep").exists() or not (outside / "keep.json").exists())
    rows["path-like store queries"] = {"attempts": len(forms) * 4, "refused_clearly": refused, "outside_touched": touched}

    # 6. --from links out of the directory (the pack test plugin is not needed: build reads --from before converting)
    secret = root / "secret"
    secret.write_bytes(b"s" * 100)
    link_forms = 0
    refused_links = 0
    for i, target in enumerate([secret, Path("/etc/hostname"), Path(os.path.relpath(secret, root / f"from{0}"))]):
        directory = root / f"from{i}"
        directory.mkdir()
        (directory / "model.tflite").symlink_to(target)
        from registry.build import inside_directory  # the one rule --from applies to every file it reads
        from registry.errors import BuildError

        link_forms += 1
        try:
            inside_directory(directory.resolve(), "model.tflite")
        except BuildError:
            refused_links += 1
    rows["--from links leaving the folder"] = {"attempts": link_forms, "refused": refused_links}

    # 7. the store owns its bytes: the user edits their file after the pull
    stored = w.store / "artifacts" / "localrel-cpu-fp32" / "model.tflite"
    with open(w.user_file, "r+b") as fh:
        fh.seek(50)
        fh.write(b"edited by the user")
    rows["user edits a pulled local file"] = {"stored_copy_changed": int(stored.read_bytes() != w.original),
                                              "user_file_mode_changed": int(os.stat(w.user_file).st_mode & 0o222 == 0)}
    w.user_file.write_bytes(w.original)

    # 8. swapped blobs and links: detected by verify, mended by --repair, nothing hangs
    entry = json.loads((w.store / "entries" / "localrel-cpu-fp32.json").read_text())
    blob = w.store / "blobs" / "sha256" / entry["files"][0]["sha256"]
    detected = repaired = 0
    unmended: list[str] = []  # what zoo said when a repair did not hold, so a failure explains itself
    kinds = ["artifact deleted", "blob -> outside copy", "blob -> /dev/zero", "blob is a FIFO"]
    for kind in kinds:
        if kind == "artifact deleted":
            stored.unlink()
        else:
            os.chmod(blob, 0o644)
            blob.unlink()
            if kind == "blob -> outside copy":
                copy = root / "outside-copy"
                copy.write_bytes(w.original)
                blob.symlink_to(copy)
            elif kind == "blob -> /dev/zero":
                blob.symlink_to("/dev/zero")
            else:
                os.mkfifo(blob)
        detected += w.zoo("verify", "--full").returncode != 0
        mended, checked = w.zoo("pull", "localrel-cpu-fp32", "--repair"), w.zoo("verify", "--full")
        repaired += mended.returncode == 0 and checked.returncode == 0
        if mended.returncode or checked.returncode:
            unmended.append(f"{kind}: repair {mended.returncode} {mended.stderr[-300:]!r}; verify {checked.returncode} {checked.stderr[-300:]!r}")
    rows["swapped blobs and links"] = {"attempts": len(kinds), "detected": detected, "repaired": repaired}
    rows["swapped blobs and links, unmended"] = {"why": unmended}

    # 1. a ready-made file not named <id>.<format>, served as anything but a .task
    bodies = [b"just text\n" * 240, random.Random(1).randbytes(2400), b"PK\x05\x06" + b"\0" * 18,
              b"PK\x03\x04 truncated zip", b""]
    stored_bad = 0
    with HuggingFaceHub() as hf:
        for body in bodies:
            hf.add_repo("litert-community/Qwen2.5-0.5B-Instruct", {"Qwen2.5-0.5B-Instruct_multi-prefill-seq_q8_ekv1280.task": body})
            result = w.zoo("pull", "qwenrel-cpu-int8", env={"HF_ENDPOINT": hf.endpoint})
            stored_bad += result.returncode == 0
    rows["ready-made .task under a hub's own name"] = {"attempts": len(bodies), "stored_as_verified": stored_bad}
    return rows


def url_confusion(root: Path) -> dict:
    """9. Redirects to URL forms that two parsers read differently: does the token reach another port?"""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from registry.download import download
    from registry.errors import NetworkError

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            self.server.seen.append(self.headers.get("Authorization"))
            if self.server.redirect:
                self.send_response(302)
                self.send_header("Location", self.server.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"0123456789")

    servers = []
    for _ in range(2):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.seen, srv.redirect = [], None
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    evil, hub = servers
    e, h = evil.server_address[1], hub.server_address[1]
    forms = [f"http://127.0.0.1:{e}\\@127.0.0.1:{h}/x", f"http://127.0.0.1:{h}@127.0.0.1:{e}/x", f"http://127.0.0.1:{e}#@127.0.0.1:{h}/x",
             f"http://127.0.0.1:{e}?@127.0.0.1:{h}/x", f"http://127.0.0.1:{e}\t@127.0.0.1:{h}/x", f"http://u:p@127.0.0.1:{h}/x",
             f"//127.0.0.1:{e}/x", "file:///etc/passwd", f"http://127.0.0.1:{e}/x", f"HTTP://127.0.0.1:{e}/x"]
    refused = 0
    root.mkdir(parents=True, exist_ok=True)
    for form in forms:
        hub.redirect = form
        try:
            download(f"http://127.0.0.1:{h}/f", root / "f.part", expected_size=10, headers={"Authorization": "Bearer SECRET"}, retries=1)
        except NetworkError:
            refused += 1
    for srv in servers:
        srv.shutdown()
        srv.server_close()
    return {"forms": len(forms), "refused": refused, "tokens_to_other_origin": sum(1 for a in evil.seen if a)}


SHADOW_MANIFEST = """
schema_version = 1
family = "shadowrel"
description = "Tries to take a built-in family's name for its model."

[[models]]
name = "gemma"
description = "Not Google's."
platforms = ["android"]
source = { kind = "huggingface", repo = "evil/gemma" }
license = { name = "MIT" }

[[models.variants]]
id = "shadowrel-gpu-int4"
backend = "gpu"
quantization = "int4"
format = "tflite"
files = [{ path = "model.tflite", role = "weights" }]
"""


def trust_plugins_and_text(root: Path) -> dict[str, dict]:
    """Classes 3, 11-15 and 17 of issue 14, counted: each also a test in tests/test_trust.py."""
    import copy

    from registry.child import run_job
    from registry.errors import ManifestError
    from registry.manifest import parse_manifest

    root.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    base_env = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD", "ZOO_LOAD_PLUGINS")}
    base_env["ZOO_HOME"] = str(root / "home")

    def zoo(*args: str, env: dict) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=base_env | env, timeout=120)

    # 3. a generation check with nothing generated
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "plugins" / "runners"),
                    str(Path(__file__).resolve().parents[1] / "registry" / "runner")]
    from tflite_generate import generation_problems

    prompt = "My trip to Yosemite was"
    empties = [prompt, prompt + " ", prompt + "\n\n", prompt + "\t"]
    rows["GPT-2 check, continuations with no token"] = {"attempts": len(empties),
                                                         "passed": sum(not generation_problems(prompt, t, t) for t in empties)}

    # 11. credentials never reach a toolchain child
    secrets_env = {"HF_TOKEN": "hf_ROWsecret", "KAGGLE_KEY": "kgROWsecret", "KAGGLE_API_TOKEN": "KGAT_ROWsecret",
                   "AWS_SECRET_ACCESS_KEY": "awsROWsecret", "HTTPS_PROXY": "http://u:proxyROWsecret@127.0.0.1:9",
                   # names that share a prefix with a tuning knob (TF_, NVIDIA_) but hold secrets
                   "TF_TOKEN_app_terraform_io": "tfROWsecret", "TF_VAR_db_password": "tfvarROWsecret",
                   "NVIDIA_API_KEY": "nvapiROWsecret"}
    saved = {k: os.environ.get(k) for k in secrets_env}
    os.environ.update(secrets_env)
    try:
        runner = root / "dump_env.py"
        runner.write_text("import json, os\nprint(json.dumps({'event': 'result', 'data': dict(os.environ)}))\n")
        seen = run_job(Path(sys.executable), runner, {}, root / "work", what="env dump").data
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    leaked = sum(1 for value in seen.values() for secret in secrets_env.values() if secret in value)
    rows["credentials in a toolchain child's environment"] = {"planted": len(secrets_env), "reached_the_child": leaked}

    # 12. escape sequences from a server
    with KaggleHub() as kaggle:
        kaggle.add_model("google/gemma/tfLite/gemma-2b-it-gpu-int4", {"evil\x1b]0;pwned\x07\x1b[2J\u202eexe.bin": b"x",
                                                                      "\x9b31m\u200bred.bin": b"y"}, version=2)
        shown = zoo("pull", "gemma-2b-it-gpu-int4", env={"ZOO_KAGGLE_ENDPOINT": kaggle.endpoint, "ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    raw = sum(shown.stderr.count(ch) + shown.stdout.count(ch) for ch in ("\x1b", "\x07", "\x9b", "\u202e", "\u200b"))
    rows["escape sequences in server file names"] = {"planted": 5, "raw_in_output": raw}

    # 13-15. plugins that pass for a built-in, shadow one, or exit
    site = root / "site"
    marker = root / "evil-imported"
    write_plugin_distribution(site, "zoo", "evil_hf_rel", entry_point="source-huggingface", source=f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("ran")
        from registry.components import SourceKind
        from registry.hookspecs import hookimpl

        class Evil(SourceKind):
            name = "huggingface"

        @hookimpl
        def register_sources(register):
            register(Evil())
    """)
    write_plugin_distribution(site, "zoo-shadowrel", "zoo_shadowrel", manifest=SHADOW_MANIFEST)
    write_plugin_distribution(site, "zoo-exitrel", "zoo_exitrel", source="""
        from registry.hookspecs import hookimpl

        @hookimpl
        def register_families(register):
            raise SystemExit(0)
    """)
    records = json.loads(zoo("plugins", "--json", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_shadowrel,zoo_exitrel"}).stdout)
    by_name: dict[str, list[dict]] = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
    real = [r for r in by_name.get("source-huggingface", []) if r["builtin"] and r["status"] == "loaded"]
    stray_builtin = int(marker.exists() or len(real) != 1)
    rows["plugins: stray zoo dist, shadowed family, SystemExit"] = {
        "attempts": 3,
        "refused": int(stray_builtin == 0) + int(by_name["zoo_shadowrel"][0]["status"] == "failed")
        + int(by_name["zoo_exitrel"][0]["status"] == "failed"),
    }

    # 17. names that display as others, types that are not
    from helpers import FUZZ_MANIFEST as BASE

    mutations = [("schema_version", 1.0), ("schema_version", True), ("size", True), ("path", "model\u202egnp.tflite"),
                 ("path", "mod\u200bel.tflite"), ("path", "m\x1b[2J.tflite"), ("path", "d/" + "a" * 256), ("path", "x\u2066y.tflite")]
    accepted = 0
    for key, value in mutations:
        data = copy.deepcopy(BASE)
        if key == "schema_version":
            data["schema_version"] = value
        else:
            data["models"][0]["files"][0][key] = value
        try:
            parse_manifest(data, "rel.toml")
            accepted += 1
        except ManifestError:
            pass
    rows["manifest names and types that are not what they show"] = {"attempts": len(mutations), "accepted": accepted}
    return rows
