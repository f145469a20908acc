"""The MediaPipe genai converter (mediapipe 0.10.35): PHI_2, FALCON_RW_1B, STABLELM_4E1T_3B,
GEMMA_2B, GEMMA_7B and GEMMA2_2B checkpoints to a MediaPipe .bin, cpu or gpu, int8, int4 or
per-part bit widths, with LoRA adapters for Gemma and Phi-2 on gpu.

The conversion itself runs in the mediapipe toolchain (plugins/runners/mediapipe_convert.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from registry.api import BuildError, BuildRequest, Converter, Job, Param, hookimpl

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "mediapipe_convert.py"

# model type -> the checkpoint format the converter reads it from
CHECKPOINT_FORMATS = {
    "PHI_2": "safetensors",
    "FALCON_RW_1B": "pytorch",
    "STABLELM_4E1T_3B": "safetensors",
    "GEMMA_2B": "safetensors",
    "GEMMA_7B": "safetensors",
    "GEMMA2_2B": "safetensors",
}
LORA_MODEL_TYPES = ("GEMMA_2B", "GEMMA2_2B", "PHI_2")

# The tensors each layer of a safetensors checkpoint must hold for the converter (Hugging Face names):
# the attention projections and the MLP's output projection, which every fine-tune keeps.
LAYER_TENSORS = {
    "PHI_2": ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.dense.weight",
              "mlp.fc1.weight", "mlp.fc2.weight"),
}
LLAMA_LIKE_LAYER = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                    "mlp.down_proj.weight")


def required_tensors(model_type: str) -> list[str]:
    """The tensor names a safetensors checkpoint of `model_type` must hold, in every layer."""
    from registry.tflite import EXPECTED_SHAPES

    layers = EXPECTED_SHAPES[model_type].layers
    per_layer = LAYER_TENSORS.get(model_type, LLAMA_LIKE_LAYER)
    return ["model.embed_tokens.weight"] + [f"model.layers.{i}.{name}" for i in range(layers) for name in per_layer]


def missing_tensors(directory: Path, model_type: str) -> list[str]:
    """Required tensors that none of the directory's .safetensors files hold (headers only, bounded)."""
    from registry import safetensors_file

    present: set[str] = set()
    for shard in sorted(directory.glob("*.safetensors")):
        header, _ = safetensors_file.read_header(shard)
        present.update(header)
    return [name for name in required_tensors(model_type) if name not in present]
NAMED_BITS = {"int8": (8, 8, 8), "int4": (4, 4, 4)}  # attention, feedforward, embedding


def bit_widths(variant) -> tuple[int, int, int]:
    q = variant.quantization
    if isinstance(q, str):
        if q not in NAMED_BITS:
            raise BuildError(f"The MediaPipe converter quantizes to int8 or int4, not {q}.",
                             fix="Use --quant int8 or --quant int4 (or per-part bit widths in the manifest).")
        return NAMED_BITS[q]
    return q.attention, q.feedforward, q.embedding


_PEFT_ATTENTION = {
    "PHI_2": {"q_proj": "q", "k_proj": "k", "v_proj": "v", "dense": "post"},
    "GEMMA": {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "post"},
}


def mediapipe_lora_name(name: str, model_type: str) -> str:
    """Map a standard PEFT LoRA key to the name MediaPipe's converter understands.

    PEFT writes `...self_attn.q_proj.lora_A.weight`, which crashes the converter (SIGSEGV). It
    wants the attention names its mappers produce: Phi-2 `...self_attention.q.lora_A.linear.weight`,
    Gemma `...self_attention.q.lora_A.weight` (its mapper turns `lora_A.w` into w_prime_*).
    """
    family = "PHI_2" if model_type == "PHI_2" else "GEMMA"
    name = name.replace(".default.", ".")
    match = re.fullmatch(r"(.*)\.self_attn\.(\w+)\.lora_([AB])\.weight", name)
    if not match or match.group(2) not in _PEFT_ATTENTION[family]:
        raise BuildError(
            f"The LoRA adapter has a tensor '{name}' that MediaPipe cannot convert: it converts LoRA on the "
            f"attention projections ({', '.join(_PEFT_ATTENTION[family])}) only.",
            fix="Train the adapter with target_modules limited to the attention projections.",
        )
    prefix, projection, side = match.groups()
    target = _PEFT_ATTENTION[family][projection]
    suffix = "linear.weight" if family == "PHI_2" else "weight"
    return f"{prefix}.self_attention.{target}.lora_{side}.{suffix}"


def map_lora_adapter(source: Path, target: Path, model_type: str, rank: int) -> dict[str, str]:
    from registry import safetensors_file

    header, _ = safetensors_file.read_header(source)
    names = {}
    for name, spec in header.items():
        names[name] = mediapipe_lora_name(name, model_type)
        shape = spec.get("shape", [])
        if ".lora_A." in name and shape and shape[0] != rank:
            raise BuildError(f"The adapter's {name} has rank {shape[0]}, not the --lora-rank {rank} given.",
                             fix=f"Pass --lora-rank {shape[0]}.")
    if not names:
        raise BuildError(f"{source} holds no tensors.", fix="Pass the adapter_model.safetensors that PEFT saved.")
    safetensors_file.rename(source, target, names)
    return names


