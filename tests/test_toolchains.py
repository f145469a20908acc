"""Toolchains install from committed, hashed locks, and only from them.

The built-in locks are exercised for real: the slow test creates every declared toolchain that is
missing from its lock and compares what got installed with the lock, package by package, so a fresh
machine (CI's included) proves the committed locks still install and import.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest

from helpers import pure_wheel


@pytest.fixture
def local_packages(tmp_path, monkeypatch):
    """A folder of packages the user's pip configuration points at (pip and setuptools still come
    from the configured index), and an empty toolchains directory."""
    from registry import settings

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pure_wheel(wheels, "zoo-probe-dep", "1.0")
    pure_wheel(wheels, "zoo-probe-pkg", "1.0", requires=("zoo-probe-dep>=1",))
    monkeypatch.setenv("ZOO_TOOLCHAINS", str(tmp_path / "toolchains"))
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    settings.reload()
    return wheels


def _probe_spec(locks, requirements=("zoo-probe-pkg==1.0",)):
    from registry.components import Toolchain

    return Toolchain("probe", requirements, probe="import zoo_probe_pkg, zoo_probe_dep", locks=locks)


def test_a_locked_toolchain_installs_exactly_its_lock_and_is_keyed_by_it(local_packages, tmp_path):
    from registry import toolchain_locks, toolchains

    spec = _probe_spec(tmp_path / "locks")
    lock_path = toolchains.make_lock(spec)
    text = lock_path.read_text()
    assert lock_path.name == f"{toolchain_locks.platform_tag('3.11')}.txt"
    # the transitive dependency and the environment's own installers are pinned, each with its file's hash
    for name in ("zoo-probe-pkg==1.0", "zoo-probe-dep==1.0", "pip==", "setuptools=="):
        assert re.search(rf"^{re.escape(name)}\S* \\\n    --hash=sha256:[0-9a-f]{{64}}$", text, re.M), name
    wheel_digest = hashlib.sha256((local_packages / "zoo_probe_dep-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    assert f"--hash=sha256:{wheel_digest}" in text

    lines: list[str] = []
    env = toolchains.ensure(spec, lines.append)
    lock = toolchain_locks.find(spec)
    assert env.lock_digest == lock.digest == hashlib.sha256(lock_path.read_bytes()).hexdigest()
    assert any(f"from {lock_path}" in line for line in lines)
    assert toolchain_locks.differences(lock, toolchains._pins(spec, toolchains._freeze(env.interpreter))) == []
    assert toolchains.doctor(env, spec.probe) == []

    # another lock (a new release of the dependency) is another environment, and so another build key
    pure_wheel(local_packages, "zoo-probe-dep", "1.1")
    toolchains.make_lock(spec)
    assert toolchain_locks.find(spec).digest != lock.digest
    assert toolchains.location(spec) != env.path and toolchains.find(spec) is None
    relocked = toolchains.ensure(spec)
    assert "zoo-probe-dep==1.1" in relocked.lock


def test_a_lock_whose_hash_was_altered_installs_nothing(local_packages, tmp_path):
    from registry import toolchains
    from registry.errors import ToolchainError

    spec = _probe_spec(tmp_path / "locks")
    lock_path = toolchains.make_lock(spec)
    digest = hashlib.sha256((local_packages / "zoo_probe_pkg-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    altered = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    lock_path.write_text(lock_path.read_text().replace(digest, altered))
    with pytest.raises(ToolchainError) as refused:
        toolchains.ensure(spec)
    assert "hash mismatch for `zoo-probe-pkg==1.0`" in refused.value.message.lower()
    assert digest in refused.value.message and "zoo toolchain install probe" in refused.value.fix
    assert toolchains.find(spec) is None and not any(toolchains.root().glob("*probe*/"))


def test_a_stale_lock_or_a_platform_it_does_not_cover_is_refused_before_installing(local_packages, tmp_path, monkeypatch):
    from registry import toolchain_locks, toolchains
    from registry.errors import ToolchainError

    locks = tmp_path / "locks"
    toolchains.make_lock(_probe_spec(locks))
    with pytest.raises(ToolchainError) as stale:
        toolchains.ensure(_probe_spec(locks, ("zoo-probe-pkg==1.0", "zoo-probe-dep==1.0")))
    assert "made from other requirements" in stale.value.message and "zoo toolchain lock probe" in stale.value.fix

    here = toolchain_locks.platform_tag("3.11")
    monkeypatch.setattr(toolchain_locks, "platform_tag", lambda python: f"plan9-mips-py{python}")
    with pytest.raises(ToolchainError) as uncovered:
        toolchains.ensure(_probe_spec(locks))
    message = uncovered.value.message
    assert "(plan9-mips-py3.11; it covers " + here + ")" in message and str(locks) in message
    assert "zoo toolchain lock probe" in uncovered.value.fix
    assert not (tmp_path / "toolchains").exists() or not any((tmp_path / "toolchains").iterdir())


def test_doctor_names_each_package_that_differs_from_the_lock(local_packages, tmp_path):
    from registry import toolchains

    spec = _probe_spec(tmp_path / "locks")
    toolchains.make_lock(spec)
    env = toolchains.ensure(spec)
    pure_wheel(local_packages, "zoo-probe-dep", "2.0")
    pure_wheel(local_packages, "zoo-probe-extra", "1.0")
    subprocess.run([str(env.interpreter), "-m", "pip", "install", "-q", "zoo-probe-dep==2.0", "zoo-probe-extra==1.0"], check=True)
    problems = toolchains.doctor(env, spec.probe)
    assert "differs from its lock: zoo-probe-dep is 2.0, the lock has 1.0" in problems
    assert "differs from its lock: zoo-probe-extra 1.0 is installed but not in the lock" in problems


def test_plugins_check_refuses_a_pip_toolchain_that_is_not_exactly_pinned():
    from registry.components import Converter, Toolchain
    from registry.conformance import _component_problems

    def problems(toolchain):
        converter = type("C", (Converter,), {"name": "c", "description": "d", "toolchain": toolchain})()
        return _component_problems("converter", "c", converter)

    assert problems(Toolchain("t", ("torch==2.13.0", "gguf[gpu]==0.19.0", "x==1; sys_platform == 'linux'"))) == []
    refused = problems(Toolchain("t", ("numpy", "tensorflow==2.19.*", "jax>=0.10", "a==1,==1")))
    assert len(refused) == 4 and all("is not an exact pin" in p for p in refused)


def test_every_builtin_toolchain_declares_exact_pins_and_a_current_lock_for_this_platform(zoo):
    rows = json.loads(zoo("toolchain", "list", "--json", check=True).stdout)
    assert {r["name"] for r in rows} >= {"litert-torch", "mediapipe", "tensorflow-2.19", "model-signing", "web"}
    for row in rows:
        assert row["lock"] and len(row["lock_sha256"]) == 64, row["name"]
    litert_torch = next(r for r in rows if r["name"] == "litert-torch")
    assert "transformers==5.24.0" in litert_torch["requirements"]  # 5.25.0 broke export_hf (with kernels 0.19.1)
    assert zoo("plugins", "check", "converter-export-hf").returncode == 0


@pytest.mark.slow
def test_each_builtin_toolchain_installs_from_its_lock_and_holds_exactly_it():
    """Creates what is missing (a fresh machine: minutes), then compares every package with the lock."""
    from registry import settings, toolchain_locks, toolchains
    from registry.catalog import get_catalog

    settings.reload()
    for name, spec in get_catalog().toolchains().items():
        env = toolchains.ensure(spec, print)
        lock = toolchain_locks.find(spec)
        assert env.lock_digest == lock.digest, name
        installed = toolchains._npm_lock(env.path) if spec.kind == "npm" else toolchains._freeze(env.interpreter)
        assert toolchain_locks.differences(lock, toolchains._pins(spec, installed)) == [], name
        assert toolchains.doctor(env, spec.probe if spec.kind == "pip" else None) == [], name


def test_running_a_stored_model_needs_none_of_the_converter_stacks():
    """`zoo run`, `--chat`, `verify --run` and `pull --run-check` used the ~4 GB litert-torch toolchain
    although they only call litert_lm; LiteRT-LM's runtime now has its own toolchain (issue 29)."""
    from registry.catalog import get_catalog

    runtime = get_catalog().component("runtime", "litert-lm")
    assert runtime.toolchain.name == "litert-lm"
    lock = (runtime.toolchain.locks / "linux-x86_64-py3.11.txt").read_text()
    pinned = {line.split("==")[0] for line in lock.splitlines() if "==" in line and not line.startswith("#")}
    assert "litert-lm-api" in pinned and not pinned & {"torch", "tensorflow", "tensorflow-cpu", "transformers", "jax"}
