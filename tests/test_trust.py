"""Trust, class by class (issue 14): what zoo calls verified is verified, and nothing outside the store is touched.

Each test here failed before its fix; the figures behind them are in benchmarks/reliability.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from registry.download import download, same_origin
from registry.errors import ExitCode, NetworkError

from helpers import toolchain_python
from scenarios.trust import COMMUNITY_MANIFEST, LOCAL_MANIFEST  # the manifests of these tests and the figures

# ---------------------------------------------------------------------------- 9. URL confusion on redirects


class _Recorder(BaseHTTPRequestHandler):
    """Answers GET with a redirect (when told to) or a small body, and records what credentials it saw."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.body
        self.send_response(200)
        if self.server.send_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    started = []

    def start(redirect_to: str | None = None, body: bytes = b"x" * 1000, send_length: bool = True) -> ThreadingHTTPServer:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        srv.redirect_to, srv.body, srv.send_length, srv.seen = redirect_to, body, send_length, []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def _port(srv) -> int:
    return srv.server_address[1]


CONFUSIONS = [
    "http://127.0.0.1:{evil}\\@127.0.0.1:{hub}/x",  # urlsplit: the hub; urllib3: evil
    "http://127.0.0.1:{hub}@127.0.0.1:{evil}/x",  # userinfo that looks like the hub
    "http://127.0.0.1:{evil}#@127.0.0.1:{hub}/x",
    "http://127.0.0.1:{evil}?@127.0.0.1:{hub}/x",
    "http://127.0.0.1:{evil}\t@127.0.0.1:{hub}/x",
    "http://user:pw@127.0.0.1:{hub}/x",  # credentials in a redirect target: refused even to the same origin
    "//127.0.0.1:{evil}/x",  # scheme-relative
    "file:///etc/passwd",
]


@pytest.mark.parametrize("form", CONFUSIONS)
def test_a_redirect_never_carries_the_token_to_another_origin(tmp_path, server, form):
    evil = server()
    hub = server()
    hub.redirect_to = form.format(evil=_port(evil), hub=_port(hub))
    with pytest.raises(NetworkError) as failure:
        download(f"http://127.0.0.1:{_port(hub)}/file", tmp_path / "f.part", expected_size=1000,
                 headers={"Authorization": "Bearer hf_SECRET"}, retries=1)
    assert "redirected" in failure.value.message
    assert evil.seen == []  # never contacted, so no token either
    assert not (tmp_path / "f.part").exists()


def test_same_origin_reads_urls_as_the_connecting_library_does():
    assert same_origin("http://127.0.0.1:5/a", "HTTP://127.0.0.1:5/b")
    assert same_origin("https://hub.example/a", "https://hub.example:443/b")
    assert not same_origin("http://127.0.0.1:5\\@127.0.0.1:6/a", "http://127.0.0.1:6/")
    assert not same_origin("http://u@127.0.0.1:6/a", "http://127.0.0.1:6/")


@pytest.mark.parametrize("planted", ["link to a file outside", "hard link to a file outside", "fifo"])
def test_a_partial_download_that_is_no_regular_file_is_never_written_through_or_waited_on(tmp_path, server, planted):
    """A resume appends to, truncates and hashes the partial at its name: a link planted there must not
    carry that outside the store (this server ignores Range, so the resume would truncate it), and a
    FIFO must not hang the pull."""
    srv = server(body=b"z" * 5000)
    partial = tmp_path / "f.part"
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"z" * 1000 + b"the user's own bytes")
    if planted == "fifo":
        os.mkfifo(partial)
    elif planted.startswith("hard"):  # another name of the user's file: O_NOFOLLOW does not see it, its link count does
        os.link(outside, partial)
    else:
        partial.symlink_to(outside)
    results = []
    worker = threading.Thread(target=lambda: results.append(download(f"http://127.0.0.1:{_port(srv)}/f", partial,
                                                                     expected_size=5000, retries=1)), daemon=True)
    worker.start()
    worker.join(30)
    assert results and results[0].size == 5000 and partial.read_bytes() == b"z" * 5000
    assert not partial.is_symlink()
    assert outside.read_bytes() == b"z" * 1000 + b"the user's own bytes"


