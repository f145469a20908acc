"""Serve one artifact with the LiteRT-LM engine on CPU: loaded once, then one request at a time (`zoo serve`).

zoo writes each request as a JSON line on stdin (zoo_runner.next_request) and reads the answer as
events: "text" pieces as the engine streams them, then "done" (why it stopped, token counts) or
"failed" (the engine's own words). A chat request goes through the bundle's chat template
(LiteRT-LM's Conversation API, the earlier messages as its history); a completion continues the
prompt as it is (a Session without the template). Stop strings are cut here, so no piece of one is
ever sent: text that could still become a stop string waits until it cannot.
"""

from pathlib import Path

from zoo_runner import emit, fail, next_request, read_request


def main():
    import litert_lm

    request = read_request()
    artifact = Path(request["artifact"])
    Path(request["cache_dir"]).mkdir(parents=True, exist_ok=True)
    try:
        engine = litert_lm.Engine(str(artifact), backend=litert_lm.Backend.CPU(), max_num_tokens=request["context"],
                                  cache_dir=request["cache_dir"])
    except Exception as exc:  # the engine raises RuntimeError with the native status
        fail(f"LiteRT-LM could not load {artifact.name}: {type(exc).__name__}: {str(exc)[:300]}",
             "The artifact is not loadable by LiteRT-LM: `zoo verify --run ID` says more.")
    template = has_chat_template(artifact)
    emit("ready")
    while (asked := next_request()) is not None:
        if asked["kind"] == "chat" and not template:
            emit("failed", id=asked["id"], invalid=True,
                 message=f"{artifact.name} carries no chat template, so it cannot answer chat messages",
                 fix="Send the text to continue to /v1/completions instead, or serve a model built with a chat template.")
            continue
        try:
            answer(engine, litert_lm, asked)
        except Exception as exc:  # one request failed; the engine serves the next
            emit("failed", id=asked.get("id"), message=f"{type(exc).__name__}: {str(exc)[:400]}")


def has_chat_template(artifact):
    if artifact.suffix != ".litertlm":
        return True  # a .task carries its template in its metadata; LiteRT-LM applies it
    from litertlm_metadata import llm_metadata, summary

    return bool(summary(llm_metadata(artifact))["chat_template"])


def sampler(litert_lm, asked):
    """OpenAI's sampling fields as LiteRT-LM's; temperature 0 (or top_k 1) is greedy."""
    temperature = asked.get("temperature")
    top_k = asked.get("top_k")
    if temperature == 0 or top_k == 1:
        return litert_lm.SamplerConfig(top_k=1, temperature=0.0, seed=asked.get("seed"))
    return litert_lm.SamplerConfig(top_k=top_k or 40, top_p=asked.get("top_p") or 1.0,
                                   temperature=1.0 if temperature is None else temperature, seed=asked.get("seed"))


def answer(engine, litert_lm, asked):
    """One request. A request that is neither streamed nor has stop strings is decoded in one call
    (LiteRT-LM's synchronous decode, measured 10-25 ms faster for 32 tokens than its stream), its
    tokens counted with the engine's tokenizer; the others stream piece by piece."""
    stops = [s for s in asked.get("stop") or [] if s]
    whole = not asked.get("stream") and not stops
    worker, pieces = start(engine, litert_lm, asked, whole)
    try:
        if whole:
            text = next(iter(pieces))
            if text:
                emit("text", id=asked["id"], text=text)
            count = len(engine.tokenize(text)) if text else 0
            reason = "length" if count >= asked["max_tokens"] else "stop"
        else:
            count, reason = stream(asked["id"], pieces, stops, asked["max_tokens"], worker)
        prompt_tokens = None
        if asked["kind"] == "chat":
            used = worker.token_count
            prompt_tokens = max(0, used - count)
            if reason == "stop" and used >= asked["context"]:
                reason = "length"  # the context filled up, not a stop token
        else:
            prompt_tokens = len(engine.tokenize(asked["prompt"]))
        emit("done", id=asked["id"], finish_reason=reason, completion_tokens=count, prompt_tokens=prompt_tokens)
    finally:
        worker.close()


def start(engine, litert_lm, asked, whole):
    """The conversation (chat: the earlier messages as history, the bundle's template) or session
    (completion: the prompt as it is) answering the request, and its text: one piece, or a stream."""
    config = sampler(litert_lm, asked)
    if asked["kind"] == "chat":
        messages = asked["messages"]
        system = "\n".join(m["content"] for m in messages if m["role"] == "system") or None
        history = [m for m in messages[:-1] if m["role"] != "system"]
        worker = engine.create_conversation(messages=history or None, system_message=system, sampler_config=config,
                                            max_output_tokens=asked["max_tokens"])
        said = messages[-1]["content"]
        if whole:
            return worker, [message_text(worker.send_message(said))]
        return worker, (message_text(m) for m in worker.send_message_async(said))
    worker = engine.create_session(apply_prompt_template=False, sampler_config=config,
                                   max_output_tokens=asked["max_tokens"])
    worker.run_prefill([asked["prompt"]])
    if whole:
        return worker, ["".join(worker.run_decode().texts)]
    return worker, ("".join(r.texts) for r in worker.run_decode_async())


def message_text(message):
    return "".join(c.text for c in message.contents if hasattr(c, "text"))


def stream(request_id, pieces, stops, max_tokens, worker):
    """Send the pieces as they come, holding back text that may still turn into a stop string;
    returns (pieces generated, finish reason)."""
    held, count = "", 0
    for piece in pieces:
        count += 1
        held += piece
        cut = min((held.find(s) for s in stops if s in held), default=-1)
        if cut >= 0:
            if held[:cut]:
                emit("text", id=request_id, text=held[:cut])
            worker.cancel_process()
            return count, "stop"
        keep = max((k for s in stops for k in range(1, len(s)) if held.endswith(s[:k])), default=0)
        if len(held) > keep:
            emit("text", id=request_id, text=held[: len(held) - keep])
            held = held[len(held) - keep:]
    if held:
        emit("text", id=request_id, text=held)
    return count, "length" if count >= max_tokens else "stop"


if __name__ == "__main__":
    main()
