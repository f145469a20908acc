"""Export a transformers causal LM directory to a .litertlm with litert-torch's export_hf (0.10), in its toolchain.

The request names the checkpoint, the output file, a scratch folder, the prefill lengths, the cache
length and the quantization recipe (None: float32). export_hf writes model.litertlm into the scratch
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


def main():
    request = read_request()
    scratch = Path(request["scratch"])
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    progress("loading the checkpoint and exporting (export_hf)")
    from litert_torch.generative.export_hf import export

    sampler = sampler_defaults(request["checkpoint"])
    started = time.monotonic()
    try:
        export.export(
            model=request["checkpoint"], output_dir=str(scratch), prefill_lengths=request["prefill_lengths"],
            cache_length=request["cache_length"], quantization_recipe=request["quantization_recipe"], **sampler,
        )
    except Exception as exc:  # export_hf raises whatever the tracer or the model's code raises
        fail(f"export_hf could not export the checkpoint: {type(exc).__name__}: {str(exc)[:400]}",
             "The architecture may not be supported by this litert-torch; `zoo info hf` lists the verified ones.")
    produced = scratch / "model.litertlm"
    if not produced.is_file():
        fail(f"export_hf finished without writing model.litertlm (it wrote {sorted(os.listdir(scratch))}).",
             "Report it with the checkpoint's config.json.")
    os.replace(produced, request["output"])
    shutil.rmtree(scratch, ignore_errors=True)
    result({"seconds": round(time.monotonic() - started, 2), "sampler": sampler,
            "quantization_recipe": request["quantization_recipe"]})


if __name__ == "__main__":
    main()
