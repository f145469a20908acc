"""Running a converter, bundler or runtime check in its toolchain, as a child process.

Native converters abort, segfault or get OOM-killed instead of raising, so they never run in
zoo's process. A job is a standalone runner script (stdlib plus the toolchain's packages, never
zoo's own modules) given a JSON request file. The one zoo module it may import is `zoo_runner`
(registry/runner/zoo_runner.py, put on its PYTHONPATH), whose helpers report on stdout, one JSON
object per line:

    {"event": "progress", "message": "writing weights"}
    {"event": "result", "data": {...}}
    {"event": "error", "message": "...", "fix": "..."}     (then exits non-zero)

Anything else it prints is kept as log. zoo records wall time and peak RSS (wait4's rusage) and
turns a signal into an error that names it and its likely cause.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .child_environment import child_environment
from .errors import BuildError

if TYPE_CHECKING:
    from .warm_start import EarlyChild


@dataclass
class JobResult:
    seconds: float
    peak_rss_bytes: int
    data: dict = field(default_factory=dict)
    log: list[str] = field(default_factory=list)


def machine_ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def available_ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return machine_ram_bytes()


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def explain_signal(number: int, what: str, ram_gb: float | None) -> tuple[str, str]:
    name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
    if number == signal.SIGKILL:
        need = f"{what} needs about {ram_gb:g} GB of RAM; " if ram_gb else ""
        return (
            f"The {what} step was killed by {name}, most likely by the kernel's out-of-memory killer: "
            f"{need}this machine has {_gb(machine_ram_bytes())} ({_gb(available_ram_bytes())} free now).",
            "Close other programs or use a machine with more memory; int4 variants need less.",
        )
    if number in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE):
        return (
            f"The {what} step crashed in native code ({name}). This usually means the checkpoint does not have "
            "the shapes this model type requires (the converter fixes every dimension), or a converter bug.",
            "Check that the checkpoint is the model the manifest names; the log named above holds all the converter said.",
        )
    return (f"The {what} step was stopped by {name}.", "Run the command again.")


LOG_LIMIT = 32 << 20
"""Bytes of one job's log kept on disk; a runner that prints without end is cut there."""
LOGS_KEPT = 30
"""Job logs kept under ZOO_HOME/logs; older ones are removed as new ones start."""


class JobLog:
    """A job's whole output (stdout lines that are no event, and stderr), kept under ZOO_HOME/logs so a
    failure can name a file with everything the converter said. Bounded (LOG_LIMIT) and rotated
    (LOGS_KEPT); created exclusively under a new name, so a planted link is never written through."""

    def __init__(self, what: str) -> None:
        import re
        import tempfile

        from . import settings

        self.lock = threading.Lock()
        self.written = 0
        self.path: Path | None = None
        self.file = None
        try:
            folder = settings.get().home / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^A-Za-z0-9._-]+", "-", what)[:60].strip("-") or "job"
            fd, name = tempfile.mkstemp(prefix=f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}-", suffix=".log", dir=folder)
            self.file, self.path = os.fdopen(fd, "w", encoding="utf-8", errors="replace"), Path(name)
            for old in sorted(folder.glob("*.log"), key=lambda p: p.name)[:-LOGS_KEPT]:
                old.unlink(missing_ok=True)
        except OSError:
            self.file = None  # a home that takes no log still runs the job

    def write(self, stream: str, line: str) -> None:
        if self.file is None:
            return
        with self.lock:
            if self.written > LOG_LIMIT:
                return
            text = f"{stream}: {line}\n"
            self.written += len(text)
            try:
                self.file.write(text if self.written <= LOG_LIMIT else f"(cut at {LOG_LIMIT} bytes)\n")
            except OSError:
                self.file = None

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                try:
                    self.file.close()
                except OSError:
                    pass
            self.file = None

    def where(self) -> str:
        return f" The whole log: {self.path}." if self.path is not None else ""


def _ends_with_zoo() -> Callable[[], None] | None:
    """What the child runs before its program (preexec_fn): the kernel sends it SIGTERM when the zoo that
    started it dies in any way, SIGKILL included (PR_SET_PDEATHSIG), so no job outlives zoo. SIGTERM
    ends a Python runner at once; node runners exit on it, and puppeteer then closes their browser.
    (The signal follows the thread that started the child: zoo starts jobs from its main thread.)"""
    import sys

    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arrange() -> None:
        prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # zoo died before the line above took hold
            os._exit(1)

    return arrange


