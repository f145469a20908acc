"""What the checkpoint itself says about the Web runtime's output, for the web-generation check's record.

Runs in the litert-torch toolchain (transformers), after the browser has generated, on the build's own
checkpoint (a directory with config.json). MediaPipe's Web runtime returns text only, so, as the
export_hf check does with LiteRT-LM's text, the checkpoint's tokenizer turns it back into ids; and the
checkpoint's own first greedy token for the prompt says whether the converted model starts where the
original does. Information, not a pass or fail: an int4 or int8 file may rightly pick another token.
"""

import time

from zoo_runner import fail, read_request, result


def main():
    request = read_request()
    started = time.monotonic()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(request["checkpoint"])
        model = AutoModelForCausalLM.from_pretrained(request["checkpoint"], dtype=torch.float32).eval()
    except Exception as exc:  # noqa: BLE001 - any loader failure is reported, not raised
        fail(f"transformers could not load the checkpoint: {type(exc).__name__}: {str(exc)[:300]}",
             "The reference is information only; the check itself does not depend on it.")
    ids = tokenizer(request["prompt"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        first = int(torch.argmax(model(ids).logits[0, -1]))
    text = request["generated"]
    generated = tokenizer(text, add_special_tokens=False)["input_ids"]
    first_text = tokenizer.decode([first])
    # The runtime's text may split into other ids than it generated (re-tokenizing is not the inverse of
    # detokenizing), so its first token matches when the text starts with the reference token's text.
    matches = (bool(generated) and generated[0] == first) or (bool(first_text.strip()) and text.lstrip().startswith(first_text.strip()))
    result({"first_token": first, "first_token_text": first_text, "generated_ids": generated, "first_token_matches": matches,
            "seconds": round(time.monotonic() - started, 3)})


if __name__ == "__main__":
    main()
