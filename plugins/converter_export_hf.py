"""Any Hugging Face causal LM to a .litertlm, through litert-torch's export_hf, in the litert-torch toolchain.

export_hf keeps no list of supported architectures: it exports any transformers causal LM through
a generic path, with dedicated code for some model types. So zoo reads config.json before any
heavy work: a model that is not a causal LM is refused, saying why; an architecture zoo's own tests
have not proven (VERIFIED) is attempted with a one-line note, and the generation check decides.
export_hf bundles the tokenizer (tokenizer.json) and the LLM metadata into the .litertlm itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from registry.api import BuildError, BuildRequest, Converter, Job, Param, hookimpl, read_safetensors_header

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "export_hf_convert.py"
GGUF_RUNNER = Path(__file__).parent / "runners" / "gguf_checkpoint.py"

VERIFIED = {
    "llama": "Llama, TinyLlama, SmolLM/SmolLM2",
    "qwen2": "Qwen2, Qwen2.5",
    "qwen3": "Qwen3",
    "gemma3_text": "Gemma 3 (text)",
    "phi3": "Phi-3, Phi-4-mini",
}
"""Model types whose tiny checkpoints zoo's tests build and check against transformers (tests/test_export_hf.py)."""

RECIPES = {
    "int8": "dynamic_wi8_afp32",
    "int4": "dynamic_wi4_afp32",
    # "none", not None: export_hf drops every argument that is None, which left its own default,
    # dynamic_wi8_afp32, in force, so "fp32" builds were int8 (shared/research/real-models.md).
    "fp32": "none",
}
RECIPE_LABELS = {
    "dynamic_wi8_afp32": "int8",
    "weight_only_wi8_afp32": "int8",
    "dynamic_wi8_emb4_afp32": "int8",
    "dynamic_wi4_afp32": "int4",
    "none": "fp32",
}
"""Every recipe zoo passes to export_hf, and the quantization label of what it writes."""
MAX_CONFIG_BYTES = 1 << 20
BYTES_PER_WEIGHT = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1}
EXPORT_RAM_FACTOR = 7.0
"""Peak RSS of an export over the float32 weights' size: 3.9 GB for SmolLM2-135M's 0.54 GB (docs/export-hf.md)."""


