"""Toolchains: isolated, pinned Python environments that converters run in as child processes.

The converter stacks conflict (shared/research/dependency-pins.md): litert-torch forces
typing-extensions < 4.13, keras-hub pins kagglesdk against kagglehub, GPT-2 needs TensorFlow 2.19
while litert-torch brings protobuf 7. So each converter declares a toolchain (name, pinned
requirements, Python version, committed locks) and zoo creates it on first use as a virtual
environment and reuses it. A toolchain with locks (all built-in ones) installs exactly its lock for
this platform, every file checked against its hash, and is keyed by the lock's digest
(registry/toolchain_locks.py); one without is keyed by its requirements. Either way the installed
package list is recorded beside it.

pip runs inside the new environment, so the user's pip configuration (pip.conf, PIP_INDEX_URL,
PIP_FIND_LINKS, PIP_CONSTRAINT, ...) applies as it would to any pip install. An npm toolchain (the
browser runtime's JavaScript packages) is a directory the machine's own npm installs the pinned
packages into, with the user's npm configuration (registry, proxy, cache) and no install scripts;
its jobs run under the machine's `node`.
Only `bin/python` of an environment is ever run: the directory is renamed into place after it is
built, which leaves console-script shebangs pointing at the old name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import settings, toolchain_locks
from .components import Toolchain
from .errors import ToolchainError
from .fsutil import write_atomically

RECORD = "zoo-toolchain.json"


@dataclass
class Environment:
    """A usable toolchain: what runs its jobs, and the exact packages it holds."""

    spec: Toolchain
    interpreter: Path
    """What runs the toolchain's jobs: the environment's python, or node for an npm toolchain."""
    path: Path | None
    """None when zoo's own interpreter already satisfies the toolchain."""
    lock: list[str]
    """Every installed package, as `pip freeze --all` (or npm) lists it."""
    lock_digest: str
    """The committed lock file's sha256, or for an unlocked toolchain that of the installed package list."""

    def variables(self) -> dict[str, str]:
        """What a job's environment needs to see the toolchain's packages (node resolves through NODE_PATH)."""
        if self.spec.kind == "npm" and self.path is not None:
            return {"NODE_PATH": str(self.path / "node_modules")}
        return {}

    def describe(self) -> dict:
        return {
            "name": self.spec.name,
            "interpreter": str(self.interpreter),
            "path": str(self.path) if self.path else None,
            "requirements": list(self.spec.requirements),
            "lock": self.lock,
            "lock_sha256": self.lock_digest,
        }


def _listing_digest(lock: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lock)).encode()).hexdigest()


def key(spec: Toolchain) -> str:
    """The environment's name: the lock's digest, so a changed lock makes a new environment."""
    lock = toolchain_locks.find(spec)
    what = ["lock", lock.digest] if lock else sorted(spec.requirements)
    data = json.dumps([spec.name, what, spec.python] + ([spec.kind] if spec.kind != "pip" else []))
    return hashlib.sha256(data.encode()).hexdigest()[:12]


def root() -> Path:
    return settings.get().toolchains_dir


def location(spec: Toolchain) -> Path:
    return root() / f"{spec.name}-{key(spec)}"


def _current_python_matches(spec: Toolchain) -> bool:
    return f"{sys.version_info.major}.{sys.version_info.minor}" == spec.python


def satisfied_by_current(spec: Toolchain) -> bool:
    """True when this very interpreter has every pinned requirement (then no environment is needed).
    A locked toolchain always gets its own environment: the lock, not the pins, says what it holds."""
    if spec.kind != "pip" or spec.locks is not None or not _current_python_matches(spec):
        return False
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    for text in spec.requirements:
        requirement = Requirement(text)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            return False
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            return False
    return True


def _freeze(python: Path) -> list[str]:
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True)
    return sorted(line for line in out.stdout.splitlines() if line and not line.startswith("#"))


