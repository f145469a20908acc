"""The built-in bundlers: a MediaPipe .task and a LiteRT-LM .litertlm, both from a converted
LiteRT model plus the checkpoint's sentencepiece tokenizer. Unlike MediaPipe's own bundler, zoo
refuses start and stop tokens that the tokenizer does not have (plugins/runners/tokens.py)."""

from __future__ import annotations

from pathlib import Path

from registry.components import BuildRequest, Bundler, Job
from registry.errors import BuildError
from registry.hookspecs import hookimpl

from plugins import toolchains

RUNNERS = Path(__file__).parent / "runners"


def _converted_model(request: BuildRequest) -> Path:
    for name, path in request.outputs.items():
        if name.endswith(".tflite"):
            return path
    raise BuildError(f"{request.variant.id}: no converted .tflite to bundle.", fix="Check the recipe's converter.")


def _tokenizer(request: BuildRequest) -> Path:
    path = request.inputs_dir / "tokenizer.model"
    if not path.is_file():
        raise BuildError(f"{request.inputs_dir} has no tokenizer.model; the bundles need a sentencepiece tokenizer.",
                         fix="Add the model's sentencepiece tokenizer.model to the checkpoint directory.")
    return path


def _output_name(request: BuildRequest, extension: str) -> str:
    for output in request.variant.outputs:
        if output.path.endswith(extension):
            return output.path
    return f"{request.variant.id}{extension}"


def _request(request: BuildRequest, extension: str) -> tuple[str, Path, dict]:
    bundle = request.variant.bundle
    name = _output_name(request, extension)
    output = request.work_dir / name
    template = bundle.prompt_template
    return name, output, {
        "model": str(_converted_model(request)),
        "tokenizer": str(_tokenizer(request)),
        "start_token": bundle.start_token or "",
        "stop_tokens": list(bundle.stop_tokens),
        "prompt_prefix": template.prefix if template else "",
        "prompt_suffix": template.suffix if template else "",
        "output": str(output),
    }


class MediaPipeTaskBundler(Bundler):
    name = "mediapipe-task"
    description = "mediapipe.tasks.python.genai.bundler: model + sentencepiece tokenizer + start/stop tokens in a .task."
    toolchain = toolchains.LITERT_TORCH
    produces = "task"

    def plan(self, request: BuildRequest) -> Job:
        name, output, data = _request(request, ".task")
        return Job(RUNNERS / "mediapipe_bundle.py", data, "MediaPipe .task bundling", {name: output})


class LiteRTLMBundler(Bundler):
    name = "litertlm"
    description = "litert-lm-builder: model + tokenizer + metadata in a .litertlm for LiteRT-LM."
    toolchain = toolchains.LITERT_TORCH
    produces = "litertlm"

    def plan(self, request: BuildRequest) -> Job:
        name, output, data = _request(request, ".litertlm")
        data["context_length"] = int(request.options.params.get("kv_cache_max_len", 64))
        return Job(RUNNERS / "litertlm_bundle.py", data, ".litertlm bundling", {name: output})


@hookimpl
def register_bundlers(register):
    register(MediaPipeTaskBundler())
    register(LiteRTLMBundler())
