"""A team converts once: `zoo build --cache oci://REGISTRY/REPO` against the real registry (docker-registry)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from helpers import run_zoo
from registry.testing.oci_registry import LocalRegistry

pytestmark = pytest.mark.slow


def build(env: dict, *extra: str) -> dict:
    done = run_zoo("build", "zoo-demo", "--insecure", "--json", *extra, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) | {"stderr": done.stderr}


def digests(built: dict) -> dict[str, str]:
    """The artifact's files (provenance.json, which records this build's own times, aside)."""
    folder = Path(built["path"]).parent
    return {f["path"]: hashlib.sha256((folder / f["path"]).read_bytes()).hexdigest() for f in built["files"]
            if f["path"] != "provenance.json"}


def keypair(stem: Path) -> tuple[Path, Path]:
    """An ECDSA P-256 private key and its public key (PEM), as `zoo sign` and `--require-signature` take them."""
    key, public = stem.with_suffix(".pem"), stem.with_suffix(".pub.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(public)], check=True, capture_output=True)
    return key, public


def test_a_build_made_once_is_pulled_by_the_next_home_without_a_toolchain(tmp_path):
    with LocalRegistry(tmp_path / "registry") as registry:
        cache = {"ZOO_BUILD_CACHE": f"oci://{registry.address}/team/zoo-cache"}
        first = build(cache | {"ZOO_HOME": str(tmp_path / "a")})
        assert first["cache_hit"] is False and "shared with the build cache" in first["stderr"]
        empty = tmp_path / "no-toolchains"
        empty.mkdir()
        second = build(cache | {"ZOO_HOME": str(tmp_path / "b"), "ZOO_TOOLCHAINS": str(empty)})
        assert second["cache_hit"] is True and second["seconds"] <= first["seconds"] / 10
        assert list(empty.iterdir()) == []  # no converter toolchain was made: the key came from the committed locks
        assert digests(second) == digests(first) and len(digests(first)) == 2
        info = run_zoo("info", "zoo-demo", "--json", env=cache | {"ZOO_HOME": str(tmp_path / "b")}, check=True)
        assert "zoo-cache" in info.stdout  # where it came from travels with it

        pulled = run_zoo("pull", "zoo-demo", "--insecure", "--json",
                         env=cache | {"ZOO_HOME": str(tmp_path / "f"), "ZOO_TOOLCHAINS": str(empty)})
        assert pulled.returncode == 0, pulled.stderr  # `zoo pull` of a built variant asks the cache first
        assert json.loads(pulled.stdout)[0]["id"] == "zoo-demo-cpu-int8" and list(empty.iterdir()) == []
        nowhere = run_zoo("pull", "zoo-demo", "--insecure", env={
            "ZOO_BUILD_CACHE": f"oci://{registry.address}/team/empty", "ZOO_HOME": str(tmp_path / "g")})
        assert nowhere.returncode == 2 and "has no build of it" in " ".join(nowhere.stderr.split())

        changed = build(cache | {"ZOO_HOME": str(tmp_path / "c")}, "--param", "kv_cache_max_len=32", "--no-run-check")
        assert changed["cache_hit"] is False

        key, public = keypair(tmp_path / "team")
        refusing = build(cache | {"ZOO_HOME": str(tmp_path / "e")}, "--require-signature", str(public), "--sign", str(key))
        assert refusing["cache_hit"] is False and "signature" in refusing["stderr"]  # the entry there is unsigned
        # that home built it here, signed it and shared it: now a signed entry answers the same key
        signed = build(cache | {"ZOO_HOME": str(tmp_path / "h"), "ZOO_TOOLCHAINS": str(empty)},
                       "--require-signature", str(public))
        assert signed["cache_hit"] is True and digests(signed) == digests(first), signed["stderr"]
        _, other = keypair(tmp_path / "other")
        stranger = build(cache | {"ZOO_HOME": str(tmp_path / "i")}, "--require-signature", str(other))
        assert stranger["cache_hit"] is False  # signed, but not by the key this home trusts
        assert "not shared with the build cache" in stranger["stderr"]  # and its unsigned build leaves the entry be
        again = build(cache | {"ZOO_HOME": str(tmp_path / "j")}, "--require-signature", str(public))
        assert again["cache_hit"] is True

        blobs = {p.parent.name: p for p in (registry.storage / "docker" / "registry" / "v2" / "blobs").rglob("data")}
        task = next(f for f in first["files"] if f["path"].endswith(".task"))
        tampered = blobs[task["sha256"]]
        data = bytearray(tampered.read_bytes())
        data[len(data) // 2] ^= 1
        tampered.write_bytes(bytes(data))
        rebuilt = build(cache | {"ZOO_HOME": str(tmp_path / "d")})
        assert rebuilt["cache_hit"] is False and "build cache's entry was refused" in " ".join(rebuilt["stderr"].split())
        assert digests(rebuilt) == digests(first)  # built here, reproducibly, to the same bytes
