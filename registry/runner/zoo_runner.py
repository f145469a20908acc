"""The child-process side of zoo's runner protocol: what a runner script imports to talk to zoo.

A converter, bundler, check or runtime runs as a standalone script in its toolchain (an isolated
environment that does not have zoo installed). zoo puts the folder holding this one module on the
child's PYTHONPATH, so any runner, a third-party plugin's included, can write

    from zoo_runner import emit, fail, progress, read_request, result

and a runtime that holds a conversation (`zoo run --chat`) also `next_turn` and `text`; one that
serves requests (`zoo serve`) reads each with `next_request`.

Events go to stdout, one JSON object per line (registry/child.py reads them). Standard library only,
and stable: this is part of zoo's public plugin surface (registry/api.py).
"""

import json
import os
import sys

__all__ = ["emit", "fail", "next_request", "next_turn", "progress", "read_request", "result", "text"]


def emit(event, **fields):
    """Send one event: "progress" (message), "result" (data) or "error" (message, fix)."""
    print(json.dumps({"event": event, **fields}), flush=True)


def progress(message):
    """A line zoo shows while the step runs."""
    emit("progress", message=str(message))


def result(data):
    """The step's answer, a JSON object (a check's {"problems": [...]}, a runtime's {"text": ...})."""
    emit("result", data=data)


def text(chunk):
    """A piece of a reply, which zoo prints on stdout as it arrives (`zoo run --chat`)."""
    emit("text", text=str(chunk))


def next_turn():
    """The user's next message (one line), or None when they are done; zoo reads it from its own input."""
    emit("turn")
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def next_request():
    """The next request zoo sends a serving runtime (a JSON object with its "id"), or None once zoo closes
    the pipe; the runtime answers it with "text" events carrying that id, then "done" or "failed"."""
    line = sys.stdin.readline()
    return json.loads(line) if line else None


def fail(message, fix):
    """Stop the step with a message and its fix, which zoo shows as one error; never returns."""
    emit("error", message=str(message), fix=str(fix))
    sys.exit(3)


def read_request():
    """The step's JSON request (the Job's `request`), from the file zoo passes as the first argument.

    A runtime that starts early (Runtime.starts_early) is started by `zoo run` as `runner - ZOO_PID`
    before zoo knows the request: it imports what it needs first, then calls this, which reads the
    request from the first line zoo writes to stdin and moves into the work folder that line names.
    An early runner zoo ends unused reads no line, and exits here.
    """
    if sys.argv[1] != "-":
        with open(sys.argv[1], encoding="utf-8") as fh:
            return json.load(fh)
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    message = json.loads(line)
    os.chdir(message["work_dir"])
    return message["request"]


def _end_with_zoo():
    """An early runner (`runner - ZOO_PID`) ends when the zoo that started it dies in any way: it was
    started without the death signal registry/child.py gives every other child, so it asks the kernel
    for it itself (PR_SET_PDEATHSIG), and leaves at once when zoo is gone already."""
    if sys.argv[1:2] != ["-"] or len(sys.argv) < 3 or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(sys.argv[2]):
        os._exit(1)


_end_with_zoo()
