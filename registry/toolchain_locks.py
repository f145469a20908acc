"""Committed toolchain locks: every package of a toolchain, exact, with its hash, read from a file.

A toolchain's top-level pins leave its transitive packages to whatever the package index serves
on the day it is created: on 2026-12-06 a new machine got transformers 5.25.0 and kernels 0.19.1
for the litert-torch toolchain, and export_hf no longer imported (shared/research/dependency-pins.md).
So a toolchain may name a directory of locks (`Toolchain.locks`) and is then installed from them
and nothing else:

- pip: one requirements file per platform, `<sys.platform>-<machine>-py<X.Y>.txt` (for instance
  `linux-x86_64-py3.11.txt`), every package `name==version --hash=sha256:...`. It is resolved by
  pip itself (`pip install --dry-run --report`) on a machine of that platform, with the user's pip
  configuration, so it takes what pip would install there (PyTorch's CPU wheel from a find-links
  folder, say) and records the hash of that very file. It is installed by uv (`uv pip install
  --no-deps --require-hashes`), told where to look by the same pip configuration: 8 s for the 4 GB
  litert-torch toolchain where pip took 70 to 100 s, and under a second from uv's cache. A platform
  with no lock file is refused with the way to make one, never installed unpinned.
- npm: npm's own `package.json` and `package-lock.json` (integrity hashes), installed with `npm ci`.

Each lock records the top-level requirements it was resolved from; a toolchain whose requirements
changed since is refused until its lock is made again (`zoo toolchain lock NAME`, docs/toolchains.md).
The lock file's sha256 names the environment and enters every build key.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .components import Toolchain
from .errors import ToolchainError
from .fsutil import write_atomically

NPM_MANIFEST = "package.json"
NPM_LOCK = "package-lock.json"
_REQUIREMENTS_HEADER = "# requirements: "
_PLATFORM_HEADER = "# platform: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
ALWAYS_LOCKED = ("pip", "setuptools")
"""A new environment's own installers are pinned like everything else, so `pip freeze --all`
equals the lock and no build depends on the pip version the machine's Python bundles."""


def platform_tag(python: str) -> str:
    """This machine for an environment of Python `python`: `linux-x86_64-py3.11`."""
    return f"{sys.platform}-{platform.machine().lower()}-py{python}"


@dataclass(frozen=True)
class Lock:
    """One toolchain's lock on this machine: the file to install from and what it pins."""

    path: Path
    digest: str
    """sha256 of the lock file's bytes (npm: of package-lock.json)."""
    pins: dict[str, str]
    """Every package it installs, by canonical name: its exact version."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_file(spec: Toolchain) -> Path:
    """Where this machine's lock of `spec` is, found or not."""
    assert spec.locks is not None
    return spec.locks / (NPM_LOCK if spec.kind == "npm" else f"{platform_tag(spec.python)}.txt")


def find(spec: Toolchain) -> Lock | None:
    """The toolchain's lock for this machine, checked to be current; None for a toolchain without locks.

    Raises ToolchainError when the toolchain has locks but none for this platform, or when the lock
    was resolved from other requirements than the toolchain now declares."""
    if spec.locks is None:
        return None
    path = lock_file(spec)
    try:
        data = path.read_bytes()
    except OSError:
        covered = sorted(p.stem for p in spec.locks.glob("*.txt")) if spec.locks.is_dir() else []
        raise ToolchainError(
            f"The {spec.name} toolchain installs only from a lock, and {spec.locks} holds none for this machine "
            f"({platform_tag(spec.python)}; it covers {', '.join(covered) or 'nothing'}).",
            fix=f"Make one here with `zoo toolchain lock {spec.name}` (from a source checkout of the plugin that "
            "declares it), run the tests, and commit it; docs/toolchains.md says how.",
        ) from None
    recorded = _npm_requirements(spec.locks) if spec.kind == "npm" else _pip_requirements(data.decode())
    if recorded != sorted(spec.requirements):
        raise ToolchainError(
            f"The {spec.name} toolchain's lock {path} was made from other requirements than it declares now "
            f"(lock: {', '.join(recorded) or 'none'}; declared: {', '.join(sorted(spec.requirements))}).",
            fix=f"Make the lock again with `zoo toolchain lock {spec.name}`, run the tests, and commit it.",
        )
    pins = _npm_pins(json.loads(data)) if spec.kind == "npm" else _pip_pins(data.decode())
    return Lock(path, hashlib.sha256(data).hexdigest(), pins)


