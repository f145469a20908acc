"""Sharing artifacts through a real OCI registry (Debian's docker-registry, CNCF distribution 2.8):
`zoo push ID REGISTRY/REPO:TAG` and `zoo pull oci://...`, every blob checked against its digest.

The artifact pushed is a pull from the local Hugging Face hub (tests/test_pull.py's tiny variant):
three files, a .tflite among them, so the pull side runs its format check too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import HF_TOKEN, make_env
from registry.errors import ExitCode
from registry.testing.hubs import HuggingFaceHub, KaggleHub
from registry.testing.oci_registry import LocalRegistry

@pytest.fixture
def pushed_from(tmp_path):
    """A home holding tiny-hf-cpu-fp32, pulled from the local hub; yields its environment."""
    from registry.testing.tflite_builder import build_tflite

    files = {"model.tflite": build_tflite(tensor_names=["w"], subgraph_name="oci") + os.urandom(2_000_000),
             "model-int8.tflite": build_tflite(tensor_names=["w"], subgraph_name="oci8"),
             "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}', "config.json": b'{"hidden_size": 64}'}
    with HuggingFaceHub() as hf, KaggleHub() as kaggle:
        hf.add_repo("acme/tiny-lm", files)
        hf.add_repo("acme/gated-lm", {"model.tflite": files["model.tflite"]}, gated=True, tokens={HF_TOKEN})
        env = make_env(tmp_path / "pusher", (hf, kaggle)) | {"ZOO_HOME": str(tmp_path / "home-pusher")}
        from helpers import run_zoo

        run_zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
        yield env


def home(tmp_path: Path, name: str, env: dict) -> dict:
    return env | {"ZOO_HOME": str(tmp_path / name)}


def test_push_then_pull_into_an_empty_home_gives_the_same_files(pushed_from, tmp_path, zoo):
    with LocalRegistry(tmp_path / "registry") as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        first = json.loads(zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", "--json", env=pushed_from, check=True).stdout)
        assert first["uploaded"] == 3 and first["already_there"] == 0  # the pulled variant's three files
        again = json.loads(zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", "--json", env=pushed_from, check=True).stdout)
        assert again["uploaded"] == 0 and again["digest"] == first["digest"]  # nothing sent twice
        teammate = home(tmp_path, "home-teammate", pushed_from)
        [pulled] = json.loads(zoo("pull", f"oci://{target}", "--insecure", "--json", env=teammate, check=True).stdout)
        by_tag = json.loads(zoo("pull", f"oci://{registry.address}/team/tiny-lm@{first['digest']}", "--insecure", "--json",
                                env=teammate, check=True).stdout)[0]
    assert pulled["id"] == "tiny-hf-cpu-fp32" and by_tag["already_present"] is True
    original = Path(pushed_from["ZOO_HOME"]) / "store" / "artifacts" / "tiny-hf-cpu-fp32"
    copied = Path(pulled["path"]).parent
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in original.iterdir())
    for path in original.iterdir():
        assert (copied / path.name).read_bytes() == path.read_bytes()
    assert zoo("verify", "tiny-hf-cpu-fp32", env=teammate).returncode == 0


def test_a_blob_the_store_has_is_never_downloaded(pushed_from, tmp_path, zoo):
    with LocalRegistry(tmp_path / "registry") as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=pushed_from, check=True)
        zoo("rm", "tiny-hf-cpu-fp32", env=pushed_from, check=True)  # the entry goes, the blobs stay until gc
        [pulled] = json.loads(zoo("pull", f"oci://{target}", "--insecure", "--json", env=pushed_from, check=True).stdout)
    assert pulled["downloaded_bytes"] == 0 and pulled["reused_bytes"] > 0


def test_a_registry_serving_a_wrong_blob_is_refused_with_nothing_stored(pushed_from, tmp_path, zoo):
    with LocalRegistry(tmp_path / "registry") as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=pushed_from, check=True)
        [stored] = json.loads(zoo("info", "tiny-hf-cpu-fp32", "--json", env=pushed_from, check=True).stdout)["local"]
        weights = next(f for f in stored["files"] if f["path"] == "model.tflite")
        blob = registry.blob_file(f"sha256:{weights['sha256']}")
        data = bytearray(blob.read_bytes())
        data[100] ^= 0xFF  # the registry's disk now holds other bytes under the same digest
        blob.write_bytes(bytes(data))
        teammate = home(tmp_path, "home-teammate", pushed_from)
        result = zoo("pull", f"oci://{target}", "--insecure", env=teammate)
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and "sha256" in message and "internal error" not in message, message
    # the advice fits where it came from: not `zoo pull tiny-hf-cpu-fp32`, which would go to the hub
    assert "Run the same `zoo pull` again" in message and "zoo pull tiny-hf-cpu-fp32" not in message, message
    store = Path(teammate["ZOO_HOME"]) / "store"
    assert not (store / "artifacts" / "tiny-hf-cpu-fp32").exists()
    assert not (store / "blobs" / "sha256" / weights["sha256"]).exists()


def test_a_registry_that_redirects_its_blobs_is_followed(pushed_from, tmp_path, zoo):
    """CDN-backed registries answer blob requests with a 307 to their storage; zoo refused the config blob
    (fetched with redirects "on" but retries off, so never followed) instead of following it (issue 27)."""
    from registry.testing.oci_registry import RedirectingFront

    from registry.api import build_litertlm

    with LocalRegistry(tmp_path / "registry") as registry, RedirectingFront(registry.address) as front:
        zoo("push", "tiny-hf-cpu-fp32", f"{registry.address}/team/tiny-lm:fp32", "--insecure", env=pushed_from, check=True)
        teammate = home(tmp_path, "home-redirected", pushed_from)
        pulled = zoo("pull", f"oci://{front.address}/team/tiny-lm:fp32", "--insecure", env=teammate)
        # an artifact zoo did not push is described by its config blob, which comes by the redirect too
        oras_push(registry, "others/tiny:v1", {"tiny.litertlm": build_litertlm()}, tmp_path / "foreign",
                  {"descriptor": {"name": "tiny"}, "config": {}, "modelfs": {"type": "layers", "diffIds": ["x"]}})
        foreign = zoo("pull", f"oci://{front.address}/others/tiny:v1", "--insecure", env=teammate)
    assert pulled.returncode == 0, pulled.stderr
    assert foreign.returncode == 0, foreign.stderr
    assert any(request.startswith("GET") for request in front.blob_requests)  # the config came by the redirect


def test_registry_auth_failures_are_clear_and_credentials_never_printed(pushed_from, tmp_path, zoo):
    secret = "s3cret-Pa55word"
    with LocalRegistry(tmp_path / "registry", users={"ci": secret}) as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        anonymous = zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=pushed_from)
        wrong = zoo("push", "tiny-hf-cpu-fp32", target, "--insecure",
                    env=pushed_from | {"ZOO_REGISTRY_USER": "ci", "ZOO_REGISTRY_PASSWORD": "nope"})
        good_env = pushed_from | {"ZOO_REGISTRY_USER": "ci", "ZOO_REGISTRY_PASSWORD": secret}
        good = zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=good_env)
        pulled = zoo("pull", f"oci://{target}", "--insecure", env=home(tmp_path, "home-teammate", good_env))
        docker = tmp_path / "docker"
        docker.mkdir()
        import base64

        (docker / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": base64.b64encode(f"ci:{secret}".encode()).decode()}}}))
        from_docker = zoo("pull", f"oci://{target}", "--insecure", env=home(tmp_path, "home-docker", pushed_from) | {"DOCKER_CONFIG": str(docker)})
    for refused in (anonymous, wrong):
        message = " ".join(refused.stderr.split())
        assert refused.returncode != 0 and "ZOO_REGISTRY_USER" in message and "internal error" not in message, message
    # rejected credentials read as rejected, not as missing ones
    assert "none were found" in " ".join(anonymous.stderr.split())
    rejected = " ".join(wrong.stderr.split())
    assert "none were found" not in rejected and "zoo sent the credentials from ZOO_REGISTRY_USER" in rejected, rejected
    assert "nope" not in rejected
    assert good.returncode == 0, good.stderr
    assert pulled.returncode == 0, pulled.stderr
    assert from_docker.returncode == 0, from_docker.stderr
    for result in (anonymous, wrong, good, pulled, from_docker):
        assert secret not in result.stdout + result.stderr


def test_plain_http_is_only_for_a_registry_on_this_machine(pushed_from, zoo):
    result = zoo("push", "tiny-hf-cpu-fp32", "registry.example.com/team/lm:v1", "--insecure", env=pushed_from)
    assert result.returncode != 0 and "allowed for a registry on this machine only" in " ".join(result.stderr.split())
    bad = zoo("pull", "oci://registry.example.com/Team/LM:v1", env=pushed_from)
    assert bad.returncode != 0 and "is not an OCI reference" in " ".join(bad.stderr.split())


def test_a_pull_killed_mid_blob_resumes_where_it_stopped(pushed_from, tmp_path, zoo):
    """The relay holds the weights' response after 1 MiB; the pull is SIGKILLed there, and the next
    pull asks the registry for the rest only (a Range), ending with the same bytes."""
    import signal
    import subprocess
    import sys
    import time

    from registry.testing.oci_registry import PausingRelay

    with LocalRegistry(tmp_path / "registry") as registry:
        zoo("push", "tiny-hf-cpu-fp32", f"{registry.address}/team/tiny-lm:fp32", "--insecure", env=pushed_from, check=True)
        teammate = home(tmp_path, "home-teammate", pushed_from)
        partials = Path(teammate["ZOO_HOME"]) / "store" / "partials"
        with PausingRelay(registry.address, marker="/blobs/sha256:", pause_after=1 << 20) as relay:
            target = f"oci://{relay.address}/team/tiny-lm:fp32"
            child = subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", target, "--insecure", "-q"],
                                     env=os.environ | teammate, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(p.stat().st_size >= 512 << 10 for p in partials.glob("*.part")):
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)
            child.wait()
            held = max(p.stat().st_size for p in partials.glob("*.part"))
        assert held >= 512 << 10
        [pulled] = json.loads(zoo("pull", f"oci://{registry.address}/team/tiny-lm:fp32", "--insecure", "--json",
                                  env=teammate, check=True).stdout)
    weights = Path(pulled["path"]).parent / "model.tflite"
    original = Path(pushed_from["ZOO_HOME"]) / "store" / "artifacts" / "tiny-hf-cpu-fp32" / "model.tflite"
    assert weights.read_bytes() == original.read_bytes()
    assert pulled["downloaded_bytes"] <= sum(f["size"] for f in pulled["files"]) - held


def test_a_team_pulling_at_once_moves_each_blob_once_per_home(pushed_from, tmp_path, zoo):
    """Eight teammates pull the same artifact at the same moment into their own homes: all verify, and
    each home downloaded exactly the artifact's bytes (no blob twice)."""
    import subprocess
    import sys

    with LocalRegistry(tmp_path / "registry") as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=pushed_from, check=True)
        homes = [home(tmp_path, f"home-{i}", pushed_from) for i in range(8)]
        children = [subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", f"oci://{target}", "--insecure", "--json"],
                                     env=os.environ | h, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for h in homes]
        outputs = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
        [pulled] = json.loads(out)
        assert pulled["downloaded_bytes"] == sum(f["size"] for f in pulled["files"])
    for h in homes:
        assert zoo("verify", "--full", env=h).returncode == 0


