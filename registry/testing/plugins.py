"""Write a plugin distribution into a directory exactly as pip leaves one installed.

A dist-info folder with METADATA and entry_points.txt plus the module is all that
importlib.metadata and zoo's plugin host look at, so tests and benchmarks can add plugins to a
child process by putting the directory on PYTHONPATH, in milliseconds instead of a pip install.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

FAMILY_MODULE = """
from pathlib import Path
from registry.hookspecs import hookimpl

@hookimpl
def register_families(register):
    register(Path(__file__).parent / "family.toml")
"""


def write_plugin_distribution(
    site: Path, distribution: str, module: str, *, manifest: str | None = None, source: str | None = None,
    version: str = "1.0", entry_point: str | None = None,
) -> Path:
    """Write an installed-looking plugin distribution into `site` (a folder on sys.path): package `module`
    (with `source` as its __init__.py, a family module by default, and `manifest` as family.toml) and
    `distribution`'s dist-info with its `zoo` entry point, so tests load a third-party plugin as pip would
    install it. Returns the package's folder."""
    package = site / module
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(textwrap.dedent(source if source is not None else FAMILY_MODULE))
    if manifest is not None:
        (package / "family.toml").write_text(textwrap.dedent(manifest))
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{entry_point or module} = {module}\n")
    return site
