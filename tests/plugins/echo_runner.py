"""The echo runtime's runner. Started early (`echo_runner.py - ZOO_PID`), it records its pid beside
itself in early.pid before it reads its request, and first waits a minute when a file named
`linger` is there (a runtime still importing). Its answer is its prompt, argv[1] and folder name."""

import json
import os
import sys
import time
from pathlib import Path

from zoo_runner import read_request, result

HERE = Path(__file__).parent
if sys.argv[1] == "-":
    (HERE / "early.pid.tmp").write_text(str(os.getpid()))
    os.replace(HERE / "early.pid.tmp", HERE / "early.pid")
    if (HERE / "linger").exists():
        time.sleep(60)
request = read_request()
result({"text": json.dumps({"prompt": request["prompt"], "argv1": sys.argv[1], "folder": Path.cwd().name})})
