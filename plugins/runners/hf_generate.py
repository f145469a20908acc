"""The generation check of an export_hf build: LiteRT-LM's greedy tokens against transformers' own.

The reference is the checkpoint's greedy continuation in transformers (generate, do_sample=False),
as token ids; for a fine-tune, the checkpoint with its LoRA adapter merged by peft. LiteRT-LM's Python engine returns text, which the checkpoint's tokenizer turns back
into ids. A float32 build must agree on every token of the reference (up to `max_tokens`); a
quantized build may drift, so it records where the first difference falls and fails when that comes
before `min_agreeing` tokens. Empty output always fails.
"""

import time
from pathlib import Path

from zoo_runner import fail, read_request, result


def reference(checkpoint, prompt, max_tokens, lora=None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    if lora:  # a fine-tune: the reference is the base with the adapter merged, here, by peft
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, lora).merge_and_unload().eval()
        except Exception as exc:
            fail(f"peft could not merge the LoRA adapter for the reference: {type(exc).__name__}: {str(exc)[:300]}",
                 "Pass the adapter trained on this base model.")
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[0, ids.shape[1]:].tolist()
    # generate() keeps the stop token it stopped at; LiteRT-LM does not print it. The stop tokens are
    # the checkpoint's (generation_config, then config), which export_hf bundles too.
    eos = model.generation_config.eos_token_id
    stops = set(eos if isinstance(eos, list) else [eos]) - {None}
    cut = next((i for i, token in enumerate(new) if token in stops), len(new))
    return tokenizer, new[:cut]


def engine(artifact, prompt, max_tokens, context, cache_dir):
    import litert_lm

    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    try:
        started = time.monotonic()
        runner = litert_lm.Engine(str(artifact), backend=litert_lm.Backend.CPU(), max_num_tokens=context, cache_dir=str(cache_dir))
        loaded = time.monotonic()
        session = runner.create_session(apply_prompt_template=False, max_output_tokens=max_tokens,
                                        sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0))
        session.run_prefill([prompt])
        text = "".join(session.run_decode().texts)
        return text, loaded - started, time.monotonic() - loaded
    except Exception as exc:  # the engine raises RuntimeError/ValueError with the native status
        fail(f"LiteRT-LM could not run {Path(artifact).name}: {type(exc).__name__}: {str(exc)[:300]}",
             "The artifact is not loadable by LiteRT-LM; rebuild it, and report it if it keeps failing.")


def main():
    request = read_request()
    prompt, max_tokens = request["prompt"], request["max_tokens"]
    tokenizer, want = reference(request["checkpoint"], prompt, max_tokens, request.get("lora"))
    text, load_seconds, run_seconds = engine(request["artifact"], prompt, max_tokens, request["context"], request["cache_dir"])
    got = tokenizer(text, add_special_tokens=False)["input_ids"]
    agreeing = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    problems = []
    if not text.strip():
        problems.append(f"LiteRT-LM generated nothing for {prompt!r}")
    elif request["exact"] and got != want:
        problems.append(f"LiteRT-LM generated {text!r} for {prompt!r}, but transformers' greedy text is "
                        f"{tokenizer.decode(want)!r} (they differ from token {agreeing})")
    elif not request["exact"] and agreeing < min(request["min_agreeing"], len(want)):
        problems.append(f"LiteRT-LM's greedy tokens leave transformers' after {agreeing} tokens, before the "
                        f"{request['min_agreeing']} a quantized build must keep: {text!r} against {tokenizer.decode(want)!r}")
    result({"problems": problems, "generated": text, "reference": tokenizer.decode(want), "generated_ids": got,
            "reference_ids": want, "agreeing_tokens": agreeing, "load_seconds": round(load_seconds, 3),
            "tokens_per_second": round(len(got) / run_seconds, 2) if run_seconds > 0 else None})


if __name__ == "__main__":
    main()