# ---------------------------------------------------------------------------- 10. unbounded downloads


def test_a_body_of_unknown_size_stops_at_the_ceiling_and_leaves_nothing(tmp_path, server):
    srv = server(body=b"z" * (3 << 20), send_length=False)
    partial = tmp_path / "f.part"
    with pytest.raises(NetworkError) as failure:
        download(f"http://127.0.0.1:{_port(srv)}/f", partial, expected_size=None, max_bytes=1 << 20, retries=1)
    assert "ZOO_MAX_DOWNLOAD_BYTES" in failure.value.message
    assert not partial.exists()


def test_an_announced_size_above_the_ceiling_is_refused_before_the_body(tmp_path, server):
    srv = server(body=b"z" * (3 << 20))
    with pytest.raises(NetworkError, match="more than the"):
        download(f"http://127.0.0.1:{_port(srv)}/f", tmp_path / "f.part", expected_size=None, max_bytes=1 << 20, retries=1)
    assert not (tmp_path / "f.part").exists()


# ---------------------------------------------------------------------------- 6. --from never leaves its directory


def _pack(tmp_path):
    from helpers import install_pack_plugin

    return install_pack_plugin(tmp_path)


def test_build_from_refuses_links_out_of_the_directory_and_reads_nothing_there(tmp_path, zoo):
    env, package = _pack(tmp_path)
    outside = tmp_path / "secret"
    outside.write_bytes(b"root's secret" * 100)
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "tokenizer.json").write_text('{"model": {"type": "BPE"}}')
    (checkpoint / "weights.bin").symlink_to(outside)
    result = zoo("build", "packer", "--from", str(checkpoint), env=env)
    assert result.returncode != 0 and "points outside" in result.stderr and "internal error" not in result.stderr
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    for path in Path(os.environ["ZOO_HOME"]).rglob("*"):
        if path.is_file():
            assert digest.encode() not in path.read_bytes(), path  # never hashed, so recorded nowhere


def test_build_from_refuses_a_fifo_instead_of_hanging(tmp_path, zoo):
    env, package = _pack(tmp_path)
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "weights.bin").write_bytes(b"w" * 1000)
    os.mkfifo(checkpoint / "tokenizer.json")
    result = zoo("build", "packer", "--from", str(checkpoint), env=env, timeout=60)
    assert result.returncode != 0 and "not a regular file" in result.stderr


# ---------------------------------------------------------------------------- 7. the store owns its bytes



def test_a_local_file_is_copied_into_the_store_never_linked_or_chmodded(tmp_path, zoo):
    from registry.testing.plugins import write_plugin_distribution
    from registry.testing.tflite_builder import build_tflite

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-localrel", "zoo_localrel", manifest=LOCAL_MANIFEST)
    files = site / "zoo_localrel" / "files"
    files.mkdir()
    original = build_tflite(tensor_names=["w"]) + b"\0" * 5000
    (files / "model.tflite").write_bytes(original)
    os.chmod(files / "model.tflite", 0o644)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_localrel"}
    result = zoo("pull", "localrel-cpu-fp32", "--json", env=env)
    assert result.returncode == 0, result.stderr
    stored = Path(json.loads(result.stdout)[0]["path"])
    user_file = files / "model.tflite"
    assert not os.path.samefile(stored, user_file)
    assert os.stat(user_file).st_mode & 0o777 == 0o644 and os.stat(user_file).st_nlink == 1
    with open(user_file, "r+b") as fh:  # the user edits their file: the stored copy does not change
        fh.seek(100)
        fh.write(b"edited")
    assert stored.read_bytes() == original
    assert zoo("verify", "localrel-cpu-fp32", "--full", env=env).returncode == 0


# ---------------------------------------------------------------------------- 4. no write through a planted link


def _pulled_local(tmp_path, zoo) -> tuple[dict, Path]:
    from registry.testing.plugins import write_plugin_distribution
    from registry.testing.tflite_builder import build_tflite

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-localrel", "zoo_localrel", manifest=LOCAL_MANIFEST)
    (site / "zoo_localrel" / "files").mkdir()
    (site / "zoo_localrel" / "files" / "model.tflite").write_bytes(build_tflite(tensor_names=["w"]) + b"\1" * 3000)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_localrel"}
    assert zoo("pull", "localrel-cpu-fp32", env=env).returncode == 0
    return env, site / "zoo_localrel" / "family.toml"


