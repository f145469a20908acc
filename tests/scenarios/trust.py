"""Trust, class by class (issue 14): local and community plugins, URL confusion, shadowed names."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from registry.testing.hubs import HuggingFaceHub, KaggleHub
from registry.testing.plugins import write_plugin_distribution
from registry.testing.tflite_builder import build_tflite

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
        from registry.build import (
            inside_directory,  # the one rule --from applies to every file it reads
        )
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
    sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "plugins" / "runners"),
                    str(Path(__file__).resolve().parents[2] / "registry" / "runner")]
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
