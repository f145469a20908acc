"""Train a small LoRA adapter on a checkpoint made by make_hf_checkpoint.py, for fine-tune tests.

Run inside the litert-torch toolchain (torch, transformers, peft):

    python make_lora_adapter.py BASE_DIR OUT_DIR [--rank 4] [--steps 150] [--seed 0]

The adapter (peft LoraConfig on every attention and MLP projection) is trained on sentences the base
never saw ("the zoo keeps the lanterns lit ..."), so the merged model's greedy continuation of the
manifest's prompt differs from the base's: a build that drops or mis-merges the adapter fails the
generation check. OUT_DIR gets adapter_config.json and adapter_model.safetensors, as PEFT's
save_pretrained writes them. Prints the base's and the merged model's greedy text, and the loss.
"""

import argparse
import json
from pathlib import Path

from make_hf_checkpoint import train  # a sibling script: run as a script, its folder is on sys.path

FINE_TUNE = "the zoo keeps the lanterns lit for the owls and the keepers read in the quiet garden at night. "
PROMPT = "the zoo keeps"


def greedy(model, tokenizer, prompt: str, tokens: int = 12) -> str:
    import torch

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    base = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    before = greedy(base.eval(), tokenizer, PROMPT)
    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, config)
    ids = [1] + tokenizer(FINE_TUNE * 8, add_special_tokens=False)["input_ids"]
    loss = train(model, ids, args.steps, window=25, stride=7, parameters=[p for p in model.parameters() if p.requires_grad])
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    after = greedy(model.merge_and_unload(), tokenizer, PROMPT)
    print(json.dumps({"base": before, "merged": after, "loss": round(loss.item(), 3) if loss is not None else None}))


if __name__ == "__main__":
    main()
