"""The built-in checks an output must pass before it is installed.

Structural checks read the file itself (flatbuffer tables, zip directory) in zoo's own process
and never import a converter stack; checks that run the model execute in their toolchain.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from registry.components import Format, Verifier
from registry.hookspecs import hookimpl

from plugins import toolchains

RUNNERS = Path(__file__).parent / "runners"
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
    by_default = True

    def check(self, path, variant, output):
        problems: list[str] = []
        _read_tflite(path, problems)
        return problems


class MediaPipeMetadata(Verifier):
    name = "mediapipe-metadata"
    description = (
        "A MediaPipe .bin's metadata matches the variant: model type, backend, the model type's parameters "
        "(sizes and layer count), every layer's tensors, the tokenizer, and a LoRA file's rank."
    )
    formats = ("bin",)
    by_default = True

    def check(self, path, variant, output):
        from registry.tflite import EXPECTED_SHAPES, LLM_MODEL_TYPES, NotTFLite, llm_shape

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
        expected = output.expect.get("model_type") or variant.expect.get("model_type") or (
            variant.recipe.params.get("model_type") if variant.recipe else None)
        code = info.metadata_buffer_index.get("odml.infra.LlmModelType")
        found = LLM_MODEL_TYPES.get(code, f"unknown type {code}") if code is not None else None
        if found is None:
            problems.append("no 'odml.infra.LlmModelType' metadata")
        elif expected and found != expected:
            problems.append(f"its model type is {found}, but the manifest expects {expected}")
        if output.expect.get("lora_rank") is not None:
            rank = info.metadata_buffer_index.get("lora_rank")
            if rank != output.expect["lora_rank"]:
                problems.append(f"its lora_rank metadata is {rank}, expected {output.expect['lora_rank']}")
            return problems  # a LoRA file holds adapter weights only
        if not info.metadata_sizes.get("spm_vocab_model"):
            problems.append("no tokenizer ('spm_vocab_model' metadata)")
        shape = EXPECTED_SHAPES.get(found or "")
        if shape:
            try:
                actual = llm_shape(meta.get("odml.infra.proto.LlmParameters", b""))
            except NotTFLite as exc:
                problems.append(f"unreadable LlmParameters: {exc}")
                return problems
            if actual != shape:
                problems.append(f"its LlmParameters say {actual}, but {found} is {shape}")
            problems += _missing_tensors(info.tensor_names, shape.layers)
        return problems


def _missing_tensors(names: list[str], layers: int) -> list[str]:
    """Every layer needs its attention (q, k, v, post) and feed-forward tensors; the model its head."""
    present = set(names)
    missing = []
    for prefix in ("params.lm.softmax.logits_ffn", "params.lm.final_ln"):
        if not any(n.startswith(prefix) for n in present):
            missing.append(prefix)
    for i in range(layers):
        base = f"params.lm.transformer.x_layers_{i}."
        for part in ("self_attention.q", "self_attention.k", "self_attention.v", "self_attention.post",
                     "ff_layer.ffn_layer1", "ff_layer.ffn_layer2"):
            if not any(n.startswith(base + part + ".") for n in present):
                missing.append(base + part)
    extra = sorted({n.split(".")[3] for n in present if n.startswith("params.lm.transformer.x_layers_")}
                   - {f"x_layers_{i}" for i in range(layers)})
    problems = []
    if missing:
        problems.append(f"{len(missing)} expected tensors are missing, e.g. {', '.join(missing[:3])}")
    if extra:
        problems.append(f"tensors for layers the model does not have: {', '.join(extra[:3])}")
    return problems


MAX_ZIP_MEMBERS = 1000
"""A .task holds a handful of members; a central directory listing more is refused before it is parsed."""


def _zip_entry_count(fh) -> int | None:
    """The entry count the zip's end-of-central-directory record claims (zip64 included), None if absent."""
    import struct

    size = fh.seek(0, 2)
    fh.seek(max(0, size - (1 << 16) - 22))
    tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count = struct.unpack_from("<H", tail, at + 10)[0]
    if count == 0xFFFF:
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        if locator < 0 or locator + 20 > len(tail):
            return None
        (record,) = struct.unpack_from("<Q", tail, locator + 8)
        fh.seek(record)
        head = fh.read(56)
        if len(head) < 56 or head[:4] != b"PK\x06\x06":
            return None
        count = struct.unpack_from("<Q", head, 32)[0]
    return count