def _read_json(path: Path) -> dict | None:
    """A JSON object from an untrusted folder, bounded; None when it is not one."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_CONFIG_BYTES else None
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    return data if isinstance(data, dict) else None


def read_config(directory: Path) -> dict:
    """config.json, bounded: a checkpoint directory is untrusted input."""
    path = directory / "config.json"
    if not path.is_file():
        raise BuildError(f"{directory} has no readable config.json.",
                         fix="Pass a transformers checkpoint directory (save_pretrained writes config.json).")
    config = _read_json(path)
    if config is None:
        raise BuildError(f"{path} is not a transformers config (JSON object under 1 MiB).",
                         fix="Pass the directory save_pretrained wrote.")
    return config


def parameter_count(directory: Path) -> tuple[int, int]:
    """(parameters, bytes as float32) from the safetensors headers alone."""
    count = 0
    for shard in sorted(directory.glob("*.safetensors")):
        for name, spec in read_safetensors_header(shard).items():
            if name == "__metadata__" or not isinstance(spec, dict):
                continue
            numel = 1
            for dim in spec.get("shape", []):
                numel *= int(dim)
            count += numel
    return count, count * 4


def causal_lm_problem(config: dict) -> str | None:
    """Why a config is not a text-generating causal LM export_hf can take, or None."""
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
        return "its config.json's `architectures` is not a list of class names"
    if architectures and not any(a.endswith("ForCausalLM") for a in architectures):
        return (f"it is a {', '.join(architectures)}, not a causal language model (…ForCausalLM): export_hf turns "
                "text generators into .litertlm files")
    if not isinstance(config.get("model_type"), str):
        return "its config.json names no model_type"
    return None


class ExportHFConverter(Converter):
    name = "export-hf"
    description = "litert-torch's export_hf: a transformers causal LM directory to a .litertlm (tokenizer bundled)."
    toolchain = toolchains.LITERT_TORCH
    context_option = "cache_length"
    produces = ("litertlm",)
    parameters = {
        "prefill_lengths": Param("the prefill signatures' lengths, e.g. 128 or 32,128", type=list[int], default=[128]),
        "cache_length": Param("the KV-cache length: the model's context on the device", type=int, default=1280),
        "quantization_recipe": Param("an ai-edge-quantizer recipe instead of the variant's default, of the same "
                                     "width (int8: dynamic_wi8_afp32, weight_only_wi8_afp32 or dynamic_wi8_emb4_afp32; "
                                     "int4: dynamic_wi4_afp32)"),
    }

    supports_lora = True
    input_files = (".gguf",)

    def plan_checkpoint(self, source: Path, output_dir: Path) -> Job:
        """A GGUF file (llama.cpp's, Ollama's) dequantized to a float32 checkpoint folder by transformers'
        GGUF loader; its architecture is read from the header first, so a file transformers cannot load
        is refused by the runner before a weight is read."""
        from registry import gguf

        try:
            architecture = gguf.architecture(source)
        except (gguf.NotGGUF, OSError) as exc:
            raise BuildError(f"{source} is not a GGUF file zoo can read: {exc}.",
                             fix="Pass a .gguf file as llama.cpp or Ollama write it, or a checkpoint directory.") from None
        return Job(GGUF_RUNNER, {"gguf": str(source), "architecture": architecture, "output": str(output_dir)},
                   f"turning {source.name} ({architecture}) into a checkpoint")

    def check_adapter(self, adapter: Path, rank: int) -> None:
        """peft needs the adapter's config, and its tensors must have the rank the config says."""
        config = adapter.parent / "adapter_config.json"
        data = _read_json(config) if config.is_file() else None
        if data is None:
            raise BuildError(f"export-hf merges a PEFT adapter, and {adapter.parent} has no readable adapter_config.json.",
                             fix="Pass the folder PEFT's save_pretrained wrote for the adapter (--lora ADAPTER_DIR).")
        if data.get("peft_type", "LORA") != "LORA":
            raise BuildError(f"The adapter in {adapter.parent} is a {data.get('peft_type')} adapter, not LoRA.",
                             fix="Pass a LoRA adapter (peft's LoraConfig).")
        header = read_safetensors_header(adapter)
        widths = {spec["shape"][0] for name, spec in header.items()
                  if ".lora_A." in name and isinstance(spec, dict) and spec.get("shape")}
        if widths and widths != {rank}:
            raise BuildError(f"The adapter's lora_A tensors have rank {', '.join(map(str, sorted(widths)))}, not {rank}.",
                             fix="Pass the adapter_config.json that was saved with these weights.")

    def prepare_lora(self, variant, adapter: Path, rank: int, work_dir: Path) -> Path:
        """A folder holding just the adapter's weights and PEFT config, which the runner merges into
        the base with peft before export (and the generation check merges again, independently)."""
        import shutil

        self.check_adapter(adapter, rank)
        folder = work_dir / "adapter"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(adapter, folder / "adapter_model.safetensors")
        shutil.copyfile(adapter.parent / "adapter_config.json", folder / "adapter_config.json")
        return folder

    def recipe(self, variant, options) -> str:
        return options.params.get("quantization_recipe") or RECIPES[variant.quantization_label]

    def validate(self, variant, options) -> None:
        label = variant.quantization_label
        if label not in RECIPES:
            raise BuildError(f"export_hf builds int8, int4 or fp32, not {label}.", fix="Pick one of those with --quant.")
        chosen = options.params.get("quantization_recipe")
        if chosen and chosen not in RECIPE_LABELS:
            raise BuildError(f"{chosen!r} is not a quantization recipe zoo knows for export_hf.",
                             fix=f"Use one of {', '.join(sorted(RECIPE_LABELS))}.")
        if chosen and RECIPE_LABELS[chosen] != label:
            raise BuildError(f"The recipe {chosen} writes {RECIPE_LABELS[chosen]} weights, and {variant.id} is {label}.",
                             fix=f"Build the {RECIPE_LABELS[chosen]} variant: --quant {RECIPE_LABELS[chosen]}.")
        if options.lora is not None:
            self.check_adapter(options.lora.path, options.lora.rank)
        lengths, cache = options.params["prefill_lengths"], options.params["cache_length"]
        if not lengths or min(lengths) < 1 or max(lengths) > cache:
            raise BuildError(f"Prefill lengths {lengths} must be between 1 and the cache length {cache}.",
                             fix="Pass e.g. --param prefill_lengths=32 --param cache_length=512.")

    def check_checkpoint(self, directory: Path, *, force: bool = False) -> dict:
        config = read_config(directory)
        problem = causal_lm_problem(config)
        if problem:
            raise BuildError(f"{directory} cannot be exported: {problem}.",
                             fix="Pass a causal LM checkpoint (e.g. Qwen, Llama, Gemma, Phi); `zoo info hf` lists the "
                             "verified architectures.")
        missing = [name for name in ("tokenizer.json",) if not (directory / name).is_file()]
        if not list(directory.glob("*.safetensors")):
            missing.append("*.safetensors")
        if missing:
            raise BuildError(f"{directory} lacks {', '.join(missing)}, which the .litertlm needs.",
                             fix="Save the model and its fast tokenizer with save_pretrained (tokenizer.json).")
        from registry.child import available_ram_bytes, machine_ram_bytes

        parameters, fp32_bytes = parameter_count(directory)
        need = 1.5e9 + EXPORT_RAM_FACTOR * fp32_bytes
        if not force and need > machine_ram_bytes():
            raise BuildError(
                f"Exporting {parameters / 1e9:.2f}B parameters needs about {need / 1e9:.1f} GB of RAM; this machine has "
                f"{machine_ram_bytes() / 1e9:.1f} GB ({available_ram_bytes() / 1e9:.1f} GB free).",
                fix="Use a machine with more memory, or pass --force to try anyway (it may be killed midway).")
        return config

    def check_inputs(self, variant, inputs_dir: Path, options) -> list[str]:
        model_type = self.check_checkpoint(inputs_dir, force=options.force)["model_type"]
        notes = []
        sampling = _read_json(inputs_dir / "generation_config.json") or {}
        if sampling.get("do_sample") and sampling.get("top_k") == 1:
            notes.append("note: generation_config.json samples with top_k = 1, which export_hf writes as a GREEDY sampler "
                         "default; LiteRT-LM 0.18's CPU sampler refuses that type, so apps must pass their own sampler "
                         "config (`zoo run --chat` does).")
        if model_type in VERIFIED:
            return notes
        return notes + [f"note: model_type {model_type!r} is not among the architectures zoo has verified "
                f"({', '.join(VERIFIED)}); export_hf will try its generic path and the generation check decides."]

    def plan(self, request: BuildRequest) -> Job:
        variant, params = request.variant, request.options.params
        self.check_checkpoint(request.inputs_dir, force=request.options.force)
        name = variant.outputs[0].path
        output = request.work_dir / name
        _, fp32_bytes = parameter_count(request.inputs_dir)
        return Job(
            RUNNER,
            {
                "checkpoint": str(request.inputs_dir),
                "output": str(output),
                "scratch": str(request.work_dir / "export-hf"),
                "prefill_lengths": list(params["prefill_lengths"]),
                "cache_length": params["cache_length"],
                "quantization_recipe": self.recipe(variant, request.options),
                "lora": str(request.options.lora.path) if request.options.lora is not None else None,
            },
            f"export_hf ({variant.quantization_label})",
            {name: output},
            round((1.5e9 + EXPORT_RAM_FACTOR * fp32_bytes) / 1e9, 1),
        )


@hookimpl
def register_converters(register):
    register(ExportHFConverter())