def test_export_and_pin_never_write_through_links_planted_beside_their_target(tmp_path, zoo):
    env, manifest = _pulled_local(tmp_path, zoo)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    assets = tmp_path / "assets"
    assets.mkdir()
    # The names the old code wrote to first, each planted as a link to the victim.
    (assets / ".autocomplete.tflite.zoo-export").symlink_to(victim)
    (manifest.parent / f".{manifest.name}.pinning").symlink_to(victim)
    for pid in range(os.getpid(), os.getpid() + 400):
        (assets / f".autocomplete.tflite.{pid}.tmp").symlink_to(victim)
    exported = zoo("export", "localrel-cpu-fp32", "--to", str(assets), "--name", "autocomplete.tflite", env=env)
    assert exported.returncode == 0, exported.stderr
    assert (assets / "autocomplete.tflite").read_bytes()[4:8] == b"TFL3"
    pinned = zoo("manifest", "pin", "localrel-cpu-fp32", "--manifest", str(manifest), env=env)
    assert pinned.returncode == 0, pinned.stderr
    assert victim.read_bytes() == b"precious"
    assert 'sha256 = "' in manifest.read_text()
    # A target that is itself a link is refused, even with --force.
    (assets / "linked.tflite").symlink_to(victim)
    refused = zoo("export", "localrel-cpu-fp32", "--to", str(assets), "--name", "linked.tflite", "--force", env=env)
    assert refused.returncode != 0 and "is a link" in refused.stderr
    assert victim.read_bytes() == b"precious"


# ---------------------------------------------------------------------------- 5. store commands stay in the store


def test_path_like_queries_and_forged_entries_never_reach_outside_the_store(tmp_path, zoo):
    home = Path(os.environ["ZOO_HOME"])
    (home / "store" / "entries").mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep.json").write_text(json.dumps({"id": "keep", "kind": "pulled", "main": "a", "files": [{"path": "a", "sha256": "0" * 64, "size": 1}]}))
    (outside / "keep" / "file").write_text("mine")
    climb = os.path.relpath(outside, home / "store" / "entries")
    for query in (f"{climb}/keep", "..", "/etc/passwd", "x" * 300, "\x01x", "keep\n"):
        for command in ("rm", "path", "verify", "info"):
            result = zoo(command, query)
            assert result.returncode != 0 and "internal error" not in result.stderr, (command, query, result.stderr)
    assert (outside / "keep" / "file").read_text() == "mine" and (outside / "keep.json").exists()
    # An entry file that zoo did not write, naming paths that climb out, is not believed.
    forged = {"id": "forged", "kind": "pulled", "main": f"../../../{climb}/keep/file",
              "files": [{"path": f"../../../{climb}/keep/file", "sha256": "0" * 64, "size": 4}]}
    (home / "store" / "entries" / "forged.json").write_text(json.dumps(forged))
    for command in (["rm", "forged"], ["verify", "--full"], ["pull", "forged", "--repair"], ["ls"], ["gc"]):
        result = zoo(*command)
        assert "internal error" not in result.stderr, (command, result.stderr)
    assert (outside / "keep" / "file").read_text() == "mine"


# ---------------------------------------------------------------------------- 11. secrets stay out of children and messages

SECRETS = {
    "HF_TOKEN": "hf_CHILDsecret0123456789",
    "KAGGLE_KEY": "kaggleCHILDsecret0123",
    "KAGGLE_API_TOKEN": "KGAT_CHILDsecret0123",
    "AWS_SECRET_ACCESS_KEY": "awsCHILDsecret0123",
    "HTTPS_PROXY": "http://user:proxyCHILDsecret@127.0.0.1:9",
}


def test_a_toolchain_child_gets_an_allowlisted_environment_without_credentials(tmp_path, monkeypatch):
    import sys

    from registry.child import run_job

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    runner = tmp_path / "dump_env.py"
    runner.write_text("import json, os\nprint(json.dumps({'event': 'result', 'data': dict(os.environ)}))\n")
    seen = run_job(Path(sys.executable), runner, {}, tmp_path / "work", what="env dump").data
    assert not set(SECRETS) & set(seen)
    assert not any(secret in value for value in seen.values() for secret in SECRETS.values())
    assert seen["PATH"] and seen["OMP_NUM_THREADS"] == "2" and seen["HF_HUB_OFFLINE"] == "1"


