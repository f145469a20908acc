"""Make a tiny, briefly trained Hugging Face checkpoint of a decoder architecture, for export tests.

Run inside the litert-torch toolchain (torch, transformers, tokenizers):

    python make_hf_checkpoint.py ARCH OUT_DIR [--steps 400] [--seed 0] [--shape smollm2-135m]

ARCH is a transformers model type: llama, qwen2, qwen3, gemma3_text or phi3. The checkpoint has 2
layers, hidden size 64, 4 heads over 2 KV heads, and a byte-level BPE tokenizer (tokenizer.json,
~300 tokens) trained on zoo's demo corpus; the model is trained on that corpus for `--steps` steps,
so its greedy text is corpus-like rather than one token repeated: a generation check can then tell
a right artifact from a wrong one. config.json, model.safetensors, tokenizer.json,
tokenizer_config.json and generation_config.json are written, as save_pretrained writes them.
`--shape smollm2-135m` (llama only) makes a full-size SmolLM2-135M configuration instead, with random
weights (`--steps 0`), for measuring what an export costs at a real size (benchmarks/build.py).
"""

import argparse
import json
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "manifests" / "zoo-demo" / "corpus.txt"
SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>"]


def train_tokenizer(text: str, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(text.splitlines(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<|pad|>", bos_token="<|bos|>",
                                   eos_token="<|eos|>")


SHAPES = {
    # SmolLM2-135M's config.json: 134.5M parameters, tied embeddings.
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                         rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0),
}


def config_for(arch: str, vocab: int, shape: str | None = None):
    import transformers

    if shape is not None:
        if arch != "llama":
            raise SystemExit(f"--shape {shape} is a llama configuration")
        return transformers.LlamaConfig(**SHAPES[shape])
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, pad_token_id=0,
                  bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    if arch == "llama":
        return transformers.LlamaConfig(head_dim=16, **common)
    if arch == "qwen2":
        return transformers.Qwen2Config(**common)
    if arch == "qwen3":
        return transformers.Qwen3Config(head_dim=16, **common)
    if arch == "gemma3_text":
        return transformers.Gemma3TextConfig(head_dim=16, sliding_window=64, **common)
    if arch == "phi3":
        return transformers.Phi3Config(**common)
    raise SystemExit(f"unknown architecture {arch}")


def train(model, ids: list[int], steps: int, *, window: int, stride: int, parameters=None):
    """AdamW (lr 1e-2) on batches of 8 windows of `ids`, deterministic; returns the last loss (None for 0 steps)."""
    import torch

    data = torch.tensor(ids)
    optimizer = torch.optim.AdamW(list(parameters if parameters is not None else model.parameters()), lr=1e-2)
    model.train()
    loss = None
    windows = max(1, len(ids) - window)
    for step in range(steps):
        starts = [(step * 8 + k) * stride % windows for k in range(8)]
        batch = torch.stack([data[s:s + window] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("arch")
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", choices=sorted(SHAPES))
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    corpus = CORPUS.read_text()
    tokenizer = train_tokenizer(corpus, 300)
    torch.manual_seed(args.seed)
    config = config_for(args.arch, len(tokenizer), args.shape)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    ids = [1] + tokenizer(corpus.replace("\n", " "), add_special_tokens=False)["input_ids"] + [2]
    loss = train(model, ids, args.steps, window=33, stride=13)
    args.out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0, do_sample=False)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    print(json.dumps({"arch": args.arch, "loss": round(loss.item(), 3) if loss is not None else None,
                      "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
