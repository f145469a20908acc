"""The generation check of an export_hf build: what LiteRT-LM says, judged by the checkpoint in transformers.

The reference is the checkpoint itself (for a fine-tune, with its LoRA adapter merged by peft),
with transformers' own tokenization and chat template, never adjusted to the runtime.

- Prompts: LiteRT-LM continues each prompt greedily (its session API, which puts the bundle's start
  token first); transformers continues the same prompt as its tokenizer encodes it.
- Chat: when the bundle carries a chat template, one user message goes through LiteRT-LM's
  Conversation API and through transformers' `apply_chat_template` (generation prompt added).

A float32 build must produce the reference's greedy tokens exactly. A quantized build's noise flips
near-ties (SmolLM2 int8: 14 of 17 tokens at transformers' argmax, the others 0.09 to 0.43 logits
below it), which a first-difference rule cannot tell from a broken model. So its output is scored
by the reference model, teacher-forced, in one forward pass per text: at each of LiteRT-LM's tokens,
how far its logit lies below the reference's best (the gap), whether it is the reference's choice,
and its log-likelihood against that of the reference's own greedy text. The build passes when, over
all prompts and the chat, the mean gap, the share of reference choices and how much less likely its
texts are than the reference's own (nats per token) stay within the recipe's limits (the request's
`limits`, set from measurements: docs/export-hf.md). Empty output always fails.
"""

import time
from pathlib import Path

from zoo_runner import fail, read_request, result


def load_reference(checkpoint, lora=None):
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
    return tokenizer, model


def stop_ids(model):
    """The checkpoint's stop tokens (generation_config, then config), which export_hf bundles too."""
    eos = model.generation_config.eos_token_id
    return set(eos if isinstance(eos, list) else [eos]) - {None}


def greedy(model, tokenizer, prompt_ids, max_tokens):
    """transformers' greedy continuation, without the stop token it stopped at (LiteRT-LM prints none)."""
    import torch

    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[0, len(prompt_ids):].tolist()
    stops = stop_ids(model)
    return new[:next((i for i, token in enumerate(new) if token in stops), len(new))]


def score(model, prompt_ids, continuation):
    """Teacher-forced: per token of `continuation`, its gap below the reference's best logit, whether it
    is the reference's choice, and its log-probability."""
    import torch

    if not continuation:
        return {"gaps": [], "chosen": [], "logprobs": []}
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + continuation])).logits[0].float()
    rows = logits[len(prompt_ids) - 1: len(prompt_ids) - 1 + len(continuation)]
    tokens = torch.tensor(continuation)
    picked = rows.gather(1, tokens[:, None])[:, 0]
    return {
        "gaps": [round(float(g), 4) for g in rows.max(-1).values - picked],
        "chosen": [bool(c) for c in rows.argmax(-1) == tokens],
        "logprobs": [round(float(p), 4) for p in torch.log_softmax(rows, -1).gather(1, tokens[:, None])[:, 0]],
    }


def open_engine(artifact, context, cache_dir):
    import litert_lm

    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    try:
        return litert_lm.Engine(str(artifact), backend=litert_lm.Backend.CPU(), max_num_tokens=context, cache_dir=str(cache_dir))
    except Exception as exc:  # the engine raises RuntimeError/ValueError with the native status
        fail(f"LiteRT-LM could not load {Path(artifact).name}: {type(exc).__name__}: {str(exc)[:300]}",
             "The artifact is not loadable by LiteRT-LM; rebuild it, and report it if it keeps failing.")


def engine_continuation(engine, prompt, max_tokens):
    import litert_lm

    try:
        session = engine.create_session(apply_prompt_template=False, max_output_tokens=max_tokens,
                                        sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0))
        session.run_prefill([prompt])
        return "".join(session.run_decode().texts)
    except Exception as exc:
        fail(f"LiteRT-LM could not continue {prompt!r}: {type(exc).__name__}: {str(exc)[:300]}",
             "The artifact is not runnable by LiteRT-LM; rebuild it, and report it if it keeps failing.")


