"""Generate greedily with the LiteRT-LM engine on CPU; optionally compare with the PyTorch model.

Modes (request["mode"]):
  verify: run the artifact (.task or .litertlm), run the source checkpoint in PyTorch
          (transformers), and report a problem unless the texts are equal and non-empty;
  run:    print what the artifact generates for a prompt (`zoo run`);
  chat:   a conversation through the artifact's own chat template and sampler defaults
          (`zoo run --chat`): each user message from zoo (next_turn), each reply back (text).
The engine's Python API returns text, so texts are compared. Its CLI exits 0 even when it fails,
which is why zoo never runs the CLI.
"""

import os
import sys
from pathlib import Path

import litert_lm  # before the request: `zoo run` starts this runner early, to import while zoo parses
from zoo_runner import emit, fail, next_turn, read_request, text


def engine_text(artifact, prompt, max_tokens, context, cache_dir=None):
    """`cache_dir` takes the engine's compiled-weights cache (*.xnnpack_cache), which it otherwise
    writes beside the artifact: inside zoo's store, where only verified files belong."""
    try:
        if cache_dir:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)  # the engine refuses a folder that does not exist
        extra = {"cache_dir": str(cache_dir)} if cache_dir else {}
        engine = litert_lm.Engine(str(artifact), backend=litert_lm.Backend.CPU(), max_num_tokens=context, **extra)
        session = engine.create_session(
            apply_prompt_template=False, max_output_tokens=max_tokens,
            sampler_config=litert_lm.SamplerConfig(top_k=1, temperature=0.0),
        )
        session.run_prefill([prompt])
        return "".join(session.run_decode().texts)
    except Exception as exc:  # the engine raises RuntimeError/ValueError with the native status
        fail(f"LiteRT-LM could not run {Path(artifact).name}: {type(exc).__name__}: {str(exc)[:300]}",
             "The artifact is not loadable by LiteRT-LM; rebuild it, and report it if it keeps failing.")


def pytorch_text(checkpoint, tokenizer, prompt, max_tokens):
    """The source model's own greedy continuation, decoded by the same tokenizer.

    It uses only the checkpoint (its config's BOS and EOS), never the bundle's start and stop
    tokens, so a bundle with a wrong token differs from it instead of agreeing with it.
    """
    import sentencepiece as spm
    import torch
    from transformers import AutoModelForCausalLM

    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32)
    model.eval()
    bos, eos = model.config.bos_token_id, model.config.eos_token_id
    ids = ([bos] if bos is not None else []) + sp.encode(prompt)
    stops = set(eos if isinstance(eos, list) else [eos]) - {None}
    new = []
    with torch.no_grad():
        sequence = torch.tensor([ids])
        for _ in range(max_tokens):
            logits = model(input_ids=sequence).logits[0, -1]
            token = int(torch.argmax(logits))
            if token in stops:
                break
            new.append(token)
            sequence = torch.cat([sequence, torch.tensor([[token]])], dim=1)
    return sp.decode(new)


def chat(request):
    """Reply to each user message in one conversation, the engine loaded once.

    The sampler is the bundle's own defaults (generation_config.json's, which export_hf carries),
    passed explicitly as top-k/top-p: LiteRT-LM 0.18's CPU sampler refuses the GREEDY type export_hf
    writes for top_k = 1. Without defaults, greedy (top_k 1). A .litertlm without a chat template is
    refused: the conversation would send the bare text, which is what `zoo run --prompt` does.
    """
    artifact = Path(request["artifact"])
    sampler = {}
    if artifact.suffix == ".litertlm":
        from litertlm_metadata import llm_metadata, summary

        bundled = summary(llm_metadata(artifact))
        if not bundled["chat_template"]:
            fail(f"{artifact.name} carries no chat template, so there is nothing to chat through.",
                 "Use `zoo run ID --prompt TEXT` to continue text; build from a checkpoint whose tokenizer has a "
                 "chat template (chat_template.jinja or tokenizer_config.json's chat_template) to chat.")
        sampler = bundled["sampler"]
    config = litert_lm.SamplerConfig(top_k=int(sampler.get("top_k") or 1), top_p=sampler.get("top_p"),
                                      temperature=sampler.get("temperature", 0.0) if sampler.get("top_k", 1) != 1 else 0.0)
    try:
        Path(request["cache_dir"]).mkdir(parents=True, exist_ok=True)
        engine = litert_lm.Engine(str(artifact), backend=litert_lm.Backend.CPU(), max_num_tokens=request["context"],
                                  cache_dir=request["cache_dir"])
        conversation = engine.create_conversation(sampler_config=config, max_output_tokens=request["max_tokens"])
    except Exception as exc:
        fail(f"LiteRT-LM could not open a conversation with {artifact.name}: {type(exc).__name__}: {str(exc)[:300]}",
             "The artifact is not loadable by LiteRT-LM; rebuild it, and report it if it keeps failing.")
    turns = 0
    while True:
        message = request["prompt"] if request.get("prompt") is not None and turns == 0 else None
        if message is None:
            if request.get("prompt") is not None:
                break
            message = next_turn()
            if message is None:
                break
        try:
            reply = conversation.send_message(message)
        except Exception as exc:  # the runtime's own words: a template error is not a full context
            words = str(exc)[:400]
            if "template" in words.lower():
                fix = ("The bundle's chat template cannot render LiteRT-LM's messages. Build it again with this zoo, which "
                       "makes export_hf templates accept them, or use `zoo run ID --prompt TEXT`.")
            elif "context" in words.lower() or "max_num_tokens" in words.lower() or "too long" in words.lower():
                fix = "The conversation outgrew the context: start again, or build with a larger cache_length."
            else:
                fix = "Start the conversation again; if it fails the same way, run `zoo verify --run ID`."
            fail(f"LiteRT-LM could not answer: {type(exc).__name__}: {words}", fix)
        text("".join(part.get("text", "") for part in reply.get("content", []) if isinstance(part, dict)) + "\n")
        turns += 1
    emit("result", data={"turns": turns, "sampler": sampler})