def test_https_with_a_self_signed_certificate_and_htpasswd(pushed_from, tmp_path, zoo):
    """https by default: the registry's own certificate is trusted through ZOO_REGISTRY_CA, and a
    certificate nobody vouched for is refused with that fix."""
    with LocalRegistry(tmp_path / "registry", users={"ci": "pw-123"}, tls=True) as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        creds = {"ZOO_REGISTRY_USER": "ci", "ZOO_REGISTRY_PASSWORD": "pw-123"}
        untrusted = zoo("push", "tiny-hf-cpu-fp32", target, env=pushed_from | creds)
        trusted = pushed_from | creds | {"ZOO_REGISTRY_CA": str(registry.certificate)}
        pushed = zoo("push", "tiny-hf-cpu-fp32", target, env=trusted)
        pulled = zoo("pull", f"oci://{target}", "--json", env=home(tmp_path, "home-teammate", trusted))
    message = " ".join(untrusted.stderr.split())
    assert untrusted.returncode != 0 and "TLS certificate is not one this machine trusts" in message and "ZOO_REGISTRY_CA" in message
    assert pushed.returncode == 0, pushed.stderr
    assert pulled.returncode == 0 and json.loads(pulled.stdout)[0]["id"] == "tiny-hf-cpu-fp32", pulled.stderr


