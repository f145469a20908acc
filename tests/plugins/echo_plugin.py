"""A test runtime that starts early (Runtime.starts_early) and answers with how it was started.

It runs .tflite files with zoo's own interpreter (no toolchain), chosen by `zoo run --runtime echo`;
its runner reports its argv and folder, so a test sees whether `zoo run` handed the request to a
runner it started early.
"""

from pathlib import Path

from registry.components import Job, Runtime
from registry.hookspecs import hookimpl

RUNNER = Path(__file__).with_name("echo_runner.py")


class EchoRuntime(Runtime):
    name = "echo"
    description = "Answers with how its runner was started (tests only)."
    formats = ("tflite",)
    starts_early = True

    def plan(self, artifact, prompt, max_tokens, context):
        return Job(RUNNER, {"prompt": prompt}, "echoing")


@hookimpl
def register_runtimes(register):
    register(EchoRuntime())
