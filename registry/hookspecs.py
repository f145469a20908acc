"""The hooks a zoo plugin may implement. Specifications only: bodies are docstrings.

Every hook is a `register_*(register)` hook: zoo owns the `register` callback, validates what it
receives and rejects duplicates naming both plugins, so plugin code stays one line per thing.
Hooks may gain arguments over time, never lose or change them; an implementation may accept
fewer arguments than its spec.
"""

from __future__ import annotations

import pluggy

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------- catalog


@hookspec
def register_families(register):
    """Register model families: each call adds one manifest and all of its variants.

    :param register: call ``register(manifest)`` with a :class:`pathlib.Path` to a TOML manifest,
        or a dict holding the same data. The manifest is validated strictly; an id or alias that
        another plugin already registered is refused naming both plugins.
    """


# ---------------------------------------------------------------- fetch


@hookspec
def register_sources(register):
    """Register source kinds, the places files are fetched from (``kind`` in a manifest's source).

    :param register: call ``register(source)`` with an instance of
        :class:`registry.api.SourceKind`; its ``name`` is the manifest's ``kind``.
    """


# ---------------------------------------------------------------- build


@hookspec
def register_converters(register):
    """Register converters, named by a recipe's ``converter`` key.

    :param register: call ``register(converter)`` with an instance of
        :class:`registry.api.Converter`, declaring the toolchain it runs in.
    """


@hookspec
def register_bundlers(register):
    """Register bundlers, named in a recipe's ``bundle.bundlers`` list.

    :param register: call ``register(bundler)`` with an instance of :class:`registry.api.Bundler`.
    """


# ---------------------------------------------------------------- verify


@hookspec
def register_formats(register):
    """Register artifact formats, named in a variant's ``format``: a format names its files' suffix
    and the check every file of it gets.

    :param register: call ``register(format)`` with an instance of :class:`registry.api.Format`.
    """


@hookspec
def register_verifiers(register):
    """Register verifiers, named in an output's ``checks`` list.

    :param register: call ``register(verifier)`` with an instance of
        :class:`registry.api.Verifier`; its ``name`` is the check's name.
    """


# ---------------------------------------------------------------- run


@hookspec
def register_runtimes(register):
    """Register runtimes: what `zoo run` uses to generate text with a stored artifact of a format.

    :param register: call ``register(runtime)`` with an instance of :class:`registry.api.Runtime`.
    """
