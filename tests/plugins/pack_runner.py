"""The test converter's runner: packs its input files into a TFLite flatbuffer, or misbehaves on request.

It runs as a child process like every real runner (registry/child.py protocol). Modes:
ok, abort (SIGABRT), kill (SIGKILL), refuse (an error event), garbage (not a flatbuffer),
wrong-backend (a MediaPipe-shaped .bin whose backend differs from the variant's), hang (runs until stopped).
"""

import hashlib
import os
import signal
import sys
from pathlib import Path

from zoo_runner import emit, read_request  # zoo's runner protocol, on every runner's path


def main():
    request = read_request()
    mode, output = request["mode"], Path(request["output"])
    emit("progress", message=f"packing in mode {mode}")
    digest = hashlib.sha256()
    for name in sorted(os.listdir(request["inputs"])):
        digest.update(Path(request["inputs"], name).read_bytes())
    if mode == "abort":
        output.write_bytes(b"half")
        print("native converter: assertion failed in layer 7", file=sys.stderr, flush=True)  # what the log must keep
        os.kill(os.getpid(), signal.SIGABRT)
    if mode == "kill":
        output.write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "hang":  # a step that runs until stopped; its pid goes into its work folder for the test
        Path("hang.pid.tmp").write_text(str(os.getpid()))
        os.replace("hang.pid.tmp", "hang.pid")  # whole when it appears: the tests read it at once
        import time

        while True:
            time.sleep(1)
    if mode == "refuse":
        emit("error", message="ValueError: tensor shapes do not match FAKE_MODEL", fix="Use the right checkpoint.")
        sys.exit(3)
    from registry.testing.tflite_builder import build_tflite, mediapipe_like_bin

    if mode == "big":  # fills a small disk: 64 MB of output
        with open(output, "wb") as fh:
            for _ in range(64):
                fh.write(b"\0" * (1 << 20))
    if mode == "garbage":
        output.write_bytes(b"this is not a flatbuffer" * 10)
    elif mode == "wrong-backend":
        output.write_bytes(mediapipe_like_bin("FALCON_RW_1B", "cpu" if request["backend"] == "gpu" else "gpu"))
    else:
        output.write_bytes(build_tflite(tensor_names=[digest.hexdigest(), request["salt"]], subgraph_name="packed"))
    emit("result", data={"inputs_sha256": digest.hexdigest()})


if __name__ == "__main__":
    main()
