"""Built-in converters declared ahead of their implementation (GPT-2 via Keras, PyTorch via litert-torch)."""

from registry.components import Converter
from registry.hookspecs import hookimpl

from plugins import toolchains


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
    for converter in (KerasTFLiteConverter(), LiteRTTorchConverter()):
        register(converter)