def engine_reply(engine, message, max_tokens):
    """LiteRT-LM's greedy reply through its Conversation API and the bundle's chat template; (text, error)."""
    import litert_lm

    try:
        conversation = engine.create_conversation(sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0),
                                                  max_output_tokens=max_tokens)
        reply = conversation.send_message(message)
    except Exception as exc:  # the template engine's own words ("Failed to apply template: ...")
        return None, f"{type(exc).__name__}: {str(exc)[:400]}"
    return "".join(part.get("text", "") for part in reply.get("content", []) if isinstance(part, dict)), None


def runtime_ids(tokenizer, text, want):
    """LiteRT-LM returns text, not ids. Tokenized again on its own, a text can split differently from
    the way the model generated it ("pu" one token where the model said "p", "u"), which would score
    as a wrong token. So the longest prefix of the reference whose text begins LiteRT-LM's keeps the
    reference's ids, and only the rest is tokenized again."""
    for keep in range(len(want), 0, -1):
        head = tokenizer.decode(want[:keep])
        if text.startswith(head):
            rest = text[len(head):]
            return want[:keep] + (tokenizer(rest, add_special_tokens=False)["input_ids"] if rest else [])
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def compare(model, tokenizer, what, prompt_ids, generated_text, max_tokens):
    """One text LiteRT-LM generated, against the reference's greedy continuation of the same input."""
    want = greedy(model, tokenizer, prompt_ids, max_tokens)
    got = runtime_ids(tokenizer, generated_text, want)
    agreeing = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    stops = stop_ids(model)
    return {"what": what, "generated": generated_text, "reference": tokenizer.decode(want), "generated_ids": got,
            "reference_ids": want, "agreeing_tokens": agreeing, "score": score(model, prompt_ids, got),
            "reference_score": score(model, prompt_ids, want),
            "went_past_stop": [tokenizer.decode([t]) for t in got if t in stops][:1]}


def summarize(comparisons):
    """Token-weighted over every comparison: mean and largest gap, share of reference choices, and how much
    less likely (nats per token) LiteRT-LM's texts are than the reference's own greedy texts."""
    gaps = [g for c in comparisons for g in c["score"]["gaps"]]
    chosen = [x for c in comparisons for x in c["score"]["chosen"]]
    mine = [p for c in comparisons for p in c["score"]["logprobs"]]
    theirs = [p for c in comparisons for p in c["reference_score"]["logprobs"]]
    mean = lambda values: sum(values) / len(values) if values else 0.0  # noqa: E731
    return {"tokens": len(gaps), "mean_gap": round(mean(gaps), 4), "max_gap": round(max(gaps, default=0.0), 4),
            "reference_choice_share": round(mean([1.0 if x else 0.0 for x in chosen]), 4),
            "nll_excess": round(mean(theirs) - mean(mine), 4)}


def judge(request, comparisons, scores):
    """(problems, whether the quantization limits alone were missed: then a wider recipe is the fix)."""
    problems = []
    for c in comparisons:
        if not c["generated"].strip():
            problems.append(f"LiteRT-LM generated nothing for the {c['what']}")
        elif c["went_past_stop"]:  # teacher-forced scores cannot see this: the stop is the reference's own choice
            problems.append(f"LiteRT-LM went on past the checkpoint's stop token {c['went_past_stop'][0]!r} for the "
                            f"{c['what']} ({c['generated']!r}): the bundle's stop tokens are not the checkpoint's")
        elif request["exact"] and c["generated_ids"] != c["reference_ids"]:
            problems.append(f"LiteRT-LM generated {c['generated']!r} for the {c['what']}, but transformers' greedy text is "
                            f"{c['reference']!r} (they differ from token {c['agreeing_tokens']}); a float32 build must match")
    limits = request.get("limits")
    beyond = []
    if not problems and not request["exact"] and limits:
        if scores["mean_gap"] > limits["max_mean_gap"]:
            beyond.append(f"LiteRT-LM's tokens lie {scores['mean_gap']:.2f} logits below the reference's choice on "
                            f"average, more than the {limits['max_mean_gap']} this recipe's noise reaches")
        if scores["reference_choice_share"] < limits["min_reference_choice_share"]:
            beyond.append(f"only {scores['reference_choice_share']:.0%} of LiteRT-LM's tokens are the reference's choice, "
                            f"fewer than the {limits['min_reference_choice_share']:.0%} this recipe keeps")
        if "max_nll_excess" in limits and scores["nll_excess"] > limits["max_nll_excess"]:
            beyond.append(f"the checkpoint finds LiteRT-LM's texts {scores['nll_excess']:.2f} nats per token less likely than "
                            f"its own greedy texts, more than the {limits['max_nll_excess']} this recipe's noise costs")
    return problems + beyond, bool(beyond)