class MediaPipeConverter(Converter):
    name = "mediapipe"
    description = "MediaPipe genai converter (PHI_2, FALCON_RW_1B, STABLELM_4E1T_3B, GEMMA_2B/7B, GEMMA2_2B) to a .bin."
    toolchain = toolchains.MEDIAPIPE
    produces = ("bin",)
    parameters = {
        "model_type": Param(f"the checkpoint's architecture: {', '.join(CHECKPOINT_FORMATS)}"),
        "checkpoint_format": Param("safetensors, or pytorch (pytorch_model.bin) for FALCON_RW_1B"),
    }
    supports_lora = True

    def validate(self, variant, options) -> None:
        params = options.params
        model_type = params.get("model_type")
        if model_type not in CHECKPOINT_FORMATS:
            raise BuildError(
                f"The MediaPipe converter has no model type {model_type!r} (in {variant.id}'s recipe).",
                fix=f"Use one of {', '.join(CHECKPOINT_FORMATS)}; other PyTorch models build with "
                "`zoo build pytorch --from DIR`.",
            )
        wanted = CHECKPOINT_FORMATS[model_type]
        fmt = params.get("checkpoint_format", wanted)
        if fmt != wanted:
            raise BuildError(
                f"MediaPipe converts {model_type} only from a {wanted} checkpoint, but the recipe says {fmt}.",
                fix="FALCON_RW_1B needs pytorch_model.bin; the others need .safetensors files.",
            )
        bit_widths(variant)
        if options.from_dir is not None:
            self.input_files(variant, model_type, options.from_dir)
        if options.lora is not None:
            if variant.backend != "gpu":
                raise BuildError(
                    f"LoRA adapters convert for the gpu backend only, and {variant.id} is cpu.",
                    fix=f"Use --backend gpu: `zoo build {variant.model} --backend gpu --lora PATH --lora-rank N`.",
                )
            if model_type not in LORA_MODEL_TYPES:
                raise BuildError(f"MediaPipe converts LoRA adapters for {', '.join(LORA_MODEL_TYPES)} only, not {model_type}.",
                                 fix="Build without --lora.")

    def input_files(self, variant, model_type: str, inputs_dir: Path) -> None:
        fmt = CHECKPOINT_FORMATS[model_type]
        if fmt == "pytorch" and not (inputs_dir / "pytorch_model.bin").is_file():
            found = sorted(p.name for p in inputs_dir.glob("*.safetensors"))
            raise BuildError(
                f"{model_type} converts only from pytorch_model.bin, and {inputs_dir} has "
                + (f"safetensors files ({', '.join(found)}) instead." if found else "no pytorch_model.bin."),
                fix="Download the PyTorch checkpoint (pytorch_model.bin) of the model and pass its directory with --from.",
            )
        if fmt == "safetensors" and not list(inputs_dir.glob("*.safetensors")):
            raise BuildError(f"{inputs_dir} has no .safetensors files.", fix="Pass the directory holding the model's safetensors.")
        if fmt == "safetensors":
            missing = missing_tensors(inputs_dir, model_type)
            if missing:
                raise BuildError(
                    f"The safetensors files in {inputs_dir} lack {len(missing)} tensors a {model_type} checkpoint has, "
                    f"e.g. {', '.join(missing[:3])}.",
                    fix=f"Pass the directory of a {variant.model} checkpoint with all its shards (any file names, "
                    "one file or several).",
                )

    def plan(self, request: BuildRequest) -> Job:
        variant = request.variant
        model_type = request.options.params["model_type"]
        self.input_files(variant, model_type, request.inputs_dir)
        attention, feedforward, embedding = bit_widths(variant)
        fmt = CHECKPOINT_FORMATS[model_type]
        main = variant.outputs[0].path
        output = request.work_dir / main
        checkpoint = request.inputs_dir / "pytorch_model.bin" if fmt == "pytorch" else request.inputs_dir
        tokenizer = request.inputs_dir / "tokenizer.model"
        config = {
            "input_ckpt": str(checkpoint),
            "ckpt_format": fmt,
            "model_type": model_type,
            "backend": variant.backend,
            "output_dir": str(request.work_dir / "mediapipe-work"),
            "combine_file_only": False,
            # A sentencepiece model where there is one; else the directory with tokenizer.json,
            # which the converter turns into one.
            "vocab_model_file": str(tokenizer if tokenizer.is_file() else request.inputs_dir),
            "output_tflite_file": str(output),
            "attention_quant_bits": attention,
            "feedforward_quant_bits": feedforward,
            "embedding_quant_bits": embedding,
        }
        outputs = {main: output}
        checks = {}
        if request.options.lora is not None:
            lora_name = main.removesuffix(".bin") + "-lora.bin"
            config.update(
                lora_ckpt=str(request.options.lora.path),
                lora_rank=request.options.lora.rank,
                lora_output_tflite_file=str(request.work_dir / lora_name),
            )
            outputs[lora_name] = request.work_dir / lora_name
            checks[lora_name] = {"lora_rank": request.options.lora.rank}
        return Job(RUNNER, {"config": config}, f"{model_type} conversion", outputs, variant.recipe.ram_gb, checks)

    def prepare_lora(self, variant, adapter: Path, rank: int, work_dir: Path) -> Path:
        mapped = work_dir / "adapter.mediapipe.safetensors"
        work_dir.mkdir(parents=True, exist_ok=True)
        map_lora_adapter(adapter, mapped, variant.recipe.params["model_type"], rank)
        return mapped


@hookimpl
def register_converters(register):
    register(MediaPipeConverter())
