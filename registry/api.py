"""zoo's plugin API, version 1: everything a plugin (and its tests) may import from zoo.

This module is the stable surface. Names listed in `__all__` keep their meaning and signatures
across zoo releases of the same API version: hooks and components may gain optional arguments and
attributes, never lose or change them. Anything else under `registry.*` is internal and may change
in any release; a test fails if zoo's example plugin or the scaffold `zoo plugin new` writes imports
anything else.

    from registry.api import Converter, Job, Param, Toolchain, hookimpl

Child-process runners import `zoo_runner` instead (emit, progress, result, fail, read_request),
which zoo puts on every runner's path: a toolchain does not have zoo installed.

The test kit (pytest fixtures zoo_home, plugin_catalog, hf_hub, kaggle_hub, zoo_cli) is enabled
with `pytest_plugins = [registry.api.TEST_KIT]` in a conftest.py; the builders below make small
valid files of every built-in format, so a test never hand-crafts bytes. They are imported on
first use, so importing this module stays light. Reference: docs/hooks.md and docs/testing.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .components import (
    BuildOptions,
    BuildRequest,
    Bundler,
    Component,
    Converter,
    FetchContext,
    FetchPlan,
    Format,
    Job,
    LoraAdapter,
    Param,
    Runtime,
    SourceKind,
    Toolchain,
    Transfer,
    Verifier,
)
from .errors import AccessDeniedError, BuildError, NetworkError, PluginError, SourceNotFoundError, ZooError
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .manifest import FileSpec, OutputSpec, Variant

API_VERSION = 1
"""The plugin API's version: names in `__all__` keep their meaning within it."""
TEST_KIT = "registry.testing.pytest_plugin"
"""The pytest plugin with zoo's fixtures: `pytest_plugins = [TEST_KIT]` (or its string) in conftest.py."""

__all__ = [
    "API_VERSION",
    # hooks
    "hookimpl",
    # components and what they exchange with zoo
    "Component",
    "SourceKind",
    "Transfer",
    "FetchPlan",
    "FetchContext",
    "Converter",
    "Bundler",
    "Verifier",
    "Format",
    "Runtime",
    "Toolchain",
    "Param",
    "BuildOptions",
    "LoraAdapter",
    "BuildRequest",
    "Job",
    # manifest types a component receives, and what a source kind's options are made of
    "Variant",
    "FileSpec",
    "OutputSpec",
    "SourceOptions",
    "SafeRelativePath",
    "HttpsUrl",
    # errors: each carries the fix users see
    "ZooError",
    "BuildError",
    "AccessDeniedError",
    "NetworkError",
    "PluginError",
    "SourceNotFoundError",
    # helpers
    "partial_key",
    "same_origin",
    "read_safetensors_header",
    # test kit
    "TEST_KIT",
    "assert_conforms",
    "build_tflite",
    "build_mediapipe_bin",
    "build_task",
    "build_litertlm",
    "write_plugin_distribution",
    "Fault",
]


def partial_key(*parts: object) -> str:
    """A stable name for a download's partial file, from what identifies the bytes (hub, repo,
    revision, path): the same parts after a crash find the same partial and resume it."""
    from .fetch import partial_key as key

    return key(*parts)


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs reach the same server (scheme, host, port); a source sends credentials to
    the origin it resolved against only, never to wherever a redirect points."""
    from .download import same_origin as same

    return same(a, b)


def read_safetensors_header(path) -> dict[str, Any]:
    """Tensor name -> {dtype, shape, data_offsets} of a .safetensors file, read bounded (the
    header only) and checked, so a converter's `validate` can name missing tensors cheaply."""
    from .safetensors_file import read_header

    header, _ = read_header(path)
    return header


_LAZY = {
    "Variant": ("registry.manifest", "Variant"),
    "FileSpec": ("registry.manifest", "FileSpec"),
    "OutputSpec": ("registry.manifest", "OutputSpec"),
    "SourceOptions": ("registry.manifest", "SourceOptions"),
    "SafeRelativePath": ("registry.manifest", "SafeRelativePath"),
    "HttpsUrl": ("registry.manifest", "HttpsUrl"),
    "assert_conforms": ("registry.testing.pytest_plugin", "assert_conforms"),
    "build_tflite": ("registry.testing.tflite_builder", "build_tflite"),
    "build_mediapipe_bin": ("registry.testing.tflite_builder", "mediapipe_like_bin"),
    "build_task": ("registry.testing.task_builder", "build_task"),
    "build_litertlm": ("registry.testing.litertlm_builder", "build_valid_litertlm"),
    "write_plugin_distribution": ("registry.testing.plugins", "write_plugin_distribution"),
    "Fault": ("registry.testing.hubs", "Fault"),
}


def __getattr__(name: str) -> Any:
    """Heavier names (pydantic models, the test kit) are imported when first used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'registry.api' has no attribute {name!r}; the plugin API is {', '.join(__all__)}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
