"""Builds and pip-installs real third-party plugin packages for tests (entry point group `zoo`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ACME_MANIFEST = """
schema_version = 1
family = "acme"
description = "A third-party family for tests."

[[models]]
name = "acme-lm"
description = "Acme's tiny LM."
platforms = ["android"]
source = { kind = "https", url = "https://models.example.com/acme" }
license = { name = "MIT", spdx = "MIT", url = "https://opensource.org/license/mit" }

[[models.variants]]
id = "acme-lm-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [{ path = "acme-lm-cpu-int8.tflite", role = "weights" }]
"""

HOOKS_WITH_MANIFEST = """
from pathlib import Path
from registry.hookspecs import hookimpl

@hookimpl
def register_families(register):
    register(Path(__file__).parent / "family.toml")
"""


def install_plugin_package(
    root: Path, distribution: str, module: str, source: str, *, manifest: str | None = None, entry_point: str | None = None,
    version: str = "1.0.0",
) -> Path:
    """Write a package `distribution` whose module `module` holds `source`; pip-install it into a target dir."""
    project = root / f"src-{distribution}"
    package = project / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(source))
    if manifest is not None:
        (package / "family.toml").write_text(textwrap.dedent(manifest))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{distribution}"
            version = "{version}"

            [project.entry-points.zoo]
            {entry_point or module} = "{module}"

            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    target = root / f"site-{distribution}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(project)],
        check=True,
        capture_output=True,
    )
    return target
