"""The built-in checks an output must pass before it is installed."""

from registry.components import Verifier
from registry.hookspecs import hookimpl

from plugins import toolchains


class TFLiteFlatbuffer(Verifier):
    name = "tflite-flatbuffer"
    description = "The file is a TFLite flatbuffer (identifier TFL3 at bytes 4..8)."
    formats = ("bin", "tflite")


class MediaPipeMetadata(Verifier):
    name = "mediapipe-metadata"
    description = "A MediaPipe .bin's metadata (LlmModelType, backend, LlmParameters, tokenizer) matches the variant."
    formats = ("bin",)


class TaskBundle(Verifier):
    name = "task-bundle"
    description = "A .task is a zip holding TF_LITE_PREFILL_DECODE, TOKENIZER_MODEL and METADATA, with safe member names."
    formats = ("task",)


class LiteRTLMBundle(Verifier):
    name = "litertlm-bundle"
    description = "A .litertlm container with its header and sections readable."
    formats = ("litertlm",)


class TFLiteSignatures(Verifier):
    name = "tflite-signatures"
    description = "The LiteRT model exposes prefill_* and decode signatures (read from the flatbuffer, no TensorFlow)."
    formats = ("tflite",)


class TFLiteGeneration(Verifier):
    name = "tflite-generation"
    description = "Runs the model in the TFLite interpreter with TF-Text ops and compares with the Keras model's greedy text."
    formats = ("tflite",)
    runs_model = True
    toolchain = toolchains.TENSORFLOW_219


class LiteRTLMGeneration(Verifier):
    name = "litertlm-generation"
    description = "Generates greedily with the LiteRT-LM engine on CPU and compares with the PyTorch model's greedy text."
    formats = ("task", "litertlm")
    runs_model = True
    toolchain = toolchains.LITERT_TORCH


@hookimpl
def register_verifiers(register):
    for verifier in (
        TFLiteFlatbuffer(),
        MediaPipeMetadata(),
        TaskBundle(),
        LiteRTLMBundle(),
        TFLiteSignatures(),
        TFLiteGeneration(),
        LiteRTLMGeneration(),
    ):
        register(verifier)