def _pip_requirements(text: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith(_REQUIREMENTS_HEADER):
            return sorted(json.loads(line[len(_REQUIREMENTS_HEADER):]))
    return []


def _pip_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonical(match[1])] = match[2]
    return pins


def _npm_requirements(directory: Path) -> list[str]:
    try:
        dependencies = json.loads((directory / NPM_MANIFEST).read_text()).get("dependencies", {})
    except (OSError, ValueError):
        return []
    return sorted(f"{name}@{version}" for name, version in dependencies.items())


def _npm_pins(lock: dict) -> dict[str, str]:
    return {where.removeprefix("node_modules/"): info.get("version", "")
            for where, info in lock.get("packages", {}).items() if where}


def differences(lock: Lock, installed: dict[str, str]) -> list[str]:
    """How installed packages (canonical name -> version) differ from the lock, one line a package."""
    lines = []
    for name in sorted(set(lock.pins) | set(installed)):
        want, have = lock.pins.get(name), installed.get(name)
        if want == have:
            continue
        if want is None:
            lines.append(f"{name} {have} is installed but not in the lock")
        elif have is None:
            lines.append(f"{name} is missing (the lock has {want})")
        else:
            lines.append(f"{name} is {have}, the lock has {want}")
    return lines


def install_command(lock: Lock, python: Path) -> tuple[list[str], dict[str, str]]:
    """uv's command (and environment) that installs exactly the lock into the environment of `python`,
    from where the user's pip configuration says packages come from.

    pip takes the best match across all its indexes; uv by default only the first index that has a
    package, which would miss a version a later index holds. With every file's hash fixed by the
    lock, pip's way (`unsafe-best-match`) cannot let another file in."""
    from uv import find_uv_bin

    sources, variables = pip_sources(python)
    command = [find_uv_bin(), "pip", "install", "--python", str(python), "--no-deps", "--require-hashes",
               "--index-strategy", "unsafe-best-match", *sources, "-r", str(lock.path)]
    return command, variables


_SOURCE_SCOPES = {"global": 0, "install": 1, ":env:": 2}
"""pip's configuration scopes as `pip config list` names them, by precedence (environment last)."""


