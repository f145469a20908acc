"""`zoo plugin new NAME`: scaffold an installable plugin package that passes its own tests."""

from __future__ import annotations

import re
from pathlib import Path

import click

from zoo_cli.terminal import terminal

TEMPLATES = Path(__file__).parent / "templates" / "plugin"


@click.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              help="Where to create zoo-NAME/ (default: here).")
def new_command(name: str, parent: Path) -> None:
    """Create zoo-NAME/: pyproject with the `zoo` entry point, a family module, a manifest, tests."""
    from registry.errors import ZooError

    if not re.fullmatch(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*", name):
        raise ZooError(f"'{name}' is not a usable plugin name.", fix="Use lowercase letters, digits and dashes, e.g. `zoo plugin new tinystories`.")
    from zoo_cli.common import load_catalog

    catalog = load_catalog()
    taken = [what for what, names in (("a plugin", catalog.records), ("a family", catalog.families),
                                      ("a model or variant", catalog.names)) if name in names or f"{name}-lm" in names]
    if taken:  # the scaffold's family, model (NAME-lm) and tests would clash with what is installed
        raise ZooError(f"'{name}' is already {taken[0]} zoo knows, so a plugin of that name would not load beside it.",
                       fix=f"Pick a name of your own, e.g. `zoo plugin new my-{name}`; `zoo list` shows the names taken.")
    module = "zoo_" + name.replace("-", "_")
    root = parent / f"zoo-{name}"
    if root.exists():
        raise ZooError(f"{root} already exists.", fix="Choose another name or --dir.")
    files = {
        "pyproject.toml": "pyproject.toml.tmpl",
        f"{module}/__init__.py": "module.py.tmpl",
        f"{module}/family.toml": "family.toml.tmpl",
        "tests/conftest.py": "conftest.py.tmpl",
        f"tests/test_{module}.py": "test_plugin.py.tmpl",
    }
    for target, template in files.items():
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((TEMPLATES / template).read_text().format(name=name, module=module))
    terminal.line(str(root))
    terminal.message(
        f"Created {root}. Next: `pip install -e {root}` (into zoo's environment), then `zoo plugins check {name}` "
        f"and `python -m pytest {root / 'tests'}`. Edit {module}/family.toml to describe your models."
    )
