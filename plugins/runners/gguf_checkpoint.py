"""Turn a GGUF file (llama.cpp's and Ollama's format) into a transformers checkpoint folder, in the litert-torch toolchain.

transformers' GGUF loader (package `gguf`) dequantizes the weights to float32 and rebuilds the
config, the fast tokenizer and the chat template from the file's metadata. A model loaded so is
marked quantized and `save_pretrained` refuses it ("quantized with gguf and is not serializable")
although its weights are plain float32 by then, so the mark is cleared before saving. The folder
holds what export_hf and the generation check read: config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, the chat template and generation_config.json.

The request names the GGUF file, its architecture (read by zoo from the header) and the output folder.
"""

import shutil
import time
from pathlib import Path

from zoo_runner import fail, progress, read_request, result


def main():
    request = read_request()
    gguf, output = Path(request["gguf"]), Path(request["output"])
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    architecture = request["architecture"]
    if architecture not in GGUF_CONFIG_MAPPING:  # before any weight is read
        fail(f"transformers cannot load a GGUF file of architecture {architecture!r} (it loads "
             f"{', '.join(sorted(GGUF_CONFIG_MAPPING))}).",
             "Pass the model's transformers checkpoint folder instead (config.json, safetensors, tokenizer.json).")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    progress(f"dequantizing {gguf.name} to float32 (transformers' GGUF loader)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # the loader raises ValueError/KeyError/RuntimeError for what it cannot map
        fail(f"transformers could not load {gguf.name}: {type(exc).__name__}: {str(exc)[:300]}",
             "Pass the model's transformers checkpoint folder instead (config.json, safetensors, tokenizer.json).")
    model.hf_quantizer = None  # float32 now; the GGUF mark only blocks saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    result({"seconds": round(time.monotonic() - started, 2), "model_type": model.config.model_type,
            "architectures": list(model.config.architectures or []), "files": sorted(p.name for p in output.iterdir())})


if __name__ == "__main__":
    main()
