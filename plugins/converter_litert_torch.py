"""Custom PyTorch decoders through the AI Edge Torch generative API (published as litert-torch).

A Hugging Face checkpoint directory (config.json, safetensors, a sentencepiece tokenizer.model)
becomes a multi-signature LiteRT model (prefill_*, decode) exported with the settings LiteRT-LM can
execute; the bundlers then make the .task and .litertlm. Runs in the litert-torch toolchain.
"""

from __future__ import annotations

from pathlib import Path

from registry.components import BuildRequest, Converter, Job
from registry.errors import BuildError
from registry.hookspecs import hookimpl

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "litert_torch_convert.py"

ARCHITECTURES = {
    "llama": "Llama-style decoders: Llama, TinyLlama, SmolLM (RMSNorm, gated SiLU MLP, RoPE, grouped-query attention)",
    "qwen2": "Qwen2: the Llama layout with attention biases",
}
QUANTIZE = {"fp32": "none", "int8": "dynamic_int8", "fp16": "fp16", "int4": "dynamic_int4_block32"}
PARAMS = {"arch", "prefill_seq_len", "kv_cache_max_len"}


def effective_params(variant, options) -> dict:
    params = dict(variant.recipe.params) | dict(options.get("params") or {})
    lengths = params.get("prefill_seq_len", [8, 32])
    params["prefill_seq_len"] = [int(x) for x in (lengths if isinstance(lengths, list) else str(lengths).split(","))]
    params["kv_cache_max_len"] = int(params.get("kv_cache_max_len", 64))
    return params


class LiteRTTorchConverter(Converter):
    """Plugins add an architecture by registering a subclass with its own `name` and
    `architectures`: arch -> (description, path of a module with model_config(hf_config), run in
    the toolchain by the same runner). Everything else (export settings, bundles, the generation
    check) is shared."""

    name = "litert-torch"
    description = "AI Edge Torch generative API: a PyTorch decoder to a multi-signature LiteRT model (prefill_*, decode)."
    toolchain = toolchains.LITERT_TORCH
    produces = ("tflite",)
    architectures: dict[str, tuple[str, Path | None]] = {arch: (text, None) for arch, text in ARCHITECTURES.items()}

    def validate(self, variant, options) -> None:
        unknown = set(options.get("params") or {}) - PARAMS
        if unknown:
            raise BuildError(f"The litert-torch converter has no option {', '.join(sorted(unknown))}.",
                             fix=f"Its options are {', '.join(sorted(PARAMS))}.")
        params = effective_params(variant, options)
        if params.get("arch") not in self.architectures:
            raise BuildError(
                f"The {self.name} converter has no architecture {params.get('arch')!r}.",
                fix=f"Use --arch with one of: {', '.join(self.architectures)} (`zoo info pytorch` describes them).",
            )
        if variant.quantization_label not in QUANTIZE:
            raise BuildError(f"litert-torch quantizes to {', '.join(QUANTIZE)}, not {variant.quantization_label}.",
                             fix="Pick one of those with --quant.")
        lengths, cache = params["prefill_seq_len"], params["kv_cache_max_len"]
        if not lengths or min(lengths) < 1 or max(lengths) > cache:
            raise BuildError(f"Prefill lengths {lengths} must be between 1 and the KV-cache length {cache}.",
                             fix="Pass e.g. --prefill-lengths 8,32 --kv-cache-length 64.")
        directory = options.get("from_dir")
        if directory is not None:
            self.check_checkpoint(Path(directory).expanduser(), needs_tokenizer=variant.bundle is not None)

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
        variant = request.variant
        params = effective_params(variant, request.options)
        self.check_checkpoint(request.inputs_dir, needs_tokenizer=variant.bundle is not None)
        name = f"{variant.id}.tflite"
        output = request.work_dir / name
        return Job(
            RUNNER,
            {
                "checkpoint": str(request.inputs_dir),
                "arch": params["arch"],
                "output": str(output),
                "prefill_seq_len": params["prefill_seq_len"],
                "kv_cache_max_len": params["kv_cache_max_len"],
                "quantize": QUANTIZE[variant.quantization_label],
                "architecture_module": str(self.architectures[params["arch"]][1] or "") or None,
            },
            f"{params['arch']} conversion with litert-torch",
            {name: output},
            variant.recipe.ram_gb,
        )


@hookimpl
def register_converters(register):
    register(LiteRTTorchConverter())
