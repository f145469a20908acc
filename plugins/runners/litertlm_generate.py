"""Generate greedily with the LiteRT-LM engine on CPU; optionally compare with the PyTorch model.

Modes (request["mode"]):
  verify: run the artifact (.task or .litertlm), run the source checkpoint in PyTorch
          (transformers), and report a problem unless the texts are equal and non-empty;
  run:    print what the artifact generates for a prompt (`zoo run`).
The engine's Python API returns text, so texts are compared. Its CLI exits 0 even when it fails,
which is why zoo never runs the CLI.
"""

import json
import sys
from pathlib import Path

from zoo_runner import emit, fail


def engine_text(artifact, prompt, max_tokens, context, cache_dir=None):
    """`cache_dir` takes the engine's compiled-weights cache (*.xnnpack_cache), which it otherwise
    writes beside the artifact: inside zoo's store, where only verified files belong."""
    import litert_lm

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


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    prompt, max_tokens = request["prompt"], request["max_tokens"]
    got = engine_text(request["artifact"], prompt, max_tokens, request["context"], request.get("cache_dir"))
    if request["mode"] == "run":
        emit("result", data={"text": got})
        return
    want = pytorch_text(request["checkpoint"], request["tokenizer"], prompt, max_tokens)
    problems = []
    if not got.strip():
        problems.append(f"LiteRT-LM generated nothing for {prompt!r}")
    elif got != want:
        problems.append(f"LiteRT-LM generated {got!r} for {prompt!r}, but the PyTorch model's greedy text is {want!r}")
    emit("result", data={"prompt": prompt, "generated": got, "reference": want, "problems": problems})


if __name__ == "__main__":
    main()