def bench(request):
    """LiteRT-LM's own benchmark (its C API: engine settings with benchmarking on), run `runs` times:
    load, time to first token, prefill and decode speed, as the runtime measures them."""
    Path(request["cache_dir"]).mkdir(parents=True, exist_ok=True)
    measured = []
    for number in range(request["runs"]):
        emit("progress", message=f"run {number + 1} of {request['runs']}")
        try:
            info = litert_lm.Benchmark(request["artifact"], litert_lm.Backend.CPU(),
                                       prefill_tokens=request["prefill_tokens"], decode_tokens=request["decode_tokens"],
                                       max_num_tokens=request["context"], cache_dir=request["cache_dir"]).run()
        except Exception as exc:
            fail(f"LiteRT-LM could not benchmark {Path(request['artifact']).name}: {type(exc).__name__}: {str(exc)[:300]}",
                 "Check it runs (`zoo run ID --prompt TEXT`); fewer --prefill or --decode tokens fit a small context.")
        measured.append({"load_seconds": info.init_time_in_second,
                         "time_to_first_token_seconds": info.time_to_first_token_in_second,
                         "prefill_tokens": info.last_prefill_token_count,
                         "prefill_tokens_per_second": info.last_prefill_tokens_per_second,
                         "decode_tokens": info.last_decode_token_count,
                         "decode_tokens_per_second": info.last_decode_tokens_per_second})
    emit("result", data={"runs": measured, "runtime_version": runtime_version()})


def runtime_version():
    """The installed litert-lm-api's version, read from its dist-info folder's name: importlib.metadata
    scans every installed distribution, 30 ms of a 0.6 s `zoo run`."""
    site_packages = Path(litert_lm.__file__).resolve().parents[1]
    for found in site_packages.glob("litert_lm_api-*.dist-info"):
        return found.name[len("litert_lm_api-"):-len(".dist-info")]
    return None


def main():
    request = read_request()
    if request["mode"] == "chat":
        chat(request)
        return
    if request["mode"] == "bench":
        bench(request)
        return
    prompt, max_tokens = request["prompt"], request["max_tokens"]
    got = engine_text(request["artifact"], prompt, max_tokens, request["context"], request.get("cache_dir"))
    if request["mode"] == "run":
        emit("result", data={"text": got, "runtime_version": runtime_version()})
        return
    want = pytorch_text(request["checkpoint"], request["tokenizer"], prompt, max_tokens)
    problems = []
    if not got.strip():
        problems.append(f"LiteRT-LM generated nothing for {prompt!r}")
    elif got != want:
        problems.append(f"LiteRT-LM generated {got!r} for {prompt!r}, but the PyTorch model's greedy text is {want!r}")
    emit("result", data={"prompt": prompt, "generated": got, "reference": want, "problems": problems})


def leave_now():
    """End the process once its answer is out. Tearing down the engine (freeing the weights, joining
    its worker threads) and the interpreter takes ~15 ms of a 0.6 s `zoo run`, and nobody waits on it:
    the engine writes its compiled-weights cache while it loads, not as it closes."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    leave_now()  # a failure (fail: SystemExit) still exits the ordinary way, with its status