def pip_sources(python: Path) -> tuple[list[str], dict[str, str]]:
    """The user's pip configuration (files and PIP_* variables) as uv's arguments and environment:
    indexes, find-links, no-index, trusted hosts, the CA bundle and a proxy."""
    import ast  # here, not at the top: `zoo run` finds its toolchain without it

    listed = subprocess.run([str(python), "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values: dict[str, str] = {}
    ranks: dict[str, int] = {}
    for line in listed.splitlines():
        name, _, raw = line.partition("=")
        scope, _, key = name.rpartition(".")
        rank = _SOURCE_SCOPES.get(scope)
        if rank is None or rank < ranks.get(key, -1):
            continue
        try:
            values[key], ranks[key] = str(ast.literal_eval(raw)), rank
        except (ValueError, SyntaxError):
            continue
    args: list[str] = []
    if values.get("index-url"):
        args += ["--index-url", values["index-url"]]
    for option, key in (("--extra-index-url", "extra-index-url"), ("--find-links", "find-links"),
                        ("--allow-insecure-host", "trusted-host")):
        for value in values.get(key, "").split():
            args += [option, value]
    if values.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
    variables = {}
    if values.get("cert"):
        variables["SSL_CERT_FILE"] = values["cert"]
    if values.get("proxy"):
        variables["HTTPS_PROXY"] = variables["HTTP_PROXY"] = values["proxy"]
    return args, variables


def stage_npm(lock: Lock, staging: Path) -> None:
    """Put the lock's package.json and package-lock.json where `npm ci` reads them."""
    staging.mkdir(parents=True)
    for name in (NPM_MANIFEST, NPM_LOCK):
        shutil.copyfile(lock.path.parent / name, staging / name)


# ------------------------------------------------------------------------ making locks (maintainers)


def write(spec: Toolchain, python: str, npm: str | None = None) -> Path:
    """Resolve the toolchain's requirements for this machine and write its lock; returns the file.

    pip resolves with `python` (a Python of the toolchain's version), honouring the user's pip
    configuration, and reports every file it would install with its sha256; npm writes its own lock."""
    if spec.locks is None:
        raise ToolchainError(f"The {spec.name} toolchain declares no lock directory.",
                             fix="Give its Toolchain a `locks` directory beside the plugin's manifest (docs/hooks.md).")
    spec.locks.mkdir(parents=True, exist_ok=True)
    if spec.kind == "npm":
        return _write_npm(spec, npm or "npm")
    return _write_pip(spec, python)


def _write_pip(spec: Toolchain, python: str) -> Path:
    names = {canonical(r.split("==")[0].split("[")[0]) for r in spec.requirements}
    wanted = list(spec.requirements) + [name for name in ALWAYS_LOCKED if name not in names]
    with tempfile.TemporaryDirectory(prefix="zoo-lock-") as work:
        requirements, report = Path(work) / "requirements.in", Path(work) / "report.json"
        requirements.write_text("\n".join(wanted) + "\n")
        ran = subprocess.run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                              "--report", str(report), "-r", str(requirements)], capture_output=True, text=True)
        if ran.returncode != 0:
            raise ToolchainError(f"pip could not resolve the {spec.name} toolchain's requirements:\n"
                                 + "\n".join(ran.stderr.strip().splitlines()[-15:]),
                                 fix="Fix the requirements (or your pip configuration), then run `zoo toolchain lock` again.")
        resolved = json.loads(report.read_text())
        pip_version = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True).stdout.split()[1]
    lines = [
        f"# The {spec.name} toolchain: every package, exact, with the sha256 of the file pip installs.",
        f"# Made by `zoo toolchain lock {spec.name}` with pip {pip_version}; docs/toolchains.md says when and how.",
        f"{_PLATFORM_HEADER}{platform_tag(spec.python)} (this file covers only that platform)",
        _REQUIREMENTS_HEADER + json.dumps(sorted(spec.requirements)),
    ]
    for item in sorted(resolved["install"], key=lambda i: canonical(i["metadata"]["name"])):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        digest = item.get("download_info", {}).get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:
            raise ToolchainError(f"pip reported no sha256 for {name} {version} "
                                 f"({item.get('download_info', {}).get('url', 'no url')}), so it cannot be locked.",
                                 fix="Install it from an index or a wheel file rather than a folder or a VCS link.")
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    path = lock_file(spec)
    write_atomically(path, "\n".join(lines) + "\n")
    return path


def _write_npm(spec: Toolchain, npm: str) -> Path:
    dependencies = {}
    for requirement in spec.requirements:
        name, _, version = requirement.rpartition("@")
        dependencies[name] = version
    manifest = {"name": f"zoo-toolchain-{spec.name}", "private": True, "dependencies": dependencies}
    write_atomically(spec.locks / NPM_MANIFEST, json.dumps(manifest, indent=2) + "\n")
    (spec.locks / NPM_LOCK).unlink(missing_ok=True)
    ran = subprocess.run([npm, "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund",
                          "--prefix", str(spec.locks)], capture_output=True, text=True)
    if ran.returncode != 0:
        raise ToolchainError(f"npm could not resolve the {spec.name} toolchain's packages:\n"
                             + "\n".join(ran.stderr.strip().splitlines()[-15:]),
                             fix="Check the package names and your npm configuration, then run `zoo toolchain lock` again.")
    return spec.locks / NPM_LOCK
