"""The plugin API reference (docs/api.md), generated from registry.api's own docstrings.

The reference is the code's: every name in `registry.api.__all__`, every hook, and every field and
public method of the classes a plugin subclasses or receives, each with the docstring (or pydantic
description) it carries. `undocumented()` lists what has none, and a test fails on any, so the API
cannot grow past its documentation again. Run `python -m registry.api_reference > docs/api.md`
after changing the API; a test fails while the committed page differs from what this writes.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from pathlib import Path

HEADER = """# Plugin API reference

The stable surface a plugin imports, `registry.api` (API version {version}). This page is generated
from the code's docstrings by `python -m registry.api_reference > docs/api.md`; a test fails when a
name or field has no documentation or the page is out of date. How the pieces fit together:
docs/hooks.md; how to test a plugin: docs/testing.md.
"""


def sections() -> list[tuple[str, list[str]]]:
    """`__all__` in its order, grouped under the comments that head each group in registry/api.py."""
    import registry.api as api

    source = Path(api.__file__).read_text()
    body = source[source.index("__all__ = [") : source.index("]", source.index("__all__ = ["))]
    groups: list[tuple[str, list[str]]] = [("version", [])]
    for line in body.splitlines()[1:]:
        line = line.strip()
        if line.startswith("#"):
            groups.append((line.lstrip("# ").split(":")[0], []))
        elif line.startswith('"'):
            groups[-1][1].append(line.strip('",'))
    return [(title, names) for title, names in groups if names]


def attribute_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string right below `name: type = ...`) of `cls` and its bases, the
    nearest class winning, as pydantic and Sphinx read them."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ == "builtins":
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:] + [None]):
            target = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            if (isinstance(target, ast.Name) and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
                docs[target.id] = inspect.cleandoc(after.value.value)
    return docs


def fields(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, documentation) of each field: a pydantic model's fields, a dataclass's, or the
    annotated class attributes a component subclass sets."""
    docs = attribute_docs(cls)
    if hasattr(cls, "model_fields"):
        return [(name, _type_name(info.annotation), info.description or docs.get(name, ""))
                for name, info in cls.model_fields.items()]
    if dataclasses.is_dataclass(cls):
        return [(f.name, _type_name(f.type), docs.get(f.name, "")) for f in dataclasses.fields(cls)]
    annotations: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}))
    return [(name, _type_name(kind), docs.get(name, "")) for name, kind in annotations.items()
            if not name.startswith("_")]


def methods(cls: type) -> list[tuple[str, str, str]]:
    """(name, signature, docstring) of the public methods `cls` defines or inherits from zoo's classes."""
    found = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("registry."):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or not callable(value) or isinstance(value, type):
                continue
            function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            if klass is not cls and getattr(cls, "model_fields", None) is not None and name.startswith("model_"):
                continue
            found[name] = (name, _signature(function), inspect.getdoc(function) or "")
    return list(found.values())


def _signature(function) -> str:
    try:
        return str(inspect.signature(function)).replace("'", "")
    except (TypeError, ValueError):
        return "(...)"


def _type_name(kind: object) -> str:
    text = kind.__name__ if isinstance(kind, type) and not getattr(kind, "__args__", None) else str(kind)
    text = re.sub(r"\b(typing|pathlib|registry\.[a-z_.]+|collections\.abc|pydantic\.[a-z_.]+)\.", "", str(text))
    text = re.sub(r"Annotated\[(\w+), [^\]]*\]", r"\1", text)
    return text[len("ClassVar["):-1] if text.startswith("ClassVar[") else text


def hooks() -> list[tuple[str, str]]:
    """(name, docstring) of each hook in registry/hookspecs.py."""
    from . import hookspecs

    return [(name, inspect.getdoc(value) or "") for name, value in vars(hookspecs).items()
            if callable(value) and hasattr(value, "zoo_spec")]


def undocumented() -> list[str]:
    """Every exported name, hook, field or public method that has no documentation."""
    import registry.api as api

    missing = [f"hook {name}" for name, doc in hooks() if not doc]
    for name in api.__all__:
        value = getattr(api, name)
        if not _doc_of(api, name, value):
            missing.append(name)
        if isinstance(value, type):
            missing += [f"{name}.{field}" for field, _, doc in fields(value) if not doc]
            missing += [f"{name}.{method}()" for method, _, doc in methods(value) if not doc]
    return missing


def _doc_of(api, name: str, value: object) -> str:
    if isinstance(value, type) or inspect.isfunction(value):
        return inspect.getdoc(value) or ""
    if name == "hookimpl":
        return "The marker for a plugin's hook implementations: `@hookimpl def register_converters(register): ...`."
    import importlib

    # A constant or type alias is documented where it is defined: registry.api, or the module of a class it exports.
    homes = {"registry.api"} | {getattr(api, n).__module__ for n in api.__all__ if isinstance(getattr(api, n), type)}
    for home in sorted(homes):
        doc = attribute_docs_of_module(importlib.import_module(home)).get(name)
        if doc:
            return doc
    return ""


def attribute_docs_of_module(module) -> dict[str, str]:
    """Docstrings right below a module-level assignment."""
    tree = ast.parse(Path(module.__file__).read_text())
    docs = {}
    for node, after in zip(tree.body, tree.body[1:] + [None]):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
            docs[node.targets[0].id] = inspect.cleandoc(after.value.value)
    return docs


def render() -> str:
    """docs/api.md's text."""
    import registry.api as api

    out = [HEADER.format(version=api.API_VERSION)]
    out.append("## Hook specifications\n")
    out.append("Implement them with `@hookimpl`; each receives a `register` callback.\n")
    for name, doc in hooks():
        out.append(f"### `{name}(register)`\n\n{doc}\n")
    for title, names in sections():
        out.append(f"## {title[0].upper()}{title[1:]}\n")
        for name in names:
            out.append(_render_name(api, name))
    return "\n".join(out).rstrip() + "\n"


def _render_name(api, name: str) -> str:
    value = getattr(api, name)
    doc = _doc_of(api, name, value)
    if isinstance(value, type):
        text = [f"### class `{name}`\n", doc + "\n"]
        rows = fields(value)
        if rows:
            text.append("| field | type | meaning |\n|---|---|---|")
            text += [f"| `{field}` | `{_cell(kind)}` | {_cell(fdoc)} |" for field, kind, fdoc in rows]
            text.append("")
        for method, signature, mdoc in methods(value):
            text.append(f"#### `{name}.{method}{signature}`\n\n{mdoc}\n")
        return "\n".join(text)
    if inspect.isfunction(value):
        return f"### `{name}{_signature(value)}`\n\n{doc}\n"
    shown = f" = `{value!r}`" if isinstance(value, (str, int, float)) else ""  # never an object's address
    return f"### `{name}`{shown}\n\n{doc}\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
    print(render(), end="")