def test_credentials_in_an_endpoint_url_are_never_printed(tmp_path, zoo):
    from registry.testing.hubs import HuggingFaceHub, KaggleHub
    from helpers import make_env

    with HuggingFaceHub() as hf, KaggleHub() as kaggle:
        env = make_env(tmp_path, (hf, kaggle))
        port = hf.endpoint.rsplit(":", 1)[-1]
        for endpoint in (f"http://alice:endpointSECRET@127.0.0.1:{port}", "http://alice:endpointSECRET@127.0.0.1:9"):
            result = zoo("pull", "tiny-hf-cpu-fp32", env=env | {"HF_ENDPOINT": endpoint, "ZOO_HTTP_RETRIES": "1"})
            assert result.returncode != 0
            assert "endpointSECRET" not in result.stderr + result.stdout, result.stderr
            assert "internal error" not in result.stderr


# ---------------------------------------------------------------------------- 12. server strings cannot drive the terminal


def test_escape_sequences_from_a_server_are_shown_not_obeyed(tmp_path, zoo):
    from registry.testing.hubs import KaggleHub

    with KaggleHub() as kaggle:
        kaggle.add_model("google/gemma/tfLite/gemma-2b-it-gpu-int4", {"evil\x1b]0;pwned\x07\x1b[2J\u202eexe.bin": b"x"},
                         version=2, gated=True, tokens={"KGAT_x"})
        result = zoo("pull", "gemma-2b-it-gpu-int4", env={"ZOO_KAGGLE_ENDPOINT": kaggle.endpoint, "KAGGLE_API_TOKEN": "KGAT_x"})
    assert result.returncode != 0 and "has no gemma-2b-it-gpu-int4.bin" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr and "\u202e" not in result.stderr
    assert "\\x1b]0;pwned" in result.stderr  # shown as text, so the user sees what the server sent


# ---------------------------------------------------------------------------- 13-15. plugins cannot pass for, shadow or exit zoo


