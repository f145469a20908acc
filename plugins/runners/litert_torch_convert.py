"""Convert a Hugging Face decoder checkpoint with the AI Edge Torch generative API (litert-torch).

Usage: python litert_torch_convert.py REQUEST.json. Builds the model from the checkpoint's
config.json with litert-torch's layers, loads the weights (strict name mapping), and exports a
multi-signature LiteRT model (prefill_*, decode) with the settings LiteRT-LM can execute: the mask
as an input and the transposed KV-cache layout. (A default export converts, then fails in LiteRT-LM
with "Input token ids are too long".)
"""

import json
import sys
import time
from pathlib import Path
from zoo_runner import emit, fail


def llama_config(hf: dict):
    """litert-torch ModelConfig for a Llama-style config.json (Llama, TinyLlama, SmolLM, Qwen2 with biases)."""
    import litert_torch.generative.layers.model_config as cfg

    heads = hf["num_attention_heads"]
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    rope = (hf.get("rope_parameters") or {}).get("rope_theta") or hf.get("rope_theta") or 10000.0
    attn = cfg.AttentionConfig(
        num_heads=heads,
        head_dim=head_dim,
        num_query_groups=hf.get("num_key_value_heads") or heads,
        rotary_base=int(rope),
        rotary_percentage=1.0,
        qkv_use_bias=bool(hf.get("attention_bias", False)),
    )
    ff = cfg.FeedForwardConfig(
        type=cfg.FeedForwardType.GATED,
        activation=cfg.ActivationConfig(cfg.ActivationType.SILU),
        intermediate_size=hf["intermediate_size"],
    )
    norm = cfg.NormalizationConfig(type=cfg.NormalizationType.RMS_NORM, epsilon=hf.get("rms_norm_eps", 1e-6))
    block = cfg.TransformerBlockConfig(attn_config=attn, ff_config=ff, pre_attention_norm_config=norm,
                                       post_attention_norm_config=norm)
    return cfg.ModelConfig(
        vocab_size=hf["vocab_size"],
        num_layers=hf["num_hidden_layers"],
        max_seq_len=hf.get("max_position_embeddings", 2048),
        embedding_dim=hf["hidden_size"],
        block_configs=block,
        final_norm_config=norm,
        lm_head_share_weight_with_embedding=bool(hf.get("tie_word_embeddings", False)),
    )


ARCHITECTURES = {"llama": llama_config, "qwen2": llama_config}


def load_architecture(path):
    """A plugin's architecture module: model_config(hf_config) -> ModelConfig, and optionally
    tensor_names(model_builder, config) -> TensorNames and MODEL_TYPE (config.json's model_type)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("zoo_architecture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    started = time.monotonic()
    checkpoint = Path(request["checkpoint"])
    try:
        hf = json.loads((checkpoint / "config.json").read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read {checkpoint / 'config.json'} ({exc})", "Pass a Hugging Face checkpoint directory with config.json.")
    arch = request["arch"]
    module = load_architecture(request["architecture_module"]) if request.get("architecture_module") else None
    if module is None and arch not in ARCHITECTURES:
        fail(f"unknown architecture {arch!r}", f"Use one of {', '.join(ARCHITECTURES)}.")
    expected_type = getattr(module, "MODEL_TYPE", arch) if module else arch
    if hf.get("model_type") not in (expected_type, None):
        fail(f"config.json says model_type {hf.get('model_type')!r}, but the arch option is {arch!r}",
             f"Pass --param arch={hf.get('model_type')} if zoo supports it (`zoo info pytorch`).")
    emit("progress", message="loading litert-torch")
    from litert_torch.generative.layers import kv_cache as kv_utils
    from litert_torch.generative.utilities import converter, model_builder
    from litert_torch.generative.utilities.export_config import ExportConfig

    config = module.model_config(hf) if module else ARCHITECTURES[arch](hf)
    if module is not None and hasattr(module, "tensor_names"):
        names = module.tensor_names(model_builder, config)
    elif config.lm_head_share_weight_with_embedding:
        names = model_builder.TENSOR_NAMES
    else:
        names = model_builder.TENSOR_NAMES_WITH_SEPARATE_LM_HEAD
    emit("progress", message=f"building a {config.num_layers}-layer {arch} model from {checkpoint.name}")
    try:
        model = model_builder.build_decoder_only_model(
            checkpoint_path=str(checkpoint), config=config, tensor_names=names, mask_cache_size=request["kv_cache_max_len"],
        )
    except (KeyError, RuntimeError, ValueError) as exc:
        fail(f"the checkpoint does not match a {arch} model: {type(exc).__name__}: {str(exc)[:300]}",
             "Check --arch and that the directory holds the model's safetensors and config.json.")
    out_dir = Path(request["output"]).parent / "litert-torch-out"
    out_dir.mkdir(parents=True, exist_ok=True)
    emit("progress", message=f"exporting with prefill lengths {request['prefill_seq_len']}, KV cache {request['kv_cache_max_len']}, "
                             f"quantization {request['quantize']}")
    converter.convert_to_tflite(
        model,
        output_path=str(out_dir),
        output_name_prefix="model",
        prefill_seq_len=request["prefill_seq_len"],
        kv_cache_max_len=request["kv_cache_max_len"],
        quantize=request["quantize"],
        export_config=ExportConfig(mask_as_input=True, kvcache_layout=kv_utils.KV_LAYOUT_TRANSPOSED),
    )
    produced = sorted(out_dir.glob("*.tflite"))
    if len(produced) != 1:
        fail(f"litert-torch wrote {len(produced)} .tflite files", "Report this with the command you ran.")
    produced[0].replace(request["output"])
    emit("result", data={"seconds": round(time.monotonic() - started, 2), "layers": config.num_layers})


if __name__ == "__main__":
    main()
