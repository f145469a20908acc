"""Export a transformers causal LM directory to a .litertlm with litert-torch's export_hf (0.10), in its toolchain.

The request names the checkpoint, the output file, a scratch folder, the prefill lengths, the cache
length, the quantization recipe (None: float32) and, for a fine-tune, a LoRA adapter folder, which
peft merges into the base first. export_hf writes model.litertlm into the scratch
folder, with the tokenizer and the LLM metadata bundled; the runner moves it to the output.
"""

import os
import shutil
import time
from pathlib import Path

from zoo_runner import fail, progress, read_request, result


def sampler_defaults(checkpoint):
    """top_k, top_p and temperature from generation_config.json, carried into the bundle's metadata."""
    import json

    path = Path(checkpoint) / "generation_config.json"
    try:
        config = json.loads(path.read_text()[: 1 << 20]) if path.is_file() else {}
    except ValueError:
        return {}
    if not isinstance(config, dict) or not config.get("do_sample"):
        return {}
    keys = {"top_k": "sampler_top_k", "top_p": "sampler_top_p", "temperature": "sampler_temperature"}
    return {target: config[key] for key, target in keys.items() if isinstance(config.get(key), (int, float))}


def merged_checkpoint(checkpoint, adapter, into):
    """The base with the LoRA adapter merged into its weights by peft, saved as a checkpoint folder
    export_hf reads like any other (tokenizer, generation config and chat template copied over)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    try:
        model = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    except Exception as exc:  # peft raises ValueError/KeyError/RuntimeError for an adapter of another base
        fail(f"peft could not merge the LoRA adapter into the checkpoint: {type(exc).__name__}: {str(exc)[:300]}",
             "Pass the adapter trained on this base model (its adapter_config.json names the base it was trained on).")
    into.mkdir(parents=True)
    model.save_pretrained(into, safe_serialization=True)
    for path in Path(checkpoint).iterdir():
        if path.is_file() and not path.name.endswith((".safetensors", ".safetensors.index.json")) and not (into / path.name).exists():
            shutil.copyfile(path, into / path.name)
    return into


def main():
    request = read_request()
    scratch = Path(request["scratch"])
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    progress("loading the checkpoint and exporting (export_hf)")
    from litert_torch.generative.export_hf import export

    sampler = sampler_defaults(request["checkpoint"])
    started = time.monotonic()
    checkpoint = request["checkpoint"]
    if request.get("lora"):
        progress("merging the LoRA adapter into the base (peft)")
        checkpoint = str(merged_checkpoint(checkpoint, request["lora"], scratch / "merged"))
    try:
        export.export(
            model=checkpoint, output_dir=str(scratch), prefill_lengths=request["prefill_lengths"],
            cache_length=request["cache_length"], quantization_recipe=request["quantization_recipe"], **sampler,
        )
    except Exception as exc:  # export_hf raises whatever the tracer or the model's code raises
        fail(f"export_hf could not export the checkpoint: {type(exc).__name__}: {str(exc)[:400]}",
             "The architecture may not be supported by this litert-torch; `zoo info hf` lists the verified ones.")
    produced = scratch / "model.litertlm"
    if not produced.is_file():
        fail(f"export_hf finished without writing model.litertlm (it wrote {sorted(os.listdir(scratch))}).",
             "Report it with the checkpoint's config.json.")
    from litertlm_metadata import llm_metadata, summary

    bundled = summary(llm_metadata(produced))  # what the bundle itself says, read with the format's own schema
    os.replace(produced, request["output"])
    merged = request.get("lora") is not None
    shutil.rmtree(scratch, ignore_errors=True)
    result({"seconds": round(time.monotonic() - started, 2), "sampler": sampler,
            "quantization_recipe": request["quantization_recipe"], "lora_merged": merged, "bundle": bundled})


if __name__ == "__main__":
    main()
