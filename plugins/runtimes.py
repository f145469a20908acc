"""The built-in runtimes for `zoo run`: LiteRT-LM on CPU (.task, .litertlm) and the TFLite interpreter (GPT-2 .tflite)."""

from __future__ import annotations

from pathlib import Path

from registry.components import Job, Runtime
from registry.hookspecs import hookimpl

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "litertlm_generate.py"
SERVER = Path(__file__).parent / "runners" / "litertlm_serve.py"


def _engine_cache() -> Path:
    """Where LiteRT-LM keeps its compiled-weights cache: ZOO_HOME/cache, never beside a stored artifact."""
    from registry import settings

    path = settings.get().cache_dir / "litert-lm"
    path.mkdir(parents=True, exist_ok=True)
    return path


class LiteRTLM(Runtime):
    name = "litert-lm"
    description = "LiteRT-LM's Python engine on CPU, greedy sampling (.task and .litertlm)."
    formats = ("litertlm", "task")
    toolchain = toolchains.LITERT_LM  # the engine alone, not the converter stack
    supports_chat = True
    starts_early = True  # litertlm_generate.py imports litert_lm, then reads its request
    supports_bench = True
    supports_serve = True

    def plan_serve(self, artifact, context):
        request = {"artifact": str(artifact), "context": context, "cache_dir": str(_engine_cache())}
        return Job(SERVER, request, f"serving {Path(artifact).name}")

    def plan_bench(self, artifact, runs, prefill_tokens, decode_tokens, context):
        request = {"mode": "bench", "artifact": str(artifact), "runs": runs, "prefill_tokens": prefill_tokens,
                   "decode_tokens": decode_tokens, "context": context, "cache_dir": str(_engine_cache())}
        return Job(RUNNER, request, f"benchmarking {Path(artifact).name}")

    def plan_chat(self, artifact, max_tokens, context, prompt=None):
        request = {"mode": "chat", "artifact": str(artifact), "prompt": prompt, "max_tokens": max_tokens,
                   "context": context, "cache_dir": str(_engine_cache())}
        return Job(RUNNER, request, f"chatting with {Path(artifact).name}")

    def plan(self, artifact, prompt, max_tokens, context):
        request = {"mode": "run", "artifact": str(artifact), "prompt": prompt, "max_tokens": max_tokens, "context": context,
                   "cache_dir": str(_engine_cache())}
        return Job(RUNNER, request, f"generating with {Path(artifact).name}")


class TFLiteText(Runtime):
    name = "tflite-text"
    description = "TensorFlow 2.19's TFLite interpreter with TF-Text ops, for string-in, string-out models (GPT-2)."
    formats = ("tflite",)
    toolchain = toolchains.TENSORFLOW_219

    def plan(self, artifact, prompt, max_tokens, context):
        request = {"mode": "run", "artifact": str(artifact), "prompt": prompt}
        return Job(Path(__file__).parent / "runners" / "tflite_generate.py", request, f"generating with {Path(artifact).name}")


@hookimpl
def register_runtimes(register):
    register(LiteRTLM())
    register(TFLiteText())
