"""Every test runs against an isolated ZOO_HOME, empty hub caches and no credentials.

Third-party plugins never load under tests (ZOO_DISABLE_PLUGIN_AUTOLOAD=1) unless a test
installs one and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.register_assert_rewrite("registry.testing.pytest_plugin")
from registry.api import TEST_KIT  # noqa: E402
from registry.testing.pytest_plugin import isolated_environment  # noqa: E402

from helpers import run_zoo, toolchain_python  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = [TEST_KIT]
"""The suite dogfoods zoo's public test kit: hf_hub, kaggle_hub, plugin_catalog and zoo_cli come from it."""
# Converter toolchains are big and slow to create: every test shares one stable directory
# (CI sets ZOO_TOOLCHAINS to a cache kept between runs) instead of a per-test ZOO_HOME.
os.environ.setdefault("ZOO_TOOLCHAINS", str(Path.home() / ".cache" / "zoo" / "toolchains"))


@pytest.fixture(autouse=True)
def isolated_zoo(tmp_path_factory, monkeypatch):
    with isolated_environment(tmp_path_factory.mktemp("zoo-home"), monkeypatch) as home:
        yield home


@pytest.fixture
def zoo():
    return run_zoo


@pytest.fixture
def catalog():
    """zoo's built-in catalog, loaded from the plugins (not a snapshot) in this test's home."""
    from registry.catalog import Catalog

    return Catalog.load()


@pytest.fixture(scope="session")
def litert_python():
    """The litert-torch toolchain's interpreter, created from its lock on first use."""
    from plugins.toolchains import LITERT_TORCH

    return toolchain_python(LITERT_TORCH)


@pytest.fixture(scope="session")
def mediapipe_python():
    from plugins.toolchains import MEDIAPIPE

    return toolchain_python(MEDIAPIPE)


@pytest.fixture(scope="session")
def falcon_checkpoint(mediapipe_python, tmp_path_factory):
    """A full-size FALCON_RW_1B checkpoint with random weights (2.8 GB), made once for the session
    (test_build.py converts it for cpu, test_web.py for gpu and the Web runtime)."""
    directory = tmp_path_factory.mktemp("falcon-checkpoint")
    subprocess.run([str(mediapipe_python), str(REPO / "registry" / "testing" / "make_checkpoint.py"), "FALCON_RW_1B", str(directory)],
                   check=True, capture_output=True)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# The generation check's scores on the real model and its mutations, printed at the end of the run, so
# the separation the thresholds rest on is in every test log (docs/export-hf.md has the measurements).
GENERATION_SCORES: list[tuple[str, dict, list[str]]] = []


@pytest.fixture
def record_scores():
    def record(case: str, details: dict) -> None:
        GENERATION_SCORES.append((case, details.get("scores") or {}, details.get("problems") or []))

    return record


def pytest_terminal_summary(terminalreporter):
    if not GENERATION_SCORES:
        return
    terminalreporter.section("generation check scores (hf-generation)")
    for case, scores, problems in GENERATION_SCORES:
        terminalreporter.write_line(
            f"{case:44} tokens {scores.get('tokens', '-'):>3}  reference's choice {scores.get('reference_choice_share', 0):6.1%}"
            f"  mean gap {scores.get('mean_gap', 0):6.3f}  nll excess {scores.get('nll_excess', 0):6.3f}"
            f"  {'FAILS' if problems else 'passes'}")
