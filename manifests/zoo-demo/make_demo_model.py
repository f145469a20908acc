"""Make zoo's built-in demo model: a tiny Llama-style checkpoint with a sentencepiece tokenizer.

How it is made (run inside the litert-torch toolchain, which has torch, sentencepiece,
safetensors and transformers):

    python manifests/zoo-demo/make_demo_model.py manifests/zoo-demo

1. A sentencepiece unigram tokenizer (vocabulary 96, <s>/</s> as BOS/EOS) is trained on corpus.txt.
2. A Llama model (2 layers, 64 wide, 4 heads of 16, 2 KV heads, MLP 128) is created with
   transformers' LlamaForCausalLM from seed 0 and trained for 300 steps on the corpus, so its
   greedy output looks a little like the corpus (it is still nonsense, and small: ~400 KB).
3. config.json, model.safetensors and tokenizer.model are written; their sha256 go into
   manifests/demo.toml. Training is deterministic on CPU, but re-running it is never needed:
   the committed files are the demo.
"""

import json
import sys
from pathlib import Path


def main():
    out = Path(sys.argv[1])
    import sentencepiece as spm
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    corpus = (Path(__file__).parent / "corpus.txt").read_text()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus.splitlines()), model_prefix=str(out / "tokenizer"), vocab_size=96,
        model_type="unigram", character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
        bos_piece="<s>", eos_piece="</s>", unk_piece="<unk>", num_threads=1, minloglevel=2,
    )
    (out / "tokenizer.vocab").unlink()
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=sp.get_piece_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
        rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
    )
    model = LlamaForCausalLM(config)
    ids = [1] + sp.encode(corpus.replace("\n", " ")) + [2]
    data = torch.tensor(ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(300):
        start = (step * 7) % max(1, len(ids) - 33)
        batch = data[start : start + 33].unsqueeze(0)
        loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").unlink(missing_ok=True)
    print(json.dumps({"loss": round(loss.item(), 3), "parameters": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
