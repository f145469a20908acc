"""Custom PyTorch decoders through the AI Edge Torch generative API (published as litert-torch).

A Hugging Face checkpoint directory (config.json, safetensors, a sentencepiece tokenizer.model)
becomes a multi-signature LiteRT model (prefill_*, decode) exported with the settings LiteRT-LM can
execute; the bundlers then make the .task and .litertlm. Runs in the litert-torch toolchain.

A plugin adds an architecture without code of zoo's: its recipe names the converter, an `arch`
name and an `architecture_module`, a Python file beside its manifest that defines
`model_config(hf_config)` (and optionally `tensor_names`, `MODEL_TYPE`), run in the toolchain.
"""

from __future__ import annotations

from pathlib import Path

from registry.api import BuildError, BuildRequest, Converter, Job, Param, hookimpl

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "litert_torch_convert.py"

ARCHITECTURES = {
    "llama": "Llama-style decoders: Llama, TinyLlama, SmolLM (RMSNorm, gated SiLU MLP, RoPE, grouped-query attention)",
    "qwen2": "Qwen2: the Llama layout with attention biases",
}
QUANTIZE = {"fp32": "none", "int8": "dynamic_int8", "fp16": "fp16", "int4": "dynamic_int4_block32"}


def architecture_file(variant, options) -> Path | None:
    """The plugin's architecture module named by the recipe, resolved inside its manifest's folder."""
    name = options.params.get("architecture_module")
    if not name:
        return None
    manifest = Path(variant.manifest_path)
    if not manifest.is_file():
        raise BuildError(f"{variant.id} names architecture_module {name!r}, but its manifest is no file to find it beside.",
                         fix="Register the family as a path to its TOML manifest, with the module next to it.")
    folder = manifest.parent.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise BuildError(f"architecture_module {name!r} of {variant.id} is not a file inside {folder}.",
                         fix="Put the architecture module beside the manifest and name it relative to it.")
    return path


class LiteRTTorchConverter(Converter):
    name = "litert-torch"
    description = "AI Edge Torch generative API: a PyTorch decoder to a multi-signature LiteRT model (prefill_*, decode)."
    toolchain = toolchains.LITERT_TORCH
    context_option = "kv_cache_max_len"
    produces = ("tflite",)
    parameters = {
        "arch": Param("the decoder architecture: " + "; ".join(f"{k} ({v})" for k, v in ARCHITECTURES.items())
                      + "; or a plugin's own with architecture_module", default="llama"),
        "architecture_module": Param("a plugin's architecture file beside its manifest (model_config(hf_config))"),
        "prefill_seq_len": Param("the prefill signatures' lengths, e.g. 8,32", type=list[int], default=[8, 32]),
        "kv_cache_max_len": Param("the KV-cache length, the model's context", type=int, default=64),
    }

    def validate(self, variant, options) -> None:
        params = options.params
        if architecture_file(variant, options) is None and params["arch"] not in ARCHITECTURES:
            raise BuildError(
                f"The {self.name} converter has no architecture {params['arch']!r}.",
                fix=f"Use --param arch= one of: {', '.join(ARCHITECTURES)} (`zoo info pytorch` describes them).",
            )
        if variant.quantization_label not in QUANTIZE:
            raise BuildError(f"litert-torch quantizes to {', '.join(QUANTIZE)}, not {variant.quantization_label}.",
                             fix="Pick one of those with --quant.")
        lengths, cache = params["prefill_seq_len"], params["kv_cache_max_len"]
        if not lengths or min(lengths) < 1 or max(lengths) > cache:
            raise BuildError(f"Prefill lengths {lengths} must be between 1 and the KV-cache length {cache}.",
                             fix="Pass e.g. --param prefill_seq_len=8,32 --param kv_cache_max_len=64.")
        if options.from_dir is not None:
            self.check_checkpoint(options.from_dir, needs_tokenizer=variant.bundle is not None)

    @staticmethod
    def check_checkpoint(directory: Path, needs_tokenizer: bool) -> None:
        missing = []
        if not (directory / "config.json").is_file():
            missing.append("config.json")
        if not list(directory.glob("*.safetensors")):
            missing.append("*.safetensors")
        if needs_tokenizer and not (directory / "tokenizer.model").is_file():
            missing.append("tokenizer.model (a sentencepiece model, which the .task and .litertlm bundles need)")
        if missing:
            raise BuildError(f"{directory} is not a complete checkpoint: it lacks {', '.join(missing)}.",
                             fix="Pass a Hugging Face checkpoint directory, e.g. one saved by save_pretrained().")

    def plan(self, request: BuildRequest) -> Job:
        variant, params = request.variant, request.options.params
        self.check_checkpoint(request.inputs_dir, needs_tokenizer=variant.bundle is not None)
        module = architecture_file(variant, request.options)
        name = f"{variant.id}.tflite"
        output = request.work_dir / name
        return Job(
            RUNNER,
            {
                "checkpoint": str(request.inputs_dir),
                "arch": params["arch"],
                "output": str(output),
                "prefill_seq_len": list(params["prefill_seq_len"]),
                "kv_cache_max_len": params["kv_cache_max_len"],
                "quantize": QUANTIZE[variant.quantization_label],
                "architecture_module": str(module) if module else None,
            },
            f"{params['arch']} conversion with litert-torch",
            {name: output},
            variant.recipe.ram_gb,
        )


@hookimpl
def register_converters(register):
    register(LiteRTTorchConverter())
