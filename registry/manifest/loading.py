"""Reading a manifest: bounded TOML, the schema, then the cross-field rules; every problem at once,
each with the file, the key path and the fix (ManifestError)."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ManifestError, ManifestProblem
from .problems import problems_from_validation_error
from .rules import cross_checks
from .schema import SCHEMA_VERSION, Manifest


def parse_manifest(data: dict[str, Any], path: Path | str) -> Manifest:
    """Validate already-parsed manifest data; raise ManifestError naming every problem."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version is not None and type(version) is not int:  # 1.0 and true are not 1
        raise ManifestError(path, [ManifestProblem("schema_version", f"schema_version must be a whole number, not {version!r}",
                                                   "write schema_version = 1")])
    if version is not None and version != SCHEMA_VERSION:
        raise ManifestError(
            path,
            [
                ManifestProblem(
                    "schema_version",
                    f"schema_version {version!r} is not supported by this zoo (it reads {SCHEMA_VERSION})",
                    "upgrade zoo (`pip install -U zoo`) or write the manifest for schema_version = 1",
                )
            ],
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(path, problems_from_validation_error(exc)) from None
    problems = cross_checks(manifest)
    if problems:
        raise ManifestError(path, problems)
    return manifest


MAX_MANIFEST_BYTES = 4 << 20


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate one TOML manifest file."""
    path = Path(path)
    try:  # non-blocking, and only a regular file: a FIFO at a manifest's path would hang `zoo list`
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ManifestError(path, [ManifestProblem("", "is not a regular file (a FIFO, a device or a folder)",
                                                           "point the plugin at its TOML manifest file")])
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise ManifestError(
            path, [ManifestProblem("", f"cannot be read ({exc.strerror or exc})", "check the path and permissions")]
        ) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(path, [ManifestProblem("", f"is larger than {MAX_MANIFEST_BYTES >> 20} MiB, far more than any manifest",
                                                   "check that the path names a manifest")])
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ManifestError(path, [ManifestProblem("", "nests tables or arrays thousands deep", "flatten the TOML")]) from None
    except UnicodeDecodeError:
        raise ManifestError(path, [ManifestProblem("", "is not UTF-8 text", "save it as UTF-8")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(path, [ManifestProblem("", f"is not valid TOML ({exc})", "fix the TOML syntax at that line")]) from None
    return parse_manifest(data, path)


def json_schema() -> dict[str, Any]:
    """The JSON Schema committed as manifests/schema.json (a test fails when it drifts)."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "zoo manifest"
    return schema
