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

pytest.register_assert_rewrite("registry.testing.pytest_plugin")  # test_hooks.py loads it as a plugin too
from registry.testing.pytest_plugin import isolated_environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Converter toolchains are big and slow to create: every test shares one stable directory
# (CI sets ZOO_TOOLCHAINS to a cache kept between runs) instead of a per-test ZOO_HOME.
os.environ.setdefault("ZOO_TOOLCHAINS", str(Path.home() / ".cache" / "zoo" / "toolchains"))


@pytest.fixture(autouse=True)
def isolated_zoo(tmp_path_factory, monkeypatch):
    with isolated_environment(tmp_path_factory.mktemp("zoo-home"), monkeypatch) as home:
        yield home


def toolchain_python(spec) -> Path:
    """The Python of a converter toolchain, created in ZOO_TOOLCHAINS on first use (minutes), then reused."""
    from registry import settings, toolchains

    settings.reload()  # module-scoped fixtures run outside a test's isolated settings
    return toolchains.ensure(spec, print).python


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
