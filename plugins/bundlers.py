"""The built-in bundlers: a MediaPipe .task and a LiteRT-LM .litertlm."""

from registry.components import Bundler
from registry.hookspecs import hookimpl

from plugins import toolchains


class MediaPipeTaskBundler(Bundler):
    name = "mediapipe-task"
    description = "mediapipe.tasks.python.genai.bundler: model + sentencepiece tokenizer + start/stop tokens in a .task."
    toolchain = toolchains.LITERT_TORCH
    produces = "task"


class LiteRTLMBundler(Bundler):
    name = "litertlm"
    description = "litert_lm_builder: model + tokenizer + metadata in a .litertlm for LiteRT-LM."
    toolchain = toolchains.LITERT_TORCH
    produces = "litertlm"


@hookimpl
def register_bundlers(register):
    register(MediaPipeTaskBundler())
    register(LiteRTLMBundler())
