"""The built-in converters, each running in its own pinned toolchain."""

from registry.components import Converter
from registry.hookspecs import hookimpl

from plugins import toolchains


class MediaPipeConverter(Converter):
    name = "mediapipe"
    description = "MediaPipe genai converter (PHI_2, FALCON_RW_1B, STABLELM_4E1T_3B, GEMMA_2B, GEMMA2_2B, GEMMA_7B) to a .bin."
    toolchain = toolchains.MEDIAPIPE
    produces = ("bin",)


class KerasTFLiteConverter(Converter):
    name = "keras-tflite"
    description = "A keras-hub causal LM's generate() to a string-in, string-out TFLite model (TF-Text ops)."
    toolchain = toolchains.TENSORFLOW_219
    produces = ("tflite",)


class LiteRTTorchConverter(Converter):
    name = "litert-torch"
    description = "AI Edge Torch generative API: a PyTorch decoder to a multi-signature LiteRT model (prefill_*, decode)."
    toolchain = toolchains.LITERT_TORCH
    produces = ("tflite",)


@hookimpl
def register_converters(register):
    for converter in (MediaPipeConverter(), KerasTFLiteConverter(), LiteRTTorchConverter()):
        register(converter)
