"""Every test runs against an isolated ZOO_HOME, empty hub caches and no credentials.

Third-party plugins never load under tests (ZOO_DISABLE_PLUGIN_AUTOLOAD=1) unless a test
installs one and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Converter toolchains are big and slow to create: every test shares one stable directory
# (CI sets ZOO_TOOLCHAINS to a cache kept between runs) instead of a per-test ZOO_HOME.
os.environ.setdefault("ZOO_TOOLCHAINS", str(Path.home() / ".cache" / "zoo" / "toolchains"))
SECRET_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "KAGGLE_USERNAME",
    "KAGGLE_KEY",
    "KAGGLE_API_TOKEN",
    "KAGGLE_CONFIG_DIR",
    "KAGGLE_KERNEL_RUN_TYPE",
    "TBE_RUNTIME_ADDR",
)


@pytest.fixture(autouse=True)
def isolated_zoo(tmp_path_factory, monkeypatch):
    from registry import catalog, settings

    home = tmp_path_factory.mktemp("zoo-home")
    monkeypatch.setenv("ZOO_HOME", str(home / "zoo"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(home / "kagglehub"))
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in SECRET_VARIABLES + ("ZOO_LOAD_PLUGINS", "ZOO_OFFLINE", "HF_HUB_OFFLINE", "ZOO_DEBUG", "ZOO_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    settings.reload()
    catalog.reset()
    yield home
    settings.reload()
    catalog.reset()


def run_zoo(*args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `zoo` console entry point in a child process with the test's environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO
    )
    if check and result.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def zoo():
    return run_zoo
