"""Built-in converters declared ahead of their implementation (GPT-2 via Keras)."""

from registry.components import Converter
from registry.hookspecs import hookimpl

from plugins import toolchains


class KerasTFLiteConverter(Converter):
    name = "keras-tflite"
    description = "A keras-hub causal LM's generate() to a string-in, string-out TFLite model (TF-Text ops)."
    toolchain = toolchains.TENSORFLOW_219
    produces = ("tflite",)


@hookimpl
def register_converters(register):
    register(KerasTFLiteConverter())
