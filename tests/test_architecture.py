"""The shape of the code a newcomer takes over: no import cycles, no private name used across modules,
the transfer layer's layers importing downward only (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("registry", "plugins", "zoo_cli")


def modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:`: for annotations, never run."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            lines |= {n.lineno for child in node.body for n in ast.walk(child) if hasattr(n, "lineno")}
    return lines


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import that runs, at the top or in a function."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, []) if submodule in known else (base, [alias.name]))
    resolved = []
    for target, names in found:
        while target not in known and "." in target:
            target = target.rpartition(".")[0]
        if target in known and target != name:
            resolved.append((target, names))
    return resolved


def test_no_import_cycles_in_registry_plugins_or_zoo_cli():
    known = modules()
    graph = {name: {target for target, _ in imports(name, path, known)} for name, path in known.items()}
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # a package's __init__ importing its own modules is how a package presents them, not a cycle
    cycles = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") or c[0].startswith(m + ".") for m in c)]
    assert cycles == [], cycles


def test_no_private_name_is_imported_from_another_module():
    known = modules()
    crossing = [f"{name} takes {target}.{n}" for name, path in known.items() for target, names in imports(name, path, known)
                for n in names if n.startswith("_") and not n.startswith("__")]
    assert crossing == [], crossing


def test_the_transfer_layer_imports_downward_only():
    known = modules()
    order = ["registry.transfer.http", "registry.transfer.remote_object", "registry.transfer.stream",
             "registry.transfer.pieces", "registry.download", "registry.fetch"]
    for lower, module in enumerate(order):
        above = set(order[lower + 1:])
        taken = {target for target, _ in imports(module, known[module], known)}
        assert not taken & above, (module, taken & above)


def test_the_architecture_page_names_only_modules_that_exist():
    import re

    page = (REPO / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"(?:registry/|plugins/|zoo_cli/)?(?:transfer/|catalog/|manifest/)?[a-z_]+\.py", page))
    missing = [n for n in named if not any(p.as_posix().endswith(n) for p in (REPO / "registry").rglob("*.py"))
               and not any(p.as_posix().endswith(n) for f in ("plugins", "zoo_cli", "tests") for p in (REPO / f).rglob("*.py"))]
    assert missing == [], missing


LONGEST_FUNCTION = 60


def test_functions_read_in_steps_of_at_most_sixty_lines():
    """A function longer than a screen is split into the steps it takes (issue 30): the limit counts
    every line from `def` to the end, docstring included."""
    too_long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > LONGEST_FUNCTION:
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    assert not too_long, "\n".join(too_long)
