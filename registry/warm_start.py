"""`zoo run` starts the runtime its last run used before it has parsed its own arguments.

A short run is mostly start-up. zoo spends ~50 ms importing click, its modules and the runtime's
plugin before it knows which child to start, and the child then spends ~60 ms importing its runtime
(litert_lm) before it reads its request: a direct script pays the second part only. Started first,
the child imports while zoo parses, and zoo hands it the request on its stdin
(`zoo_runner.read_request`). A run that turns out to need another interpreter, runner or
environment ends the early child unused and starts its own, as it would without it.

What to start is what the last `zoo run` ran (`remember`), in ZOO_HOME/cache/warm-start, kept only
for a runtime whose runner reads its request after its imports (`Runtime.starts_early`). That file
names a program to execute, so it is used only when it is the user's own, nobody else can write it,
and the plugin settings it was written under still hold.

Everything imported before the child starts delays it: this module needs `os` alone (and
registry.home, registry.child_environment), and starts the child with posix_spawn rather than
subprocess, whose import costs ~10 ms. The child then ends with zoo by its own hand
(PR_SET_PDEATHSIG, in zoo_runner), as registry/child.py arranges for the others.
"""

from __future__ import annotations

import os

from .child_environment import child_environment
from .home import zoo_home

HINT_LIMIT = 64 << 10
"""The most of the hint file read: a few paths and variables."""
_FORMAT = "zoo-warm-start-1"
_PLUGIN_SETTINGS = ("ZOO_LOAD_PLUGINS", "ZOO_DISABLE_PLUGIN_AUTOLOAD")


class EarlyChild:
    """A runner started before its request, with pipes on its stdin, stdout and stderr: as much of
    subprocess.Popen as registry.child's run_job uses."""

    def __init__(self, pid: int, stdin, stdout, stderr, started_as: tuple[str, str, dict[str, str]]) -> None:
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.started_as = started_as
        self.returncode: int | None = None

    def waiting(self) -> bool:
        """Still running (it waits for its request); one that died on its own is reaped here."""
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.returncode = os.waitstatus_to_exitcode(status)
        return False

    def hand(self, request: dict, work_dir: os.PathLike[str], *, conversation: bool) -> EarlyChild:
        """Send the request (and the folder to work in); a conversation's turns follow on the same pipe."""
        import json

        try:
            self.stdin.write(json.dumps({"work_dir": str(work_dir), "request": request}) + "\n")
            self.stdin.flush()
            if not conversation:
                self.stdin.close()
        except BrokenPipeError:
            pass  # it died: run_job reports its status and last words
        return self

    def wait(self) -> int:
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped already (run_job's wait4)
                self.returncode = -9
        return self.returncode

    def end(self) -> None:
        """Kill it unused (its whole session) and reap it."""
        if self.returncode is None:
            try:
                os.killpg(self.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        for stream in (self.stdin, self.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass
        self.wait()


_early: EarlyChild | None = None


def start_early(arguments: list[str]) -> None:
    """For `zoo run` (not its help): start the runner the last run used, if there is one to trust.
    Anything amiss means no early start, never an error: the run starts its child as usual."""
    global _early
    if arguments[:1] != ["run"] or "--help" in arguments or "-h" in arguments or _early is not None:
        return
    if not hasattr(os, "posix_spawn"):  # Windows: every run starts its child as it goes
        return
    try:
        remembered = _read_hint()
        if remembered is None:
            return
        python, runner, variables = remembered
        _early = _spawn(python, runner, child_environment() | variables)
    except (OSError, ValueError, NotImplementedError):  # NotImplementedError: no setsid in this posix_spawn
        return
    import atexit

    atexit.register(_end_unused)


def take(python: os.PathLike[str], runner: os.PathLike[str], variables: dict[str, str]) -> EarlyChild | None:
    """The early child, when it is the one this run needs (the same interpreter, runner and
    environment) and still waiting; otherwise it is ended, and None means start one as usual."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    if early.started_as == (str(python), str(runner), child_environment() | variables) and early.waiting():
        return early
    early.end()
    return None


def remember(python: os.PathLike[str], runner: os.PathLike[str], variables: dict[str, str]) -> None:
    """After a run whose runtime starts early: what the next `zoo run` starts first. A home that
    takes no file just means no early start."""
    fields = [_FORMAT, *map(_setting, _PLUGIN_SETTINGS), str(python), str(runner),
              *(f"{name}={value}" for name, value in sorted(variables.items()))]
    if any("\0" in field for field in fields):
        return
    content = "\0".join(fields).encode("utf-8")
    path = _hint_path()
    try:
        with open(path, "rb") as fh:
            if fh.read(HINT_LIMIT + 1) == content:
                return
    except OSError:
        pass
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _hint_path() -> str:
    """In settings.cache_dir (ZOO_HOME/cache), found without loading registry.settings."""
    return os.path.join(zoo_home(), "cache", "warm-start")


def _setting(name: str) -> str:
    """A plugin setting as the hint records it: "=value" when set, "" when not."""
    return "=" + os.environ[name] if name in os.environ else ""


def _read_hint() -> tuple[str, str, dict[str, str]] | None:
    """(python, runner, variables) from the hint, or None when there is none to trust."""
    fd = os.open(_hint_path(), os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid() or info.st_mode & 0o022 or info.st_mode & 0o170000 != 0o100000:
            return None
        raw = os.read(fd, HINT_LIMIT + 1)
    finally:
        os.close(fd)
    fields = raw.decode("utf-8").split("\0")
    if len(raw) > HINT_LIMIT or len(fields) < 5 or fields[0] != _FORMAT:
        return None
    if fields[1:3] != [_setting(name) for name in _PLUGIN_SETTINGS]:
        return None
    python, runner = fields[3], fields[4]
    if not (os.path.isabs(python) and os.path.isabs(runner)):
        return None
    variables = dict(field.split("=", 1) for field in fields[5:])
    return python, runner, variables


def _spawn(python: str, runner: str, env: dict[str, str]) -> EarlyChild:
    """`python runner - ZOO_PID` in its own session (Ctrl-C reaches zoo, which ends it), with pipes."""
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    stderr_read, stderr_write = os.pipe()
    try:
        pid = os.posix_spawn(
            python, [python, runner, "-", str(os.getpid())], env, setsid=True,
            file_actions=[(os.POSIX_SPAWN_DUP2, stdin_read, 0), (os.POSIX_SPAWN_DUP2, stdout_write, 1),
                          (os.POSIX_SPAWN_DUP2, stderr_write, 2)],
        )
    except Exception:  # OSError, or NotImplementedError where posix_spawn cannot setsid
        for fd in (stdin_write, stdout_read, stderr_read):
            os.close(fd)
        raise
    finally:
        for fd in (stdin_read, stdout_write, stderr_write):
            os.close(fd)
    return EarlyChild(
        pid,
        open(stdin_write, "w", encoding="utf-8"),
        open(stdout_read, encoding="utf-8", errors="replace"),
        open(stderr_read, encoding="utf-8", errors="replace"),
        (python, runner, env),
    )


def _end_unused() -> None:
    """At exit: a run that failed, or needed no child, leaves no early child behind."""
    global _early
    if _early is not None:
        _early.end()
        _early = None