class TaskBundle(Verifier):
    name = "task-bundle"
    description = (
        "A .task is a zip holding TF_LITE_PREFILL_DECODE (a TFLite flatbuffer), TOKENIZER_MODEL and METADATA, "
        "with safe, unique member names; read by offset, never unpacked."
    )
    formats = ("task",)
    by_default = True

    def check(self, path, variant, output):
        problems: list[str] = []
        try:
            with open(path, "rb") as fh:
                count = _zip_entry_count(fh)
                if count is None:
                    return ["not a readable zip (no end-of-central-directory record)"]
                if count > MAX_ZIP_MEMBERS:
                    return [f"its zip directory claims {count} members; a .task has a handful"]
                with zipfile.ZipFile(fh) as bundle:
                    names = bundle.namelist()
                    for name in names:
                        parts = PurePosixPath(name).parts
                        if name.startswith("/") or "\\" in name or ".." in parts:
                            problems.append(f"member '{name[:200]}' would escape the bundle (zip-slip)")
                    duplicated = sorted({n for n in names if names.count(n) > 1})
                    if duplicated:
                        problems.append(f"members listed twice: {', '.join(d[:80] for d in duplicated[:3])}")
                    missing = [m for m in TASK_MEMBERS if m not in names]
                    if missing:
                        problems.append(f"missing members {', '.join(missing)}")
                    else:
                        with bundle.open("TF_LITE_PREFILL_DECODE") as member:  # 8 bytes, not the whole member
                            if member.read(8)[4:8] != b"TFL3":
                                problems.append("TF_LITE_PREFILL_DECODE is not a TFLite flatbuffer")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError, OSError, RuntimeError) as exc:
            problems.append(f"not a readable zip: {exc}")
        except Exception as exc:  # zlib.error and the like: a damaged member is a finding, not a crash
            problems.append(f"not a readable zip ({type(exc).__name__}: {exc})")
        return problems


class LiteRTLMBundle(Verifier):
    name = "litertlm-bundle"
    description = (
        "A .litertlm container, read with litert-lm-builder's schema: the LITERTLM magic, major version 1, a header "
        "inside the file, sections inside its body on 16 KiB blocks that do not overlap, a TFLiteModel section that is a TFLite "
        "flatbuffer, a tokenizer, and an LlmMetadata section that decodes; and what its model runs on (its "
        "backend_constraint, and for an NPU file the chip it names) agrees with the variant's backend and accelerator."
    )
    formats = ("litertlm",)
    by_default = True

    def check(self, path, variant, output):
        from registry import litertlm

        found = litertlm.problems(path)
        if not found and variant is not None:
            found = litertlm.accelerator_problems(path, variant.accelerator, variant.backend)
        return found


class LiteRTLMWeights(Verifier):
    name = "litertlm-weights"
    description = (
        "The .litertlm's model stores its weights as its variant says: only floats for fp32, mostly int8 tensors for "
        "int8, int4 tensors for int4 (read from the TFLite tensor table; export_hf once wrote int8 files for fp32)."
    )
    formats = ("litertlm",)

    def check(self, path, variant, output):
        from registry import litertlm

        try:
            weights = litertlm.model_weights(path)
        except litertlm.NotLiteRTLM as exc:
            return [str(exc)]
        except OSError as exc:
            return [f"cannot be read: {exc.strerror or exc}"]
        return litertlm.quantization_problems(weights, variant.quantization_label)


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
    description = (
        "Runs the model in the TFLite interpreter with TF-Text ops: non-empty text that starts with the prompt, "
        "and for float32 equal to the Keras model's own greedy output."
    )
    formats = ("tflite",)
    runs_model = True
    toolchain = toolchains.TENSORFLOW_219

    def plan(self, request, output, path):
        from registry.components import Job

        variant = request.variant
        params = request.options.params
        return Job(
            RUNNERS / "tflite_generate.py",
            {
                "mode": "verify",
                "artifact": str(path),
                "preset": str(request.inputs_dir),
                "prompt": str(variant.expect.get("prompt", "My trip to Yosemite was")),
                "max_length": int(params.get("max_length", 100)),
                "quantization": variant.quantization_label,
            },
            f"the interpreter check of {output.path}",
        )


