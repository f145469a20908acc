"""Exit codes are a contract: every code is documented, and every error class raised anywhere in zoo's
code maps to a documented code."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from registry.errors import ExitCode, ZooError

REPO = Path(__file__).resolve().parents[1]


def documented_codes() -> dict[int, str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def error_classes() -> dict[str, type]:
    """Every ZooError subclass defined in registry/, plugins/ and zoo_cli/, by name."""
    found = {}
    for package in ("registry", "plugins", "zoo_cli"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if any(part in info.name for part in (".testing", ".runner", ".locks")) or info.name.endswith(("_runner", "__main__")):
                continue  # scripts that run in a toolchain, and the test kit: none raises zoo's errors in zoo
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if inspect.isclass(value) and issubclass(value, ZooError):
                    found[name] = value
    return found


def raised_names() -> dict[str, list[str]]:
    """Class name -> where it is raised (or returned as an error to raise), over zoo's own code."""
    sites: dict[str, list[str]] = {}
    for folder in ("registry", "plugins", "zoo_cli"):
        for path in (REPO / folder).rglob("*.py"):
            if {"testing", "runners", "runner"} & set(path.parts) or path.stem.endswith("_runner"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                value = node.exc if isinstance(node, ast.Raise) else node.value if isinstance(node, ast.Return) else None
                if isinstance(value, ast.Call):
                    func = value.func
                    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
                    if name and name[0].isupper() and name.endswith(("Error", "Differs")):
                        sites.setdefault(name, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return sites


def test_every_exit_code_is_documented_and_every_documented_code_exists():
    documented = documented_codes()
    assert set(documented) == {int(code) for code in ExitCode}, documented


def test_every_error_raised_in_zoo_maps_to_a_documented_code():
    classes, documented = error_classes(), documented_codes()
    unknown = {}
    for name, sites in raised_names().items():
        cls = classes.get(name)
        if cls is None:
            continue  # not one of zoo's errors (ValueError, a library's): the CLI never shows those as a code
        assert int(cls.exit_code) in documented, (name, cls.exit_code, sites[:3])
        unknown[name] = int(cls.exit_code)
    # the same failure, the same code, on every source
    assert unknown["SourceNotFoundError"] == ExitCode.NOT_FOUND
    assert classes["ReadyMadeError"].exit_code == classes["NeedsBuildError"].exit_code == ExitCode.USAGE


def test_missing_things_at_every_source_are_not_found_errors():
    """A file missing from a Hugging Face repo exited 1 while a missing repo exited 7; Kaggle's and a
    registry's missing files and tags were bare ZooErrors."""
    sites = raised_names()
    for source in ("plugins/source_huggingface.py", "plugins/source_kaggle.py", "plugins/source_oci.py", "registry/oci.py"):
        text = (REPO / source).read_text()
        for line in (n for n, line in enumerate(text.splitlines(), 1) if " has no " in line and "Error(" in line):
            assert f"{source}:{line}" in sites.get("SourceNotFoundError", []), (source, line)
