"""What plugins register besides families: source kinds, converters, bundlers and verifiers.

Each is a small class with a `name`; plugins subclass it and register an instance. Modules that
define components must stay light to import: heavy libraries are imported inside methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


class Component:
    """Base of everything a plugin registers by name."""

    kind: ClassVar[str] = "component"
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""


class SourceKind(Component):
    """A place variant files come from; `name` is the manifest's `source.kind`."""

    kind = "source"


@dataclass(frozen=True)
class Toolchain:
    """An isolated Python environment a converter runs in, so conflicting stacks never meet.

    `requirements` are pinned pip requirement strings; the environment is keyed by their hash.
    """

    name: str
    requirements: tuple[str, ...]
    python: str = "3.11"
    notes: tuple[str, ...] = field(default_factory=tuple)


class Converter(Component):
    """Turns fetched inputs into an on-device artifact, inside its own toolchain."""

    kind = "converter"
    toolchain: ClassVar[Toolchain]
    produces: ClassVar[tuple[str, ...]] = ()


class Bundler(Component):
    """Packs converted weights with the tokenizer and metadata into one file."""

    kind = "bundler"
    toolchain: ClassVar[Toolchain | None] = None
    produces: ClassVar[str] = ""


class Verifier(Component):
    """Proves an output is what its manifest says; `name` is the check's name in `outputs.checks`."""

    kind = "verifier"
    formats: ClassVar[tuple[str, ...]] = ()
    runs_model: ClassVar[bool] = False
    """True when the check executes the artifact in its runtime, not only reads its structure."""
    toolchain: ClassVar[Toolchain | None] = None
    """Where a check that runs the model executes; None means in zoo's own process."""
