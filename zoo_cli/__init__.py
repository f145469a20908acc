"""zoo's command line. The tree of modules mirrors the tree of commands: zoo_cli.root is `zoo`
itself, zoo_cli.pull `zoo pull`, and so on; `run()` is the executable.
"""

from __future__ import annotations

import sys


def run() -> None:
    """The `zoo` executable: main(), then an exit that skips Python's last full garbage collection.

    First of all, before click and zoo's modules load, `zoo run` starts the runtime its last run
    used, which imports while zoo parses (registry/warm_start.py).

    That last collection walks every object the imports made (pydantic schemas, the HTTP clients):
    40 ms after a Hugging Face pull, 8 ms of a 73 ms `zoo list`. gc.freeze() leaves them out
    of it; files and locks still close as the interpreter tears down, and atexit handlers still
    run. main() itself stays side-effect free for callers that run it in-process (the tests).
    """
    from registry import warm_start

    warm_start.start_early(sys.argv[1:])

    import gc

    from zoo_cli.root import main, stop_on_signals

    stop_on_signals()
    code = main()
    gc.freeze()
    sys.exit(code)