def test_a_manifest_can_name_an_oci_artifact_as_its_source(pushed_from, tmp_path, zoo):
    """A family's manifest points a ready-made variant at a registry (`source = { kind = "oci", ... }`),
    pinned by digest: `zoo pull NAME` fetches it like any other source, every file checked."""
    from registry.testing.plugins import write_plugin_distribution

    with LocalRegistry(tmp_path / "registry") as registry:
        pushed = json.loads(zoo("push", "tiny-hf-cpu-fp32", f"{registry.address}/team/tiny-lm:fp32", "--insecure", "--json",
                                env=pushed_from, check=True).stdout)
        [stored] = json.loads(zoo("info", "tiny-hf-cpu-fp32", "--json", env=pushed_from, check=True).stdout)["local"]
        weights = next(f for f in stored["files"] if f["path"] == "model.tflite")
        manifest = f"""
schema_version = 1
family = "teamzoo"
description = "Our team's builds."

[[models]]
name = "team-lm"
description = "The tiny LM, as our CI built it."
platforms = ["android"]
source = {{ kind = "oci", reference = "{registry.address}/team/tiny-lm@{pushed['digest']}", insecure = true }}
license = {{ name = "MIT", url = "https://opensource.org/license/mit" }}

[[models.variants]]
id = "team-lm-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [{{ path = "model.tflite", role = "weights", sha256 = "{weights['sha256']}", size = {weights['size']} }}]
"""
        site = write_plugin_distribution(tmp_path / "site", "zoo-teamzoo", "zoo_teamzoo", manifest=manifest)
        env = home(tmp_path, "home-team", pushed_from) | {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_teamzoo"}
        [pulled] = json.loads(zoo("pull", "team-lm", "--json", env=env, check=True).stdout)
    assert Path(pulled["path"]).read_bytes() == (Path(pushed_from["ZOO_HOME"]) / "store" / "artifacts" / "tiny-hf-cpu-fp32"
                                                 / "model.tflite").read_bytes()


def _keypair(directory: Path, name: str) -> tuple[Path, Path]:
    import subprocess

    key, pub = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    return key, pub


def test_signed_artifacts_are_accepted_by_the_right_key_only(pushed_from, tmp_path, zoo):
    """`zoo sign` (OpenSSF model signing, in its own toolchain) signs the stored files; `zoo push` hangs the
    signature on the artifact as a referrer (`sha256-<hex>.sig`); `zoo pull --require-signature` accepts
    the right key and refuses a wrong key and an unsigned artifact, keeping nothing; keys are never printed."""
    key, pub = _keypair(tmp_path, "team")
    _, other_pub = _keypair(tmp_path, "other")
    unsigned_check = zoo("verify", "tiny-hf-cpu-fp32", "--signature", str(pub), env=pushed_from, timeout=600)
    assert unsigned_check.returncode == ExitCode.INTEGRITY and "no signature" in unsigned_check.stderr
    signed = zoo("sign", "tiny-hf-cpu-fp32", "--key", str(key), env=pushed_from, timeout=600)
    assert signed.returncode == 0, signed.stderr
    local = zoo("verify", "tiny-hf-cpu-fp32", "--signature", str(pub), env=pushed_from, timeout=300)
    assert local.returncode == 0 and "signed  tiny-hf-cpu-fp32" in local.stdout, local.stderr
    wrong_local = zoo("verify", "tiny-hf-cpu-fp32", "--signature", str(other_pub), env=pushed_from, timeout=300)
    assert wrong_local.returncode == ExitCode.INTEGRITY and "Key mismatch" in " ".join(wrong_local.stderr.split())
    with LocalRegistry(tmp_path / "registry") as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        pushed = json.loads(zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", "--json", env=pushed_from, check=True).stdout)
        assert pushed["signed"] is True
        good = zoo("pull", f"oci://{target}", "--insecure", "--require-signature", str(pub),
                   env=home(tmp_path, "home-good", pushed_from), timeout=300)
        wrong_home = home(tmp_path, "home-wrong", pushed_from)
        wrong = zoo("pull", f"oci://{target}", "--insecure", "--require-signature", str(other_pub), env=wrong_home, timeout=300)
        # an artifact pushed by a home that never signed it
        unsigned_home = home(tmp_path, "home-unsigned", pushed_from)
        zoo("pull", f"oci://{target}", "--insecure", env=unsigned_home, check=True)
        (Path(unsigned_home["ZOO_HOME"]) / "signatures" / "tiny-hf-cpu-fp32.sig").unlink()
        zoo("push", "tiny-hf-cpu-fp32", f"{registry.address}/team/unsigned:v1", "--insecure", env=unsigned_home, check=True)
        never_home = home(tmp_path, "home-never", pushed_from)
        unsigned = zoo("pull", f"oci://{registry.address}/team/unsigned:v1", "--insecure", "--require-signature", str(pub),
                       env=never_home, timeout=300)
    assert good.returncode == 0, good.stderr
    for refused, home_env in ((wrong, wrong_home), (unsigned, never_home)):
        assert refused.returncode == ExitCode.INTEGRITY and "internal error" not in refused.stderr, refused.stderr
        assert json.loads(zoo("ls", "--json", env=home_env, check=True).stdout) == []
        # nothing kept: no blob, no signature (a refused one never replaces a kept one)
        store = Path(home_env["ZOO_HOME"]) / "store"
        assert not list((store / "blobs" / "sha256").glob("*")), refused.stderr
        assert not list((Path(home_env["ZOO_HOME"]) / "signatures").glob("*.sig*"))
    assert "Nothing was downloaded" in " ".join(unsigned.stderr.split())  # decided before any byte moved
    secret = key.read_text().split("-----")[2].strip().splitlines()[0]
    for result in (signed, local, good, wrong, unsigned):
        assert secret not in result.stdout + result.stderr


def test_a_registry_ca_that_is_not_a_file_is_named_as_such(tmp_path, zoo):
    """A ZOO_REGISTRY_CA pointing nowhere was reported as an untrusted certificate (issue 27)."""
    missing = tmp_path / "nowhere.pem"
    result = zoo("pull", "oci://registry.example.com/team/tiny-lm:fp32", env={"ZOO_REGISTRY_CA": str(missing)})
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and f"ZOO_REGISTRY_CA names {missing}, which is not a file" in message, message
    assert "certificate is not one this machine trusts" not in message


def test_insecure_against_an_https_registry_says_to_drop_it(pushed_from, tmp_path, zoo):
    """It said "HTTP 400 ... try again later", which no retry would fix (issue 27, messages)."""
    with LocalRegistry(tmp_path / "registry", tls=True) as registry:
        result = zoo("pull", f"oci://{registry.address}/team/tiny-lm:fp32", "--insecure", env=home(tmp_path, "h", pushed_from))
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and "refused plain http" in message and "Drop --insecure" in message, message


def test_a_remote_artifact_never_takes_over_a_local_id_that_came_from_elsewhere(pushed_from, tmp_path, zoo):
    """The config's id is the pusher's word: an artifact that calls other bytes tiny-hf-cpu-fp32, pulled into
    a home whose tiny-hf-cpu-fp32 came from the hub, replaced it. Now it is refused unless the user says
    --replace, and --as keeps both."""
    with LocalRegistry(tmp_path / "registry") as registry:
        zoo("pull", "tiny-hf-cpu-int8", env=pushed_from, check=True)
        zoo("push", "tiny-hf-cpu-int8", f"{registry.address}/team/int8:v1", "--insecure", env=pushed_from, check=True)
        evil = home(tmp_path, "home-evil", pushed_from)  # the int8 bytes, renamed and pushed as tiny-hf-cpu-fp32
        zoo("pull", f"oci://{registry.address}/team/int8:v1", "--insecure", "--as", "tiny-hf-cpu-fp32", env=evil, check=True)
        target = f"{registry.address}/team/evil:v1"
        zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=evil, check=True)
        mine = home(tmp_path, "home-mine", pushed_from)
        zoo("pull", "tiny-hf-cpu-fp32", env=mine, check=True)  # from the Hugging Face hub
        entry = Path(mine["ZOO_HOME"]) / "store" / "entries" / "tiny-hf-cpu-fp32.json"
        before = entry.read_bytes()
        refused = zoo("pull", f"oci://{target}", "--insecure", env=mine)
        message = " ".join(refused.stderr.split())
        assert refused.returncode != 0 and "was pulled from huggingface (acme/tiny-lm)" in message, message
        assert "--as ID" in message and "--replace" in message and entry.read_bytes() == before
        kept = json.loads(zoo("pull", f"oci://{target}", "--insecure", "--as", "team-tiny", "--json", env=mine, check=True).stdout)
        assert kept[0]["id"] == "team-tiny" and entry.read_bytes() == before
        replaced = zoo("pull", f"oci://{target}", "--insecure", "--replace", env=mine)
        assert replaced.returncode == 0, replaced.stderr
        assert json.loads(entry.read_text())["source"]["kind"] == "oci"
        again = zoo("pull", f"oci://{target}", "--insecure", "--json", env=mine)  # the same repository: no question
        assert again.returncode == 0 and json.loads(again.stdout)[0]["already_present"] is True


def test_a_remote_artifact_never_takes_the_name_of_a_builds_inputs(tmp_path):
    from registry.catalog import get_catalog
    from registry.errors import ZooError
    from registry.fetch import claim_remote_id

    variant = get_catalog().variant("gemma-2b-it-gpu-int4")
    for named, local_id in (("phi-2.inputs", None), ("gemma-2b-it-gpu-int4", "phi-2.inputs")):
        with pytest.raises(ZooError, match="inputs|no id"):
            claim_remote_id(variant.model_copy(update={"id": named}), "oci://example/x:y", local_id=local_id)


class _TokenWorld:
    """A registry on 127.0.0.1 whose 401 names a token service (`realm`: on another origin, or its own
    /token), and that token service, which records what it was sent and answers as told: a token, a
    huge body, or a gzip bomb."""

    def __init__(self, answer: str = "token", realm: str = "another origin") -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        world, self.answer, self.authorizations, self.sent_bytes = self, answer, [], 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/token"):
                    self._token()
                    return
                where = world.token if realm == "another origin" else world.registry
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{where.server_address[1]}/token"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _token(self):
                world.authorizations.append(self.headers.get("Authorization"))
                if world.answer == "huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                    try:
                        for _ in range(1 << 10):
                            self.wfile.write(b" " * (1 << 20))
                            world.sent_bytes += 1 << 20
                    except OSError:
                        pass
                    return
                if world.answer == "bomb":
                    import gzip

                    body = gzip.compress(b" " * (256 << 20))
                    self.send_response(200)
                    self.send_header("Content-Encoding", "gzip")
                else:
                    body = json.dumps({"token": "t0ken"}).encode()
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.registry = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.token = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        for server in (self.registry, self.token):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in (self.registry, self.token):
            server.shutdown()
            server.server_close()


def test_registry_credentials_never_travel_in_clear_text_to_another_host(zoo):
    """A plain-http registry the user allowed (--insecure, loopback) named a plain-http token service on
    another origin, and zoo sent it the registry password."""
    world = _TokenWorld()
    try:
        result = zoo("pull", f"oci://127.0.0.1:{world.registry.server_address[1]}/team/x:v1", "--insecure",
                     env={"ZOO_REGISTRY_USER": "ci", "ZOO_REGISTRY_PASSWORD": "s3cret-pw"})
    finally:
        world.close()
    message = " ".join(result.stderr.split())
    assert result.returncode == ExitCode.ACCESS_DENIED and "plain http on another host" in message, message
    assert world.authorizations == [] and "s3cret-pw" not in result.stdout + result.stderr


@pytest.mark.parametrize("answer", ["huge", "bomb"])
def test_a_token_answer_is_read_bounded_and_never_inflated(answer):
    """A token service's answer was read whole (1 GiB: 1 GB of memory) and decoded (a gzip bomb: more)."""
    from registry.errors import NetworkError as Refused
    from registry.oci import Reference, Registry

    world = _TokenWorld(answer, realm="its own origin")
    try:
        registry = Registry(Reference.parse(f"127.0.0.1:{world.registry.server_address[1]}/team/x:v1"), insecure=True)
        with pytest.raises(Refused) as refused:
            registry._authenticate(f'Bearer realm="http://127.0.0.1:{world.registry.server_address[1]}/token"')
    finally:
        world.close()
    assert ("compressed" if answer == "bomb" else "more than 65536 bytes") in refused.value.message
    assert world.sent_bytes < 64 << 20  # zoo stopped reading long before the gigabyte


def test_an_artifact_naming_a_file_and_a_folder_alike_is_refused_before_any_byte(pushed_from, tmp_path, zoo):
    """Layers titled `model.tflite` and `model.tflite/x` ended in FileExistsError (an internal error)."""
    from registry.oci import Reference, Registry

    with LocalRegistry(tmp_path / "registry") as registry:
        zoo("push", "tiny-hf-cpu-fp32", f"{registry.address}/team/tiny:v1", "--insecure", env=pushed_from, check=True)
        remote = Registry(Reference.parse(f"{registry.address}/team/tiny:v1"), insecure=True, push=True)
        manifest, _ = remote.get_manifest()
        first = manifest["layers"][0]
        manifest["layers"].append(first | {"annotations": {"org.opencontainers.image.title": first["annotations"]["org.opencontainers.image.title"] + "/x"}})
        remote.put_manifest("clash", json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
        teammate = home(tmp_path, "home-teammate", pushed_from)
        result = zoo("pull", f"oci://{registry.address}/team/tiny:clash", "--insecure", env=teammate)
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and "both as a file and as the folder of" in message and "internal error" not in message, message
    assert not list((Path(teammate["ZOO_HOME"]) / "store" / "blobs" / "sha256").glob("*"))


def helper_script(directory: Path, name: str, registry: str, user: str, secret: str) -> Path:
    """A `docker-credential-NAME` program as docker's helpers behave: the registry on stdin, JSON out,
    exit 1 with docker's words for any other registry. It logs each registry it was asked about."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / f"docker-credential-{name}"
    script.write_text(f"""#!/bin/sh
[ "$1" = get ] || exit 2
read -r asked
echo "$asked" >> "{directory}/asked.log"
if [ "$asked" = "{registry}" ]; then
  printf '{{"ServerURL": "%s", "Username": "{user}", "Secret": "{secret}"}}' "$asked"
else
  echo "credentials not found in native keychain"; exit 1
fi
""")
    script.chmod(0o755)
    return directory


def test_credentials_come_from_docker_credential_helpers_and_scheme_keyed_auths(pushed_from, tmp_path, zoo):
    """credHelpers and credsStore are asked as docker asks them; an auths key with a scheme and a path
    matches its host; the secret never shows."""
    import base64

    secret = "helper-s3cret-9876"
    with LocalRegistry(tmp_path / "registry", users={"ci": secret}) as registry:
        target = f"{registry.address}/team/tiny-lm:fp32"
        bin_dir = helper_script(tmp_path / "bin", "zootest", registry.address, "ci", secret)
        path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        results = {}
        for case, config in {
            "credHelpers": {"credHelpers": {registry.address: "zootest"}},
            "credsStore": {"credsStore": "zootest", "auths": {registry.address: {}}},
            "auths with a scheme": {"auths": {f"http://{registry.address}/v2/": {
                "auth": base64.b64encode(f"ci:{secret}".encode()).decode()}}},
        }.items():
            docker = tmp_path / f"docker-{len(results)}"
            docker.mkdir()
            (docker / "config.json").write_text(json.dumps(config))
            env = pushed_from | path | {"DOCKER_CONFIG": str(docker)}
            results[case] = zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=env)
        missing = tmp_path / "docker-missing"
        missing.mkdir()
        (missing / "config.json").write_text(json.dumps({"credHelpers": {registry.address: "nosuchhelper"}}))
        absent = zoo("push", "tiny-hf-cpu-fp32", target, "--insecure", env=pushed_from | {"DOCKER_CONFIG": str(missing)})
    for case, result in results.items():
        assert result.returncode == 0, f"{case}: {result.stderr}"
        assert secret not in result.stdout + result.stderr
    assert registry.address in (bin_dir / "asked.log").read_text()
    said = " ".join(absent.stderr.split())
    assert absent.returncode == int(ExitCode.ACCESS_DENIED) and "docker-credential-nosuchhelper" in said


def registry_json(registry, path: str, accept: str = "application/vnd.oci.image.manifest.v1+json") -> dict:
    import urllib.request

    request = urllib.request.Request(f"http://{registry.address}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_the_pushed_config_passes_modelpacks_own_config_schema(pushed_from, tmp_path, zoo):
    """The spec's schema/config-schema.json (vendored with its licence in tests/data/modelpack) allows no
    property of zoo's own: zoo's description travels in a manifest annotation; layers carry the spec's
    org.cncf.model.filepath."""
    import jsonschema

    schema = json.loads((Path(__file__).parent / "data" / "modelpack" / "config-schema.json").read_text())
    with LocalRegistry(tmp_path / "registry") as registry:
        zoo("push", "tiny-hf-cpu-fp32", f"{registry.address}/team/tiny-lm:fp32", "--insecure", env=pushed_from, check=True)
        manifest = registry_json(registry, "team/tiny-lm/manifests/fp32")
        config = registry_json(registry, f"team/tiny-lm/blobs/{manifest['config']['digest']}", accept="*/*")
        pulled = zoo("pull", f"oci://{registry.address}/team/tiny-lm:fp32", "--insecure", "--json",
                     env=home(tmp_path, "home-teammate", pushed_from))
    jsonschema.validate(config, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert all(layer["annotations"]["org.cncf.model.filepath"] == layer["annotations"]["org.opencontainers.image.title"]
               for layer in manifest["layers"])
    assert json.loads(manifest["annotations"]["dev.zoo.description"])["main"] == "model.tflite"
    assert pulled.returncode == 0 and json.loads(pulled.stdout)[0]["id"] == "tiny-hf-cpu-fp32", pulled.stderr


def oras_push(registry, target: str, files: dict[str, bytes], directory: Path, config: dict) -> None:
    """A ModelPack artifact pushed by another tool: the ORAS Python SDK, as a team's pipeline would."""
    import oras.client

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    paths, annotations = [], {}
    for name, data in files.items():
        (directory / name).write_bytes(data)
        media = "application/vnd.cncf.model.doc.v1.raw" if name.endswith(".md") else "application/vnd.cncf.model.weight.v1.raw"
        paths.append(f"{name}:{media}")
        annotations[name] = {"org.cncf.model.filepath": name}
    (directory / "annotations.json").write_text(json.dumps(annotations))
    client = oras.client.OrasClient(hostname=registry.address, insecure=True)
    cwd = os.getcwd()
    os.chdir(directory)  # oras names each layer after the path it is given
    try:
        client.push(f"{registry.address}/{target}", files=paths, annotation_file="annotations.json",
                    manifest_config="config.json:application/vnd.cncf.model.config.v1+json")
    finally:
        os.chdir(cwd)


def test_a_modelpack_artifact_another_tool_pushed_pulls_with_what_zoo_cannot_check_named(tmp_path, zoo):
    from registry.api import build_litertlm

    config = {"descriptor": {"name": "Tiny-LM", "licenses": ["Apache-2.0"]}, "config": {"format": "litertlm",
              "quantization": "int8"}, "modelfs": {"type": "layers", "diffIds": ["sha256:" + "0" * 64]}}
    model = build_litertlm()
    with LocalRegistry(tmp_path / "registry") as registry:
        oras_push(registry, "others/tiny-lm:v1", {"tiny.litertlm": model, "README.md": b"# Tiny\n"}, tmp_path / "good", config)
        oras_push(registry, "others/junk:v1", {"junk.litertlm": b"LITERTLM" + b"\0" * 100}, tmp_path / "junk", config)
        env = {"ZOO_HOME": str(tmp_path / "home")}
        pulled = zoo("pull", f"oci://{registry.address}/others/tiny-lm:v1", "--insecure", "--json", env=env)
        junk = zoo("pull", f"oci://{registry.address}/others/junk:v1", "--insecure", env=env)
    assert pulled.returncode == 0, pulled.stderr
    [row] = json.loads(pulled.stdout)
    assert row["id"].startswith("tiny-lm-") and {f["path"] for f in row["files"]} == {"tiny.litertlm", "README.md"}
    assert "Not checked (no loaded plugin checks their format): README.md" in " ".join(pulled.stderr.split())
    assert zoo("verify", row["id"], env=env).returncode == 0
    described = " ".join(zoo("info", row["id"], env=env).stdout.split())
    assert f"came from {registry.address}/others/tiny-lm@sha256:" in described and "format litertlm" in described
    assert junk.returncode == int(ExitCode.INTEGRITY) and "litertlm-bundle" in " ".join(junk.stderr.split())
    assert "junk" not in zoo("ls", env=env).stdout
