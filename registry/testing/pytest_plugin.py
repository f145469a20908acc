"""zoo's test kit for plugin authors, as a pytest plugin. Enable it in your tests' conftest.py:

    from registry.api import TEST_KIT

    pytest_plugins = [TEST_KIT]

Reference: docs/testing.md; `pytest --fixtures` shows each fixture's docstring.

Fixtures:
    zoo_home        an isolated ZOO_HOME (and HOME, HF_HOME, KAGGLEHUB_CACHE), no credentials, no
                    other third-party plugins; every test gets its own
    plugin_catalog  plugin_catalog(plugin, name) -> a Catalog of the built-ins plus only your plugin
                    (a module or object with hook implementations), through a fresh plugin manager
    hf_hub          a local Hugging Face hub (registry.testing.hubs.HuggingFaceHub), HF_ENDPOINT set
    kaggle_hub      a local Kaggle API (registry.testing.hubs.KaggleHub), ZOO_KAGGLE_ENDPOINT set
    zoo_cli         zoo_cli("list", "--json") runs the real `zoo` in a child process with the above
Helper:
    assert_conforms(catalog, name)  fails listing every problem `zoo plugins check NAME` would report
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CREDENTIALS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN",
               "KAGGLE_CONFIG_DIR", "KAGGLE_KERNEL_RUN_TYPE", "TBE_RUNTIME_ADDR")


@contextmanager
def isolated_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ZOO_HOME, HOME and the hub caches under `home`; no credentials, no third-party plugins.

    zoo's own test suite isolates every test with this too, so authors test under the same rules.
    """
    from registry import catalog, settings

    monkeypatch.setenv("ZOO_HOME", str(home / "zoo"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(home / "kagglehub"))
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in CREDENTIALS + ("ZOO_LOAD_PLUGINS", "ZOO_OFFLINE", "HF_HUB_OFFLINE", "ZOO_DEBUG", "ZOO_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    settings.reload()
    catalog.reset()
    try:
        yield home
    finally:
        settings.reload()
        catalog.reset()


@pytest.fixture
def zoo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated home for one test: ZOO_HOME, HOME, HF_HOME and KAGGLEHUB_CACHE under tmp_path, no
    credentials in the environment, no third-party plugin but the ones the test loads. Yields the folder."""
    with isolated_environment(tmp_path / "zoo-test-home", monkeypatch) as home:
        yield home


@pytest.fixture
def plugin_catalog(zoo_home):
    """plugin_catalog(plugin, name) -> a Catalog of zoo's built-in plugins plus `plugin` (a module or
    object with hook implementations) registered as `name`, through a fresh plugin manager. Query it
    with catalog.rows[variant_id], catalog.variant(id), catalog.component(kind, name), catalog.records[name]."""
    from registry.catalog import Catalog
    from registry.plugins import PluginHost, discover_entry_points

    def make(plugin: object, name: str) -> Catalog:
        host = PluginHost()
        host.load_entry_points([ep for ep in discover_entry_points() if ep.builtin])
        host.register(plugin, name)
        return Catalog.load(host)

    return make


def assert_conforms(catalog, name: str) -> None:
    """Fail the test with every problem `zoo plugins check` finds in the plugin `name` (its manifests,
    components, toolchain locks and references), one per line."""
    from registry.conformance import check_plugin

    problems = check_plugin(name, catalog)
    assert not problems, f"plugin '{name}' does not conform:\n  " + "\n  ".join(problems)


@pytest.fixture
def hf_hub(monkeypatch):
    """A local Hugging Face Hub on 127.0.0.1 that the real huggingface_hub talks to (HF_ENDPOINT is set).

    hf_hub.add_repo(repo_id, {path: bytes | Path}, gated=False, tokens=None, lfs_suffixes=(...)) serves a
    repo: LFS files (.safetensors, .bin, .tflite, .task, .litertlm, ...) through a second, CDN origin.
    hf_hub.add_fault(key, Fault(...)) makes the next transfer stall, cut, lie or corrupt.
    """
    from registry.testing.hubs import HuggingFaceHub

    with HuggingFaceHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)  # read by child processes (zoo_cli)
        yield hub


@pytest.fixture
def kaggle_hub(monkeypatch):
    """A local Kaggle API on 127.0.0.1 that the real kagglehub SDK talks to (ZOO_KAGGLE_ENDPOINT is set).

    kaggle_hub.add_model("owner/model/framework/variation", {name: bytes | Path}, version=1, gated=False,
    tokens=None, zipped=None) serves a model instance version; `zipped` serves a file as a zip holding it.
    """
    from registry import settings
    from registry.testing.hubs import KaggleHub

    with KaggleHub() as hub:
        monkeypatch.setenv("ZOO_KAGGLE_ENDPOINT", hub.endpoint)
        settings.reload()
        yield hub


@pytest.fixture
def zoo_cli(zoo_home):
    """Run the real zoo CLI in a child process; pass env={...} to add variables (e.g. ZOO_LOAD_PLUGINS)."""

    def run(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 600):
        full = dict(os.environ) | (env or {})
        result = subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=full, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"zoo {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    return run