def find(spec: Toolchain) -> Environment | None:
    if satisfied_by_current(spec):
        return Environment(spec, Path(sys.executable), None, _current_lock(), _listing_digest(_current_lock()))
    path = location(spec)
    try:
        record = json.loads((path / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if spec.kind == "npm":
        node = shutil.which("node")
        if node is None or not (path / "node_modules").is_dir():
            return None
        return Environment(spec, Path(node), path, record["lock"], _recorded_digest(record))
    python = path / "bin" / "python"
    if not python.exists():
        return None
    return Environment(spec, python, path, record["lock"], _recorded_digest(record))


def _recorded_digest(record: dict) -> str:
    return record.get("lock_sha256") or _listing_digest(record["lock"])


_CURRENT_LOCK: list[str] | None = None


def _current_lock() -> list[str]:
    global _CURRENT_LOCK
    if _CURRENT_LOCK is None:
        from importlib.metadata import distributions

        _CURRENT_LOCK = sorted({f"{d.metadata['Name']}=={d.version}" for d in distributions() if d.metadata["Name"]})
    return _CURRENT_LOCK


def _interpreter(spec: Toolchain) -> str:
    if _current_python_matches(spec):
        return sys.executable
    found = shutil.which(f"python{spec.python}")
    if found:
        return found
    raise ToolchainError(
        f"The {spec.name} toolchain needs Python {spec.python}, and no python{spec.python} is on PATH.",
        fix=f"Install Python {spec.python} (e.g. `apt-get install python{spec.python}` or pyenv), then run "
        f"`zoo toolchain install {spec.name}`.",
    )


def ensure(spec: Toolchain, on_line: Callable[[str], None] | None = None) -> Environment:
    """The toolchain's environment, created first if it does not exist yet."""
    found = find(spec)
    if found:
        return found
    if settings.get().offline:
        raise ToolchainError(
            f"The {spec.name} toolchain is not installed, and zoo is offline.",
            fix=f"Run `zoo toolchain install {spec.name}` while online.",
        )
    return create(spec, on_line)


def create(spec: Toolchain, on_line: Callable[[str], None] | None = None) -> Environment:
    from filelock import FileLock  # only when creating: `zoo run` finds its toolchain without it

    target = location(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        found = find(spec)  # another process may have built it while we waited
        if found:
            return found
        staging = target.with_name(f".{target.name}.{os.getpid()}.building")
        shutil.rmtree(staging, ignore_errors=True)
        say = on_line or (lambda line: None)
        started = time.monotonic()
        committed = toolchain_locks.find(spec)
        try:
            say(f"Creating the {spec.name} toolchain in {target}" + (f" from {committed.path}" if committed else "") + " ...")
            if spec.kind == "npm":
                lock = _create_npm(spec, committed, staging, say)
            else:
                lock = _create_pip(spec, committed, staging, say)
            if committed is not None:
                _require_lock(spec, committed, _pins(spec, lock))
            record = {
                "name": spec.name,
                "key": key(spec),
                "requirements": list(spec.requirements),
                "python": spec.python,
                "lock": lock,
                "lock_file": str(committed.path) if committed else None,
                "lock_sha256": committed.digest if committed else _listing_digest(lock),
                "created_at": time.time(),
                "seconds": round(time.monotonic() - started, 1),
            }
            write_atomically(staging / RECORD, json.dumps(record, indent=2))
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        say(f"The {spec.name} toolchain is ready ({record['seconds']} s, {len(lock)} packages).")
        found = find(spec)
        assert found is not None
        return found


def for_job(component, on_line: Callable[[str], None] | None = None) -> tuple[Path, dict[str, str]]:
    """What a runtime's or check's job runs with: the interpreter and environment variables of its
    toolchain (created first if missing), or zoo's own interpreter. The component is asked first
    whether this machine can run it at all (`ready`), so a missing browser is one clear error."""
    environment = ensure(component.toolchain, on_line) if component.toolchain is not None else None
    component.ready(environment)
    if environment is None:
        return Path(sys.executable), {}
    return environment.interpreter, environment.variables()


def _create_pip(spec: Toolchain, committed: toolchain_locks.Lock | None, staging: Path, say) -> list[str]:
    """A virtual environment holding exactly the lock (or, for an unlocked toolchain, what pip
    resolves for its pins); returns `pip freeze --all` of it."""
    _run([_interpreter(spec), "-m", "venv", str(staging)], say, spec)
    python = staging / "bin" / "python"
    if committed is not None:
        command, variables = toolchain_locks.install_command(committed, python)
        _run(command, say, spec, env=os.environ | variables)
    else:
        _run([str(python), "-m", "pip", "install", "--upgrade", "pip"], say, spec)
        _run([str(python), "-m", "pip", "install", *spec.requirements], say, spec)
    return _freeze(python)


def _pins(spec: Toolchain, lock: list[str]) -> dict[str, str]:
    """An installed package list (pip's name==version, npm's name@version) by canonical name."""
    separator = "@" if spec.kind == "npm" else "=="
    pairs = (line.rpartition(separator) if spec.kind == "npm" else line.partition(separator) for line in lock)
    return {(name if spec.kind == "npm" else toolchain_locks.canonical(name)): version for name, _, version in pairs}


def _require_lock(spec: Toolchain, committed: toolchain_locks.Lock, installed: dict[str, str]) -> None:
    drift = toolchain_locks.differences(committed, installed)
    if drift:
        raise ToolchainError(
            f"The {spec.name} toolchain does not hold what its lock {committed.path} says: " + "; ".join(drift) + ".",
            fix=f"Make the lock again with `zoo toolchain lock {spec.name}` if its requirements changed, then "
            f"`zoo toolchain install {spec.name}`.",
        )


NODE_MAJOR = 18


def _node_tools(spec: Toolchain) -> tuple[str, str]:
    """The machine's node (>= 18) and npm, or a clear error saying how to install them."""
    node, npm = shutil.which("node"), shutil.which("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else ""
    major = version.lstrip("v").split(".")[0]
    if not node or not npm or not major.isdigit() or int(major) < NODE_MAJOR:
        found = "no node" if not node else f"node {version or '(no version)'}" + ("" if npm else " and no npm")
        raise ToolchainError(
            f"The {spec.name} toolchain is installed with npm and runs under Node.js {NODE_MAJOR} or newer; this machine has {found}.",
            fix="Install Node.js and npm (`apt-get install nodejs npm`, or from nodejs.org), then run "
            f"`zoo toolchain install {spec.name}`.",
        )
    return node, npm


def _create_npm(spec: Toolchain, committed: toolchain_locks.Lock | None, staging: Path,
                say: Callable[[str], None]) -> list[str]:
    """Install the packages into `staging`: `npm ci` from the committed lock (every tarball checked
    against its integrity hash), or npm's resolution of the pins for an unlocked toolchain; returns
    every package@version installed. Install scripts never run: the packages are JavaScript files
    the browser and node load."""
    _, npm = _node_tools(spec)
    hint = "Check the network and your npm configuration (registry, proxy)"
    quiet = ["--no-audit", "--no-fund", "--ignore-scripts"]
    if committed is not None:
        toolchain_locks.stage_npm(committed, staging)
        _run([npm, "ci", "--prefix", str(staging), *quiet], say, spec, retry_hint=hint)
    else:
        staging.mkdir(parents=True)
        (staging / "package.json").write_text(json.dumps({"name": f"zoo-toolchain-{spec.name}", "private": True}))
        _run([npm, "install", "--prefix", str(staging), *quiet, "--save-exact", *spec.requirements], say, spec, retry_hint=hint)
    return _npm_lock(staging)


def _npm_lock(path: Path) -> list[str]:
    """Every installed package as name@version, from the lockfile npm keeps in node_modules."""
    try:
        packages = json.loads((path / "node_modules" / ".package-lock.json").read_text()).get("packages", {})
    except (OSError, ValueError):
        return []
    return sorted(f"{where.removeprefix('node_modules/')}@{info.get('version')}" for where, info in packages.items() if where)


def _run(cmd: list[str], say: Callable[[str], None], spec: Toolchain,
         retry_hint: str = "Check the network and your pip configuration (index, proxies)", env: dict | None = None) -> None:
    """Run a step, streaming its output; on failure show the tail of it."""
    tail: list[str] = []
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-15:]
        if line and not line.startswith(("  ", "Requirement already")):
            say(line)
    if process.wait() != 0:
        raise ToolchainError(
            f"Creating the {spec.name} toolchain failed at `{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}`:\n"
            + "\n".join(tail),
            fix=f"{retry_hint}, then run `zoo toolchain install {spec.name}` again.",
        )


def installed() -> list[dict]:
    out = []
    base = root()
    if not base.exists():
        return out
    for path in sorted(base.iterdir()):
        try:
            record = json.loads((path / RECORD).read_text())
        except (OSError, ValueError):
            continue
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
        out.append(record | {"path": str(path), "bytes": size})
    return out


def remove(name: str) -> list[Path]:
    removed = []
    base = root()
    if base.exists():
        for path in base.iterdir():
            if path.is_dir() and path.name.rsplit("-", 1)[0] == name:
                shutil.rmtree(path)
                removed.append(path)
    return removed


def doctor(env: Environment, probe: str | None, findings: list[str] | None = None) -> list[str]:
    """Problems with an environment: its package manager's check, the probe, a lock that drifted.
    What the probe prints on its last line (e.g. the browser's WebGPU adapter) goes to `findings`."""
    problems = []
    if env.spec.kind == "npm":
        assert env.path is not None
        check = subprocess.run([shutil.which("npm") or "npm", "ls", "--all", "--prefix", str(env.path)], capture_output=True, text=True)
        if check.returncode != 0:
            problems.append("npm ls: " + ((check.stderr.strip() or check.stdout.strip()).splitlines() or ["?"])[0])
        command = [str(env.interpreter), "--input-type=module", "-e", probe or ""]
    else:
        check = subprocess.run([str(env.interpreter), "-m", "pip", "check"], capture_output=True, text=True)
        if check.returncode != 0:
            problems.append("pip check: " + (check.stdout.strip() or check.stderr.strip()).splitlines()[0])
        command = [str(env.interpreter), "-c", probe or ""]
    if probe:
        ran = subprocess.run(command, capture_output=True, text=True, cwd=env.path, env=os.environ | env.variables())
        if ran.returncode != 0:
            lines = ran.stderr.strip().splitlines() or ["?"]
            problems.append(f"probe failed: {next((line for line in lines if 'Error' in line), lines[-1])}")
        elif findings is not None and ran.stdout.strip():
            findings.append(ran.stdout.strip().splitlines()[-1])
    if env.path is not None:
        current = _npm_lock(env.path) if env.spec.kind == "npm" else _freeze(env.interpreter)
        committed = toolchain_locks.find(env.spec)
        if committed is not None:
            problems += [f"differs from its lock: {line}" for line in toolchain_locks.differences(committed, _pins(env.spec, current))]
        elif current != env.lock:
            problems.append("its packages no longer match the recorded lock (something installed into it)")
    return problems


def make_lock(spec: Toolchain) -> Path:
    """Resolve `spec` for this machine and write its committed lock (maintainers: `zoo toolchain lock`)."""
    if spec.kind == "npm":
        return toolchain_locks.write(spec, "", _node_tools(spec)[1])
    return toolchain_locks.write(spec, _interpreter(spec))
