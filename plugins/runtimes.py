"""The built-in runtime: LiteRT-LM's engine on CPU runs .task and .litertlm files (`zoo run`)."""

from __future__ import annotations

from pathlib import Path

from registry.components import Job, Runtime
from registry.hookspecs import hookimpl

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "litertlm_generate.py"


class LiteRTLM(Runtime):
    name = "litert-lm"
    description = "LiteRT-LM's Python engine on CPU, greedy sampling (.task and .litertlm)."
    formats = ("litertlm", "task")
    toolchain = toolchains.LITERT_TORCH

    def plan(self, artifact, prompt, max_tokens, context):
        request = {"mode": "run", "artifact": str(artifact), "prompt": prompt, "max_tokens": max_tokens, "context": context}
        return Job(RUNNER, request, f"generating with {Path(artifact).name}")


@hookimpl
def register_runtimes(register):
    register(LiteRTLM())
