"""examples/zoo-tinystories installed with pip into a fresh virtual environment, used as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_the_example_plugin_works_from_a_fresh_environment(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + [f"{REPO}[test]"], check=True, capture_output=True)
    subprocess.run(pip + [str(REPO / "examples" / "zoo-tinystories")], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_DISABLE_PLUGIN_AUTOLOAD", "ZOO_LOAD_PLUGINS")}
    env["ZOO_HOME"] = str(tmp_path / "home")
    zoo = [str(venv / "bin" / "zoo")]

    def run(*args, timeout=600):
        result = subprocess.run(zoo + list(args), capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp_path)
        assert result.returncode == 0, f"zoo {' '.join(args)}: {result.stderr}"
        return result.stdout

    plugins = {p["name"]: p for p in json.loads(run("plugins", "--json"))}
    assert plugins["tinystories"]["distribution"] == "zoo-tinystories" and plugins["tinystories"]["status"] == "loaded"
    assert [r["id"] for r in json.loads(run("list", "--family", "tinystories", "--json"))] == ["tinystories-cpu-int8"]
    assert "--param architecture_module=architecture.py" in run("info", "tinystories")  # zoo's converter, its module
    assert run("plugins", "check", "tinystories").startswith("ok")
    tests = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(REPO / "examples" / "zoo-tinystories" / "tests")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    built = json.loads(run("build", "tinystories", "--from", str(REPO / "manifests" / "zoo-demo"), "--json"))
    assert {f["path"] for f in built["files"]} == {"tinystories-cpu-int8.task", "tinystories-cpu-int8.litertlm", "provenance.json"}
    # its own check ran in its own toolchain, installed from the lock the package ships
    [vocabulary] = [c for c in built["provenance"]["checks"] if c["check"] == "tinystories-vocabulary"]
    assert vocabulary["details"]["problems"] == [] and "<s>, </s>" in vocabulary["details"]["summary"]
    lock = REPO / "examples" / "zoo-tinystories" / "zoo_tinystories" / "locks" / "tinystories-sentencepiece" / "linux-x86_64-py3.11.txt"
    toolchain = built["provenance"]["toolchains"]["tinystories-sentencepiece"]
    assert toolchain["lock_sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    assert "sentencepiece==0.2.3" in toolchain["lock"]