def run_job(
    python: Path,
    runner: Path,
    request: dict,
    work_dir: Path,
    *,
    what: str,
    ram_gb: float | None = None,
    on_progress: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
    on_text: Callable[[str], None] | None = None,
    next_turn: Callable[[], str | None] | None = None,
    early: EarlyChild | None = None,
) -> JobResult:
    """Run `runner` with `request` under `python`; raise BuildError on any failure. `early` is that
    runner already running, started early by `zoo run` (registry/warm_start.py), to hand the request to.

    A conversation (`next_turn`) gets a pipe for stdin: each "turn" event is answered with the next
    line `next_turn` returns, and None closes the pipe. Other jobs read nothing (stdin is /dev/null).
    """
    started = time.monotonic()
    process = start_job(python, runner, request, work_dir, env, conversation=next_turn is not None, early=early)
    output = _JobOutput(process, what, on_progress, on_text, next_turn)
    try:
        output.read()
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        output.whole.close()
        raise
    output.finish()
    process.returncode = os.waitstatus_to_exitcode(status)
    _refuse_failure(status, output, what, ram_gb)
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    return JobResult(time.monotonic() - started, peak, output.result, list(output.log))


def start_job(python: Path, runner: Path, request: dict, work_dir: Path, env: dict[str, str] | None, *,
              conversation: bool, early: EarlyChild | None = None) -> subprocess.Popen | EarlyChild:
    """The child, in its own session, with the request in a file beside its work (or on the stdin
    of the one started early)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if early is not None:
        return early.hand(request, work_dir, conversation=conversation)
    request_file = work_dir / f"{runner.stem}.request.json"
    request_file.write_text(json.dumps(request))
    child_env = child_environment()
    child_env.update(env or {})
    return subprocess.Popen(
        [str(python), str(runner), str(request_file)],
        stdin=subprocess.PIPE if conversation else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work_dir,
        env=child_env,
        start_new_session=True,  # Ctrl-C reaches zoo, which then stops the whole job
        preexec_fn=_ends_with_zoo(),  # and a zoo killed outright (SIGKILL, OOM) takes the job with it
    )


class _JobOutput:
    """What a job says: its JSON events on stdout, anything else kept as log lines, stderr drained beside."""

    def __init__(self, process: subprocess.Popen, what: str, on_progress, on_text, next_turn) -> None:
        self.process = process
        self.on_progress, self.on_text, self.next_turn = on_progress, on_text, next_turn
        self.log: deque[str] = deque(maxlen=200)
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.result: dict = {}
        self.error: dict = {}
        self.whole = JobLog(what)
        self.reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self.reader.start()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_tail.append(line.rstrip())
            self.whole.write("stderr", line.rstrip())

    def read(self) -> None:
        """Until the child closes its stdout."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip()
            event = parse_event(line)
            if event is None:
                self.log.append(line)
                self.whole.write("stdout", line)
            else:
                self._handle(event)

    def _handle(self, event: dict) -> None:
        kind = event["event"]
        if kind == "progress" and self.on_progress:
            self.on_progress(str(event.get("message", "")))
        elif kind == "text" and self.on_text:
            self.on_text(str(event.get("text", "")))
        elif kind == "turn" and self.next_turn:
            self._answer_turn()
        elif kind == "result":
            self.result = event.get("data") or {}
        elif kind == "error":
            self.error = event

    def _answer_turn(self) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.closed:
            return
        turn = self.next_turn()
        try:
            if turn is None:
                stdin.close()
            else:
                stdin.write(turn.replace("\n", " ") + "\n")
                stdin.flush()
        except BrokenPipeError:
            pass

    def finish(self) -> None:
        self.reader.join(timeout=5)
        self.whole.close()


def parse_event(line: str) -> dict | None:
    """The JSON event a line carries, or None for a plain log line."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _refuse_failure(status: int, output: _JobOutput, what: str, ram_gb: float | None) -> None:
    """A BuildError for a job killed by a signal or ending with a non-zero status."""
    if os.WIFSIGNALED(status):
        message, fix = explain_signal(os.WTERMSIG(status), what, ram_gb)
        raise BuildError(message + _tail(output.stderr_tail) + output.whole.where(), fix=fix)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return
    if output.error:
        raise BuildError(f"The {what} step failed: {output.error.get('message')}" + output.whole.where(),
                         fix=output.error.get("fix") or "See the message above.")
    raise BuildError(
        f"The {what} step exited with status {code}." + _tail(output.stderr_tail) + output.whole.where(),
        fix="Read the log named above; `zoo toolchain doctor` checks the toolchain.",
    )


def _tail(lines: deque[str]) -> str:
    useful = [line for line in lines if line.strip()][-3:]
    return (" Last output: " + " | ".join(useful)[-600:]) if useful else ""