def main():
    request = read_request()
    tokenizer, model = load_reference(request["checkpoint"], request.get("lora"))
    started = time.monotonic()
    engine = open_engine(request["artifact"], request["context"], request["cache_dir"])
    loaded = time.monotonic()
    comparisons, run_seconds = [], 0.0  # the engine's time alone: the reference runs between its turns
    for prompt in request["prompts"]:
        began = time.monotonic()
        text = engine_continuation(engine, prompt, request["max_tokens"])
        run_seconds += time.monotonic() - began
        comparisons.append(compare(model, tokenizer, f"prompt {prompt!r}", tokenizer(prompt)["input_ids"], text,
                                   request["max_tokens"]))
    generated_tokens = sum(len(c["generated_ids"]) for c in comparisons)
    chat_error = None
    if request.get("chat_message") and tokenizer.chat_template:
        reply, chat_error = engine_reply(engine, request["chat_message"], request["max_tokens"])
        if reply is not None:
            messages = [{"role": "user", "content": request["chat_message"]}]
            templated = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = tokenizer(templated, add_special_tokens=False)["input_ids"]
            comparisons.append(compare(model, tokenizer, f"chat message {request['chat_message']!r}", ids, reply,
                                       request["max_tokens"]))
    scores = summarize(comparisons)
    problems, beyond_limits = judge(request, comparisons, scores)
    if chat_error:
        problems.append(f"LiteRT-LM could not chat through the bundled template: {chat_error}")
    first = comparisons[0]
    fix = None
    if beyond_limits and not chat_error:
        fix = (f"The {request.get('recipe')} recipe moves this model's output further from the checkpoint's than the "
               "limits that separate quantization noise from a broken model allow (docs/export-hf.md): build a wider "
               "variant (--quant int8, or fp32), or keep this one with --no-run-check if its text suits you.")
    limits = request.get("limits")
    line = (f"{len(request['prompts'])} prompts{' and a chat message' if len(comparisons) > len(request['prompts']) else ''}: "
            + ("exactly transformers' greedy tokens" if request["exact"] and not problems else
               f"{scores['reference_choice_share']:.0%} of {scores['tokens']} tokens the checkpoint's choice, mean gap "
               f"{scores['mean_gap']:.2f} logits" + (f" (limits {limits['min_reference_choice_share']:.0%}, "
                                                     f"{limits['max_mean_gap']})" if limits else "")))
    result({"problems": problems, "fix": fix, "summary": line, "scores": scores, "comparisons": comparisons, "limits": limits,
            # the first prompt's figures, as earlier zoo versions recorded them
            "generated": first["generated"], "reference": first["reference"], "generated_ids": first["generated_ids"],
            "reference_ids": first["reference_ids"], "agreeing_tokens": first["agreeing_tokens"],
            "load_seconds": round(loaded - started, 3),
            "tokens_per_second": round(generated_tokens / run_seconds, 2) if run_seconds > 0 else None})


if __name__ == "__main__":
    main()
