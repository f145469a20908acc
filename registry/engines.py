"""Engines that stay loaded between requests (`zoo serve`): one child process per artifact, in its
runtime's toolchain, answering one request at a time.

An engine starts on the first request for its artifact and stays until the memory budget needs
its room (the least recently used idle engine goes first) or zoo stops. Requests for a busy engine
wait in line (a bounded one: past `max_waiting`, EngineBusy), so concurrent clients are answered one
after another and never run two generations in one engine. An engine whose process dies fails the
request it was answering and is started again for the next. The child gets PR_SET_PDEATHSIG through
start_job, so it never outlives zoo; as that signal follows the thread that started the child, every
engine is started by the pool's one launcher thread, which lives as long as the pool (a request's own
thread ends with the request, and took its engine along).
"""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .child import JobLog, parse_event, start_job
from .errors import ZooError

READY_SECONDS = 300.0
"""How long an engine may take to load before zoo gives up on it."""
QUIET_SECONDS = 600.0
"""How long a generation may go without a word before zoo gives up on it."""


class EngineBusy(ZooError):
    """More requests wait for this engine than zoo queues."""


class EngineFailed(ZooError):
    """The engine could not load, or died or failed while answering."""


@dataclass
class Servable:
    """A stored artifact a runtime can serve: what `/v1/models` lists."""

    id: str
    path: Path
    runtime: object
    context: int
    created: int

    @property
    def cost(self) -> int:
        """The memory an engine of it is expected to take: its weights, mapped, and a margin for the rest."""
        return int(self.path.stat().st_size * 1.3) + (64 << 20)


class Engine:
    """One loaded artifact: its child process, the line of requests waiting for it, and its events."""

    def __init__(self, servable: Servable, python: Path, variables: dict[str, str], max_waiting: int,
                 launcher: ThreadPoolExecutor) -> None:
        self.servable = servable
        self.launcher = launcher
        self.python, self.variables = python, variables
        self.max_waiting = max_waiting
        self.turn = threading.Lock()  # held by the request being answered; the others wait for it
        self.waiting = 0
        self.counter = threading.Lock()
        self.events: queue.Queue = queue.Queue()
        self.process = None
        self.last_used = time.monotonic()
        self.work = Path(tempfile.mkdtemp(prefix="zoo-serve-"))

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Load the artifact in a child; returns once it says it is ready (EngineFailed otherwise)."""
        job = self.servable.runtime.plan_serve(self.servable.path, self.servable.context)
        self.events = queue.Queue()
        self.log = JobLog(job.what)
        self.process = self.launcher.submit(start_job, self.python, job.runner, job.request, self.work, self.variables,
                                            conversation=True).result()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        event = self._next_event(READY_SECONDS)
        if event.get("event") != "ready":
            self.stop()
            raise EngineFailed(f"{self.servable.id} could not be loaded: {event.get('message', 'the engine ended')}."
                               + self.log.where(), fix=event.get("fix") or "Run `zoo verify --run ID` to see why.")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Close its stdin (the runner ends), and kill it if it does not end at once."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a wedged engine is killed below
            process.kill()
            process.wait()
        self.log.close()

    def close(self) -> None:
        """Stop it for good: its scratch folder goes too."""
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def _read_stdout(self) -> None:
        process = self.process
        for line in process.stdout:
            event = parse_event(line.rstrip())
            if event is None:
                self.log.write("stdout", line.rstrip())
            else:
                self.events.put(event)
        self.events.put({"event": "ended"})

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:
            self.log.write("stderr", line.rstrip())

    def _next_event(self, timeout: float) -> dict:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return {"event": "ended", "message": f"no answer within {timeout:.0f} s"}

    # -------------------------------------------------------------- requests

    def reserve(self) -> None:
        """Take a place in line (EngineBusy when the line is full); `answer` gives it up."""
        with self.counter:
            if self.waiting >= self.max_waiting:
                raise EngineBusy(f"{self.waiting} requests already wait for {self.servable.id}.",
                                 fix="Try again in a moment, or start zoo serve with a larger --queue.")
            self.waiting += 1

    def idle(self) -> bool:
        return self.waiting == 0 and not self.turn.locked()

    def answer(self, request: dict) -> Iterator[dict]:
        """The events answering `request` (reserved first), in order: "text" pieces, then "done"."""
        try:
            self.turn.acquire()
        finally:
            with self.counter:
                self.waiting -= 1
        try:
            yield from self._answer_now(request)
        finally:
            self.last_used = time.monotonic()
            self.turn.release()

    def _answer_now(self, request: dict) -> Iterator[dict]:
        if not self.alive():
            self.start()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        while True:
            event = self._next_event(QUIET_SECONDS)
            if event.get("id") not in (None, request["id"]):
                continue  # the tail of an earlier request its client stopped reading
            kind = event.get("event")
            if kind == "text":
                yield event
            elif kind == "done":
                yield event
                return
            elif kind == "failed":
                failure = EngineFailed(f"The engine could not answer: {event.get('message')}.",
                                       fix=event.get("fix") or "Check the request; `zoo run ID --prompt TEXT` tries "
                                       "the model alone.")
                failure.invalid_request = bool(event.get("invalid"))  # the request's fault, not the engine's
                raise failure
            elif kind in ("ended", "error"):
                self.stop()
                raise EngineFailed(f"The engine for {self.servable.id} stopped while answering "
                                   f"({event.get('message') or 'it exited'})." + self.log.where(),
                                   fix="The next request starts it again; if it keeps stopping, run `zoo verify --run ID`.")


class EnginePool:
    """The engines of the servable artifacts, loaded on first use and kept within `budget_bytes`."""

    def __init__(self, servables: dict[str, Servable], environments: dict, budget_bytes: int, max_waiting: int) -> None:
        self.servables = servables
        self.environments = environments
        self.budget_bytes = budget_bytes
        self.max_waiting = max_waiting
        self.engines: dict[str, Engine] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoo-engines")

    def answer(self, model: str, request: dict) -> Iterator[dict]:
        """The events answering `request` from `model`'s engine, which is made (and loaded by its first
        request) when it has none, after idle engines that would not leave it room are stopped."""
        with self.lock:
            engine = self.engines.get(model)
            if engine is None:
                servable = self.servables[model]
                self._make_room(servable.cost)
                python, variables = self.environments[servable.runtime.name]
                engine = self.engines[model] = Engine(servable, python, variables, self.max_waiting, self.launcher)
            engine.reserve()  # under the pool's lock, so no eviction takes an engine someone waits for
        yield from engine.answer(request)

    def _make_room(self, needed: int) -> None:
        idle = sorted((e for e in self.engines.values() if e.idle()), key=lambda e: e.last_used)
        while idle and sum(e.servable.cost for e in self.engines.values()) + needed > self.budget_bytes:
            victim = idle.pop(0)
            victim.close()
            del self.engines[victim.servable.id]

    def next_id(self) -> str:
        return f"{next(self.ids):08d}"

    def close(self) -> None:
        with self.lock:
            for engine in self.engines.values():
                engine.close()
            self.engines.clear()
        self.launcher.shutdown(wait=False)