def test_a_stray_distribution_named_zoo_is_not_taken_for_a_built_in(tmp_path, zoo):
    from registry.testing.plugins import write_plugin_distribution

    marker = tmp_path / "imported"
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo", "evil_hf", entry_point="source-huggingface", source=f"""
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
    result = zoo("plugins", "--json", env={"PYTHONPATH": str(site), "ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    [real] = [r for r in records if r["name"] == "source-huggingface" and r["builtin"]]
    assert real["status"] == "loaded" and "source:huggingface" in real["provides"]
    assert not marker.exists()  # the look-alike never ran
    assert all(not r["builtin"] for r in records if r["distribution"] == "zoo" and r["name"] == "source-huggingface" and r is not real)


SHADOW = """
schema_version = 1
family = "shadow"
description = "Tries to take the built-in family's name."

[[models]]
name = "gemma"
description = "Not Google's."
platforms = ["android"]
source = { kind = "huggingface", repo = "evil/gemma" }
license = { name = "MIT" }

[[models.variants]]
id = "shadow-gpu-int4"
backend = "gpu"
quantization = "int4"
format = "tflite"
files = [{ path = "model.tflite", role = "weights" }]
"""


def test_a_plugin_cannot_take_a_built_in_family_name_for_its_model(tmp_path, zoo):
    from registry.testing.plugins import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-shadow", "zoo_shadow", manifest=SHADOW)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_shadow"}
    records = {r["name"]: r for r in json.loads(zoo("plugins", "--json", env=env).stdout)}
    shadow = records["zoo_shadow"]
    assert shadow["status"] == "failed" and "'gemma'" in shadow["error"] and "gemma" in shadow["error"]
    assert "zoo_shadow" in shadow["error"]
    info = zoo("info", "gemma", "--backend", "gpu", "--quant", "int4", "--json", env=env)
    assert "shadow-gpu-int4" not in info.stdout and "evil/gemma" not in info.stdout


def test_a_plugin_that_raises_system_exit_fails_alone_and_never_exits_zoo_with_success(tmp_path, zoo):
    from registry.testing.plugins import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-exiter", "zoo_exiter", source="""
        from registry.hookspecs import hookimpl

        @hookimpl
        def register_families(register):
            raise SystemExit(0)
    """)
    write_plugin_distribution(site, "zoo-exitsource", "zoo_exitsource", manifest=LOCAL_MANIFEST.replace('"local", path = "files"', '"exiting"'),
                              source="""
        import sys
        from pathlib import Path
        from registry.components import SourceKind
        from registry.hookspecs import hookimpl

        class Exiting(SourceKind):
            name = "exiting"

            def prepare(self, context):
                sys.exit(0)

        @hookimpl
        def register_sources(register):
            register(Exiting())

        @hookimpl
        def register_families(register):
            register(Path(__file__).parent / "family.toml")
    """)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_exiter,zoo_exitsource"}
    listed = zoo("list", "--json", env=env)
    assert listed.returncode == 0 and "gemma-2b-it-gpu-int4" in listed.stdout
    records = {r["name"]: r for r in json.loads(zoo("plugins", "--json", env=env).stdout)}
    assert records["zoo_exiter"]["status"] == "failed" and "SystemExit" in records["zoo_exiter"]["error"]
    pulled = zoo("pull", "localrel-cpu-fp32", env=env)
    assert pulled.returncode != 0 and "zoo_exitsource" in pulled.stderr and "SystemExit" in pulled.stderr


# ---------------------------------------------------------------------------- 17. names that show as other names, types that are not


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.update(schema_version=1.0), "whole number"),
    (lambda d: d.update(schema_version=True), "whole number"),
    (lambda d: d["models"][0]["files"][0].update(size=True), "valid integer"),
    (lambda d: d["models"][0]["files"][0].update(path="model\u202egnp.tflite"), "bidi"),
    (lambda d: d["models"][0]["files"][0].update(path="mod\u200bel.tflite"), "zero-width"),
    (lambda d: d["models"][0]["files"][0].update(path="dir/" + "a" * 256), "255 bytes"),
    (lambda d: d["models"][0]["variants"][0].update(id="fuzz-lm\u202e"), "not a valid id"),
])
def test_names_and_types_a_manifest_may_not_use(mutate, problem):
    import copy

    from registry.errors import ManifestError
    from registry.manifest import parse_manifest
    from helpers import FUZZ_MANIFEST as BASE

    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(ManifestError, match=problem):
        parse_manifest(data, "x.toml")


def test_toml_nested_thousands_deep_is_a_clear_error(tmp_path, zoo):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    result = zoo("manifest", "validate", str(deep))
    assert result.returncode != 0 and "internal error" not in result.stderr + result.stdout and "thousands deep" in result.stdout


# ---------------------------------------------------------------------------- 1. checks that cannot be skipped


def test_a_ready_made_file_not_named_after_its_variant_is_still_checked(tmp_path, zoo):
    from registry.testing.hubs import HuggingFaceHub
    from registry.testing.plugins import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-community", "zoo_community", manifest=COMMUNITY_MANIFEST)
    with HuggingFaceHub() as hf:
        hf.add_repo("litert-community/Qwen2.5-0.5B-Instruct",
                    {"Qwen2.5-0.5B-Instruct_multi-prefill-seq_q8_ekv1280.task": b"not a task bundle, just text\n" * 83})
        env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_community", "HF_ENDPOINT": hf.endpoint, "HF_HUB_DISABLE_XET": "1"}
        info = json.loads(zoo("info", "qwenrel-cpu-int8", "--json", env=env).stdout)
        assert [o["path"] for o in info["outputs"]] == ["Qwen2.5-0.5B-Instruct_multi-prefill-seq_q8_ekv1280.task"]
        assert "task-bundle" in info["outputs"][0]["checks"]
        result = zoo("pull", "qwenrel-cpu-int8", env=env)
    assert result.returncode != 0 and "task-bundle" in result.stderr and "Nothing was stored" in result.stderr
    assert not list((Path(os.environ["ZOO_HOME"]) / "store" / "blobs" / "sha256").glob("*"))


def test_an_output_that_names_no_downloaded_file_is_refused_everywhere(tmp_path, zoo):
    from registry.testing.plugins import write_plugin_distribution

    text = COMMUNITY_MANIFEST + 'outputs = [{ path = "qwenrel-cpu-int8.task", checks = ["task-bundle"] }]\n'
    manifest = tmp_path / "family.toml"
    manifest.write_text(text)
    validate = zoo("manifest", "validate", str(manifest))
    assert validate.returncode != 0 and "none of the files" in validate.stdout + validate.stderr
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-community", "zoo_community", manifest=text)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_community"}
    check = zoo("plugins", "check", "zoo_community", env=env)
    assert check.returncode != 0 and "none of the files" in check.stdout + check.stderr


# ---------------------------------------------------------------------------- 3. a generation check needs generated text


def test_the_gpt2_generation_check_fails_when_nothing_follows_the_prompt(monkeypatch):
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "plugins" / "runners"))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "registry" / "runner"))
    from tflite_generate import generation_problems

    prompt = "My trip to Yosemite was"
    assert generation_problems(prompt, prompt + " amazing") == []
    [empty] = generation_problems(prompt, prompt)
    assert "no token after the prompt" in empty
    assert generation_problems(prompt, prompt + "  \n", reference=prompt + "  \n")  # equal to the reference, still empty
    assert "does not start with the prompt" in generation_problems(prompt, "something else")[0]
    sys.modules.pop("tflite_generate", None)


# ---------------------------------------------------------------------------- 8. verify and repair never follow what replaced a file


@pytest.mark.parametrize("damage", ["artifact-deleted", "blob-links-outside", "blob-is-dev-zero", "blob-is-fifo"])
def test_verify_and_repair_detect_and_mend_a_swapped_file_without_hanging(tmp_path, zoo, damage):
    env, _ = _pulled_local(tmp_path, zoo)
    store = Path(os.environ["ZOO_HOME"]) / "store"
    entry = json.loads((store / "entries" / "localrel-cpu-fp32.json").read_text())
    [f] = entry["files"]
    blob = store / "blobs" / "sha256" / f["sha256"]
    artifact = store / "artifacts" / "localrel-cpu-fp32" / f["path"]
    good = blob.read_bytes()
    if damage == "artifact-deleted":
        artifact.unlink()
    else:
        os.chmod(blob, 0o644)
        blob.unlink()
        if damage == "blob-links-outside":
            outside = tmp_path / "outside-copy"
            outside.write_bytes(good)
            blob.symlink_to(outside)
        elif damage == "blob-is-dev-zero":
            blob.symlink_to("/dev/zero")
        else:
            os.mkfifo(blob)
    checked = zoo("verify", "--full", "--json", env=env, timeout=60)
    assert checked.returncode != 0, checked.stdout
    [report] = json.loads(checked.stdout)
    assert not report["ok"] and report["files"][0]["problem"]
    repaired = zoo("pull", "localrel-cpu-fp32", "--repair", env=env, timeout=60)
    assert repaired.returncode == 0, repaired.stderr
    assert not blob.is_symlink() and blob.is_file() and blob.read_bytes() == good
    assert artifact.read_bytes() == good and os.path.samefile(artifact, blob)
    assert zoo("verify", "--full", env=env, timeout=60).returncode == 0


def test_a_lookup_of_a_base_id_names_its_lora_builds(tmp_path, zoo):
    """After `zoo build ... --lora`, the artifact is `<id>.lora-<hash>`; asking for `<id>` says so."""
    env, _ = _pulled_local(tmp_path, zoo)
    store = Path(os.environ["ZOO_HOME"]) / "store"
    entry = json.loads((store / "entries" / "localrel-cpu-fp32.json").read_text())
    lora_id = "localrel-cpu-fp32.lora-0123456789ab"
    (store / "entries" / "localrel-cpu-fp32.json").rename(store / "entries" / f"{lora_id}.json")
    (store / "entries" / f"{lora_id}.json").write_text(json.dumps(entry | {"id": lora_id}))
    result = zoo("path", "localrel-cpu-fp32", env=env)
    assert result.returncode != 0 and lora_id in result.stderr and "internal error" not in result.stderr


def test_a_zoo_home_zoo_may_not_write_is_one_clear_error(zoo):
    """/sys refuses mkdir even to root (EPERM), so this runs where the tests run as root too."""
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    for command in (["ls"], ["pull", "gemma-2b-it-gpu-int4"], ["gc"]):
        result = zoo(*command, env={"ZOO_HOME": "/sys/zoo-test-home"})
        assert result.returncode != 0 and "internal error" not in result.stderr, (command, result.stderr)
        assert "may not use /sys/zoo-test-home" in result.stderr and "ZOO_HOME" in result.stderr


def _pulled_local_at(tmp_path, zoo, path: str) -> dict:
    """The local test family with its one file at `path` (a subfolder) inside the artifact, pulled."""
    from registry.testing.plugins import write_plugin_distribution
    from registry.testing.tflite_builder import build_tflite

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-localrel", "zoo_localrel",
                              manifest=LOCAL_MANIFEST.replace('path = "model.tflite"', f'path = "{path}"'))
    (site / "zoo_localrel" / "files" / path).parent.mkdir(parents=True)
    (site / "zoo_localrel" / "files" / path).write_bytes(build_tflite(tensor_names=["w"]) + b"\1" * 300)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_localrel"}
    pulled = zoo("pull", "localrel-cpu-fp32", env=env)
    assert pulled.returncode == 0, pulled.stderr
    return env


def test_export_of_a_main_file_in_a_subfolder_lands_in_the_target_folder_itself(tmp_path, zoo):
    """A main file at `sub/model.tflite` made `zoo export` write to --to/sub/, which did not exist
    (FileNotFoundError, an internal error), or, planted as a link, pointed anywhere (issue 27)."""

    env = _pulled_local_at(tmp_path, zoo, "sub/model.tflite")
    assets, elsewhere = tmp_path / "assets", tmp_path / "elsewhere"
    assets.mkdir()
    elsewhere.mkdir()
    (assets / "sub").symlink_to(elsewhere)
    exported = zoo("export", "localrel-cpu-fp32", "--to", str(assets), env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.strip() == str(assets / "model.tflite") and (assets / "model.tflite").read_bytes()[4:8] == b"TFL3"
    assert not any(elsewhere.iterdir())


def test_a_signature_is_accepted_only_when_it_covers_every_file_of_the_artifact(tmp_path, zoo):
    """model-signing's default hashing skips .git/ and .github/ and records the skip, which verification then
    honours: a main file under .github/ was accepted under a signature that never covered it (issue 27)."""
    from registry import signing

    env = _pulled_local_at(tmp_path, zoo, ".github/model.tflite")
    artifact = Path(os.environ["ZOO_HOME"]) / "store" / "artifacts" / "localrel-cpu-fp32"
    key, pub = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    # a signature as model-signing signs by default (its CLI, another tool): .github/ skipped
    python = toolchain_python(signing.SIGNING)
    target = Path(os.environ["ZOO_HOME"]) / "signatures" / "localrel-cpu-fp32.sig"
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(python), "-c", "import sys, model_signing; model_signing.signing.Config()"
                    ".use_elliptic_key_signer(private_key=sys.argv[1]).sign(sys.argv[2], sys.argv[3])",
                    str(key), str(artifact), str(target)], check=True, capture_output=True)
    refused = zoo("verify", "localrel-cpu-fp32", "--signature", str(pub), env=env, timeout=300)
    message = " ".join(refused.stderr.split())
    assert refused.returncode == ExitCode.INTEGRITY and "does not cover .github/model.tflite" in message, message
    assert zoo("sign", "localrel-cpu-fp32", "--key", str(key), env=env, timeout=300).returncode == 0  # zoo signs every file
    accepted = zoo("verify", "localrel-cpu-fp32", "--signature", str(pub), env=env, timeout=300)
    assert accepted.returncode == 0, accepted.stderr


def test_a_hub_naming_another_files_git_blob_id_is_refused_even_when_a_sha256_vouches(tmp_path):
    """The store's source index maps a hub's git blob id to a stored blob, and later pulls reuse the blob by
    that id without a GET. The id was checked only when no sha256 was known, so a hostile HF_ENDPOINT could
    answer a pinned file with another file's id and poison every later pull of that other file (issue 27)."""
    from registry import fetch
    from registry.components import Transfer
    from registry.download import git_blob_sha1
    from registry.errors import IntegrityError

    local, other = tmp_path / "config.json", tmp_path / "other.json"
    local.write_bytes(b'{"model_type": "llama"}')
    other.write_bytes(b'{"model_type": "qwen2"}')
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    honest = Transfer("config.json", local.stat().st_size, "k", hub_git_sha1=git_blob_sha1(local))
    lying = Transfer("config.json", local.stat().st_size, "k", hub_git_sha1=git_blob_sha1(other))
    spec = type("Spec", (), {"path": "config.json"})()
    variant = type("Variant", (), {"id": "v", "manifest_path": "family.toml"})()
    fetch._verify_file(variant, spec, local, digest, local.stat().st_size, digest, None, "zoo.lock", honest)
    with pytest.raises(IntegrityError):
        fetch._verify_file(variant, spec, local, digest, local.stat().st_size, digest, None, "zoo.lock", lying)


def test_a_plugin_manifest_path_that_is_a_fifo_is_reported_not_waited_on(tmp_path, zoo):
    """Opening a FIFO for reading blocks until a writer comes: `zoo list` hung on such a manifest (issue 27)."""
    from registry.testing.plugins import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-fiforel", "zoo_fiforel")
    os.mkfifo(site / "zoo_fiforel" / "family.toml")
    listed = zoo("list", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_fiforel"}, timeout=60)
    assert listed.returncode == 0 and "gemma-2b-it-gpu-int4" in listed.stdout, listed.stderr
    plugins = zoo("plugins", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_fiforel"}, timeout=60)
    assert "is not a regular file" in " ".join((plugins.stdout + plugins.stderr).split())


def test_sign_and_push_never_read_or_write_through_links_planted_in_the_home(tmp_path, zoo):
    """`zoo sign` wrote its signature through a link planted at signatures/<id>.sig.partial; `zoo push`
    read a link planted in the artifact folder and sent whatever it pointed at; a damaged entry was
    pushed until the registry refused it with 'try again'."""
    from registry.testing.oci_registry import LocalRegistry

    env, _ = _pulled_local(tmp_path, zoo)
    home = Path(os.environ["ZOO_HOME"])
    [entry] = json.loads(zoo("ls", "--json", env=env, check=True).stdout)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the user's private notes")
    signatures = home / "signatures"
    signatures.mkdir(parents=True, exist_ok=True)
    (signatures / f"{entry['id']}.sig.partial").symlink_to(secret)
    key = tmp_path / "team.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    signed = zoo("sign", entry["id"], "--key", str(key), env=env, timeout=600)
    assert signed.returncode == 0, signed.stderr
    assert secret.read_bytes() == b"the user's private notes" and (signatures / f"{entry['id']}.sig").is_file()

    artifact = Path(entry["path"])
    artifact.unlink()
    artifact.symlink_to(secret)  # the artifact's name now points at the user's file
    with LocalRegistry(tmp_path / "registry") as registry:
        target = f"{registry.address}/team/x:v1"
        pushed = zoo("push", entry["id"], target, "--insecure", "--json", env=env, timeout=300)
        assert pushed.returncode == 0, pushed.stderr
        sent = [registry.blob_file(f"sha256:{f['sha256']}").read_bytes() for f in json.loads(
            zoo("info", entry["id"], "--json", env=env, check=True).stdout)["local"][0]["files"]]
        assert b"the user's private notes" not in b"".join(sent)
        assert not artifact.is_symlink()  # the name is its blob again
        stored = next(p for p in (home / "store" / "blobs" / "sha256").iterdir() if os.path.samefile(p, artifact))
        os.chmod(stored, 0o644)
        stored.write_bytes(b"\0" + stored.read_bytes()[1:])  # damaged in place: same size
        damaged = zoo("push", entry["id"], f"{registry.address}/team/y:v1", "--insecure", env=env)
    message = " ".join(damaged.stderr.split())
    assert damaged.returncode == ExitCode.INTEGRITY and "nothing was sent" in message and "try again" not in message, message
