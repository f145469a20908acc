"""Write a full-size checkpoint with random weights for a MediaPipe model type, plus a tokenizer.

MediaPipe's native converter fixes layer count, hidden size and vocabulary per model type, so a
conversion test needs the real shapes; random values are fine. Runs inside the mediapipe
toolchain (it needs torch and safetensors):

    python make_checkpoint.py FALCON_RW_1B OUT_DIR [--dtype float16] [--shards N]

A safetensors checkpoint is written as the hub's two shards (model-0000N-of-00002.safetensors), or
as `--shards 1`: one model.safetensors, the way a fine-tuning script often saves it.
"""

import argparse
import json
from pathlib import Path

SHAPES = {
    # model type: (hidden, layers, vocab, ffn, format)
    "FALCON_RW_1B": (2048, 24, 50304, 8192, "pytorch"),
    "PHI_2": (2560, 32, 51200, 10240, "safetensors"),
}


def falcon(hidden, layers, vocab, ffn):
    yield "transformer.word_embeddings.weight", (vocab, hidden)
    for i in range(layers):
        p = f"transformer.h.{i}."
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "input_layernorm.bias", (hidden,)
        yield p + "self_attention.query_key_value.weight", (3 * hidden, hidden)
        yield p + "self_attention.query_key_value.bias", (3 * hidden,)
        yield p + "self_attention.dense.weight", (hidden, hidden)
        yield p + "self_attention.dense.bias", (hidden,)
        yield p + "post_attention_layernorm.weight", (hidden,)
        yield p + "post_attention_layernorm.bias", (hidden,)
        yield p + "mlp.dense_h_to_4h.weight", (ffn, hidden)
        yield p + "mlp.dense_h_to_4h.bias", (ffn,)
        yield p + "mlp.dense_4h_to_h.weight", (hidden, ffn)
        yield p + "mlp.dense_4h_to_h.bias", (hidden,)
    yield "transformer.ln_f.weight", (hidden,)
    yield "transformer.ln_f.bias", (hidden,)
    yield "lm_head.weight", (vocab, hidden)


def phi(hidden, layers, vocab, ffn):
    yield "model.embed_tokens.weight", (vocab, hidden)
    for i in range(layers):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "input_layernorm.bias", (hidden,)
        for proj in ("q_proj", "k_proj", "v_proj", "dense"):
            yield p + f"self_attn.{proj}.weight", (hidden, hidden)
            yield p + f"self_attn.{proj}.bias", (hidden,)
        yield p + "mlp.fc1.weight", (ffn, hidden)
        yield p + "mlp.fc1.bias", (ffn,)
        yield p + "mlp.fc2.weight", (hidden, ffn)
        yield p + "mlp.fc2.bias", (hidden,)
    yield "model.final_layernorm.weight", (hidden,)
    yield "model.final_layernorm.bias", (hidden,)
    yield "lm_head.weight", (vocab, hidden)
    yield "lm_head.bias", (vocab,)


def write_tokenizer(out: Path, vocab_size: int) -> None:
    """A byte-level BPE tokenizer in Hugging Face's tokenizer.json format that covers every id of the
    model's vocabulary: a runtime detokenizes whatever id the random weights generate, and an id the
    tokenizer lacks fails there (MediaPipe's Web runtime stops with a RET_CHECK on the page)."""
    byte_chars = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(161, 173)] + [chr(c) for c in range(174, 256)]
    extra = 256 - len(byte_chars)
    byte_chars += [chr(256 + i) for i in range(extra)]
    vocab = {ch: i for i, ch in enumerate(byte_chars)}
    merges = []
    for a, b in [("t", "h"), ("th", "e"), ("Ġ", "t"), ("i", "n"), ("e", "r"), ("a", "n")]:
        merges.append(f"{a} {b}")
        vocab.setdefault(a + b, len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    for n in range(len(vocab), vocab_size):  # unreachable by merges, but each id decodes to text
        vocab[f"w{n}"] = n
    tokenizer = {
        "version": "1.0",
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges},
    }
    (out / "tokenizer.json").write_text(json.dumps(tokenizer))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "model_max_length": 2048, "tokenizer_class": "GPT2Tokenizer",
    }))


def write_config(out: Path, model_type: str, hidden: int, layers: int, vocab: int) -> None:
    """transformers' config.json for the checkpoint, as the hub repo has it (tiiuae/falcon-rw-1b's), so
    transformers can load the random weights as the reference the Web runtime's check compares with."""
    if model_type != "FALCON_RW_1B":
        return
    (out / "config.json").write_text(json.dumps({
        "architectures": ["FalconForCausalLM"], "model_type": "falcon", "alibi": True, "bias": True,
        "apply_residual_connection_post_layernorm": False, "parallel_attn": False, "multi_query": False,
        "new_decoder_architecture": False, "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": 32,
        "vocab_size": vocab, "layer_norm_epsilon": 1e-5, "torch_dtype": "float16",
        "tie_word_embeddings": False,  # random lm_head and embeddings differ
    }))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_type", choices=sorted(SHAPES))
    parser.add_argument("out", type=Path)
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--shards", type=int, default=2, help="safetensors files to split the weights into (1: model.safetensors)")
    args = parser.parse_args()
    import torch

    hidden, layers, vocab, ffn, fmt = SHAPES[args.model_type]
    names = falcon if args.model_type == "FALCON_RW_1B" else phi
    dtype = getattr(torch, args.dtype)
    generator = torch.Generator().manual_seed(0)
    tensors = {name: (torch.randn(shape, generator=generator, dtype=torch.float32) * 0.02).to(dtype)
               for name, shape in names(hidden, layers, vocab, ffn)}
    args.out.mkdir(parents=True, exist_ok=True)
    if fmt == "pytorch":
        torch.save(tensors, args.out / "pytorch_model.bin")
    else:
        from safetensors.torch import save_file

        items = list(tensors.items())
        if args.shards == 1:
            save_file(dict(items), str(args.out / "model.safetensors"))
        else:
            size = -(-len(items) // args.shards)
            for n in range(args.shards):
                name = f"model-{n + 1:05d}-of-{args.shards:05d}.safetensors"
                save_file(dict(items[n * size:(n + 1) * size]), str(args.out / name))
    write_tokenizer(args.out, vocab)
    write_config(args.out, args.model_type, hidden, layers, vocab)
    print(json.dumps({"tensors": len(tensors), "bytes": sum(f.stat().st_size for f in args.out.iterdir())}))


if __name__ == "__main__":
    main()
