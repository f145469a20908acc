"""The built-in checks an output must pass before it is installed.

Structural checks read the file itself (flatbuffer tables, zip directory) in zoo's own process
and never import a converter stack; checks that run the model execute in their toolchain.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from registry.components import Verifier
from registry.hookspecs import hookimpl

from plugins import toolchains

TASK_MEMBERS = ("TF_LITE_PREFILL_DECODE", "TOKENIZER_MODEL", "METADATA")


def _read_tflite(path: Path, problems: list[str]):
    from registry import tflite

    try:
        return tflite.read(path)
    except tflite.NotTFLite as exc:
        problems.append(f"not a readable TFLite flatbuffer: {exc}")
    except OSError as exc:
        problems.append(f"cannot be read: {exc.strerror or exc}")
    return None


class TFLiteFlatbuffer(Verifier):
    name = "tflite-flatbuffer"
    description = "The file is a TFLite flatbuffer (identifier TFL3 at bytes 4..8) whose tables parse."
    formats = ("bin", "tflite")

    def check(self, path, variant, output):
        problems: list[str] = []
        _read_tflite(path, problems)
        return problems


class MediaPipeMetadata(Verifier):
    name = "mediapipe-metadata"
    description = "A MediaPipe .bin's metadata (LlmModelType, backend, tokenizer) matches the variant."
    formats = ("bin",)

    def check(self, path, variant, output):
        from registry.tflite import LLM_MODEL_TYPES

        problems: list[str] = []
        info = _read_tflite(path, problems)
        if info is None:
            return problems
        meta = info.metadata
        backend = meta.get("backend", b"").decode("utf-8", "replace")
        if "backend" not in meta:
            problems.append("no 'backend' metadata: not a MediaPipe LLM file")
        elif backend != variant.backend:
            problems.append(f"its backend metadata says '{backend}', but {variant.id} is a {variant.backend} variant")
        expected_type = variant.expect.get("model_type") or (variant.recipe.params.get("model_type") if variant.recipe else None)
        raw_type = meta.get("odml.infra.LlmModelType")
        if raw_type is None:
            problems.append("no 'odml.infra.LlmModelType' metadata")
        elif expected_type:
            found = LLM_MODEL_TYPES.get(raw_type[0], f"unknown type {raw_type[0]}") if raw_type else "empty"
            if found != expected_type:
                problems.append(f"its model type is {found}, but the manifest expects {expected_type}")
        if not meta.get("spm_vocab_model"):
            problems.append("no tokenizer ('spm_vocab_model' metadata)")
        return problems


class TaskBundle(Verifier):
    name = "task-bundle"
    description = "A .task is a zip holding TF_LITE_PREFILL_DECODE, TOKENIZER_MODEL and METADATA, with safe member names."
    formats = ("task",)

    def check(self, path, variant, output):
        problems: list[str] = []
        try:
            with zipfile.ZipFile(path) as bundle:
                names = bundle.namelist()
                for name in names:
                    parts = PurePosixPath(name).parts
                    if name.startswith("/") or "\\" in name or ".." in parts:
                        problems.append(f"member '{name}' would escape the bundle (zip-slip)")
                missing = [m for m in TASK_MEMBERS if m not in names]
                if missing:
                    problems.append(f"missing members {', '.join(missing)}")
                elif bundle.read("TF_LITE_PREFILL_DECODE")[4:8] != b"TFL3":
                    problems.append("TF_LITE_PREFILL_DECODE is not a TFLite flatbuffer")
        except (zipfile.BadZipFile, OSError) as exc:
            problems.append(f"not a readable zip: {exc}")
        return problems


class LiteRTLMBundle(Verifier):
    name = "litertlm-bundle"
    description = "A .litertlm container with its header and sections readable."
    formats = ("litertlm",)


class TFLiteSignatures(Verifier):
    name = "tflite-signatures"
    description = "The LiteRT model exposes prefill_* and decode signatures (read from the flatbuffer, no TensorFlow)."
    formats = ("tflite",)

    def check(self, path, variant, output):
        problems: list[str] = []
        info = _read_tflite(path, problems)
        if info is None:
            return problems
        keys = info.signature_keys
        if "decode" not in keys:
            problems.append(f"no 'decode' signature (it has {', '.join(keys) or 'none'})")
        if not any(k.startswith("prefill") for k in keys):
            problems.append(f"no 'prefill_*' signature (it has {', '.join(keys) or 'none'})")
        return problems


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