class LiteRTLMGeneration(Verifier):
    name = "litertlm-generation"
    description = "Generates greedily with the LiteRT-LM engine on CPU and compares with the PyTorch model's greedy text."
    formats = ("task", "litertlm")
    runs_model = True
    toolchain = toolchains.LITERT_TORCH

    def plan(self, request, output, path):
        from registry.components import Job

        variant = request.variant
        params = request.options.params
        return Job(
            RUNNERS / "litertlm_generate.py",
            {
                "mode": "verify",
                "artifact": str(path),
                "checkpoint": str(request.inputs_dir),
                "tokenizer": str(request.inputs_dir / "tokenizer.model"),
                "prompt": str(variant.expect.get("prompt", "Hello")),
                "max_tokens": int(variant.expect.get("max_tokens", 8)),
                "context": int(params.get("kv_cache_max_len", 64)),
                "cache_dir": str(request.work_dir / "litert-lm-cache"),
            },
            f"the generation check of {output.path}",
        )


QUANTIZED_LIMITS = {
    "int8": {"max_mean_gap": 0.3, "min_reference_choice_share": 0.75, "max_nll_excess": 0.2},
    "int4": {"max_mean_gap": 0.6, "min_reference_choice_share": 0.7, "max_nll_excess": 0.4},
}
"""How far a quantized export_hf build's tokens may lie from the checkpoint's own choices (teacher-forced,
over every prompt and the chat), by the width its recipe stores weights in. Measured on SmolLM2-135M and
the tests' tiny checkpoints against the mutations that must fail (docs/export-hf.md)."""
CHECK_PROMPTS = ("Once upon a time", "The capital of France is")
"""Prompts every build is checked on besides the manifest's own."""
CHAT_MESSAGE = "What is the capital of France?"


class HFGeneration(Verifier):
    name = "hf-generation"
    description = ("Runs the .litertlm in LiteRT-LM on CPU, greedily, on several prompts and, when it carries a chat template, "
                   "one chat message through its Conversation API, and judges the output with the checkpoint in transformers: "
                   "a float32 build must produce transformers' greedy tokens exactly; a quantized build's tokens, scored "
                   "teacher-forced by the checkpoint, must stay within its recipe's limits.")
    formats = ("litertlm",)
    runs_model = True
    toolchain = toolchains.LITERT_TORCH

    def plan(self, request, output, path):
        from registry.components import Job

        from plugins.converter_export_hf import RECIPE_LABELS, RECIPES

        variant, params = request.variant, request.options.params
        recipe = params.get("quantization_recipe") or RECIPES.get(variant.quantization_label)
        label = RECIPE_LABELS.get(recipe, variant.quantization_label)
        first = str(variant.expect.get("prompt", "Hello"))
        return Job(
            RUNNERS / "hf_generate.py",
            {
                "artifact": str(path),
                "checkpoint": str(request.inputs_dir),
                "prompts": [first] + [p for p in CHECK_PROMPTS if p != first],
                "chat_message": str(variant.expect.get("chat_message", CHAT_MESSAGE)),
                "max_tokens": int(variant.expect.get("max_tokens", 16)),
                "exact": label == "fp32",
                "recipe": recipe,
                "limits": QUANTIZED_LIMITS.get(label),
                "context": int(params.get("cache_length", 1280)),
                "cache_dir": str(request.work_dir / "litert-lm-cache"),
                # the reference is the base with the adapter merged, by peft, in this check's own process
                "lora": str(request.options.lora.path) if request.options.lora is not None else None,
            },
            f"the generation check of {output.path}",
        )


class MediaPipeBin(Format):
    name = "bin"
    description = "A MediaPipe LLM Inference .bin (a TFLite flatbuffer with the model's metadata)."
    suffix = ".bin"
    verifier = "mediapipe-metadata"


class TaskBundleFormat(Format):
    name = "task"
    description = "A MediaPipe .task bundle: the model and its tokenizer in one zip."
    suffix = ".task"
    verifier = "task-bundle"


class TFLiteFormat(Format):
    name = "tflite"
    description = "A LiteRT (TFLite) model."
    suffix = ".tflite"
    verifier = "tflite-flatbuffer"


class LiteRTLMFormat(Format):
    name = "litertlm"
    description = "A LiteRT-LM bundle: model, tokenizer and metadata sections in one file."
    suffix = ".litertlm"
    verifier = "litertlm-bundle"
    platforms = ("android", "ios", "desktop")


@hookimpl
def register_formats(register):
    for artifact_format in (MediaPipeBin(), TaskBundleFormat(), TFLiteFormat(), LiteRTLMFormat()):
        register(artifact_format)


@hookimpl
def register_verifiers(register):
    for verifier in (
        TFLiteFlatbuffer(),
        MediaPipeMetadata(),
        TaskBundle(),
        LiteRTLMBundle(),
        LiteRTLMWeights(),
        TFLiteSignatures(),
        TFLiteGeneration(),
        LiteRTLMGeneration(),
        HFGeneration(),
    ):
        register(verifier)
