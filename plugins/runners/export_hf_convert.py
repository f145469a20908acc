"""Export a transformers causal LM directory to a .litertlm with litert-torch's export_hf (0.10), in its toolchain.

The request names the checkpoint, the output file, a scratch folder, the prefill lengths, the cache
length, the quantization recipe ("none": float32) and, for a fine-tune, a LoRA adapter folder, which
peft merges into the base first. export_hf writes model.litertlm into the scratch
folder, with the tokenizer and the LLM metadata bundled; the runner moves it to the output.
"""

import os
import shutil
import time
from pathlib import Path

from protocol import reproducible_litertlm
from zoo_runner import fail, progress, read_request, result


def sampler_defaults(checkpoint):
    """top_k, top_p and temperature from generation_config.json, carried into the bundle's metadata."""
    import json

    path = Path(checkpoint) / "generation_config.json"
    try:
        config = json.loads(path.read_text()[: 1 << 20]) if path.is_file() else {}
    except ValueError:
        return {}
    if not isinstance(config, dict) or not config.get("do_sample"):
        return {}
    keys = {"top_k": "sampler_top_k", "top_p": "sampler_top_p", "temperature": "sampler_temperature"}
    return {target: config[key] for key, target in keys.items() if isinstance(config.get(key), (int, float))}


def merged_checkpoint(checkpoint, adapter, into):
    """The base with the LoRA adapter merged into its weights by peft, saved as a checkpoint folder
    export_hf reads like any other (tokenizer, generation config and chat template copied over)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    try:
        model = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    except Exception as exc:  # peft raises ValueError/KeyError/RuntimeError for an adapter of another base
        fail(f"peft could not merge the LoRA adapter into the checkpoint: {type(exc).__name__}: {str(exc)[:300]}",
             "Pass the adapter trained on this base model (its adapter_config.json names the base it was trained on).")
    into.mkdir(parents=True)
    model.save_pretrained(into, safe_serialization=True)
    for path in Path(checkpoint).iterdir():
        if path.is_file() and not path.name.endswith((".safetensors", ".safetensors.index.json")) and not (into / path.name).exists():
            shutil.copyfile(path, into / path.name)
    return into


def start_token_only_where_tokenization_adds_it():
    """export_hf (litert-torch 0.10.0) bundles the tokenizer's BOS as the start token, which LiteRT-LM
    puts before every prompt, when plain tokenization adds it *or* the chat template renders it first.
    SmolLM2's BOS is its turn marker `<|im_start|>`, which its template writes itself and its tokenizer
    never adds: the runtime then fed `<|im_start|>` before plain prompts and twice in chat, and the model
    answered the capital of France with "L'Étoile, la Marsebeau" (shared/research/real-models.md).
    The runtime should see what the model saw in training, so the start token goes in only where
    tokenization adds it; the chat check then proves the template alone renders the turns right.
    Replaced at the one decision export_hf makes, in the pinned release (the toolchain's lock)."""
    from litert_torch.generative.export_hf.core import litert_lm_builder

    def prepends_bos(tokenizer, chat_template=None):
        bos = getattr(tokenizer, "bos_token_id", None)
        ids = tokenizer("x").input_ids
        return bos is not None and len(ids) > 0 and ids[0] == bos

    litert_lm_builder._tokenizer_prepends_bos = prepends_bos


CONTENT_PARTS_TO_TEXT = (
    "{%- set zoo_ns = namespace(messages=[]) -%}"
    "{%- for zoo_m in messages -%}"
    "{%- if zoo_m['content'] is string -%}{%- set zoo_ns.messages = zoo_ns.messages + [zoo_m] -%}"
    "{%- else -%}{%- set zoo_text = namespace(value='') -%}"
    "{%- for zoo_part in zoo_m['content'] -%}{%- if zoo_part['type'] == 'text' -%}"
    "{%- set zoo_text.value = zoo_text.value + zoo_part['text'] -%}{%- endif -%}{%- endfor -%}"
    "{%- set zoo_ns.messages = zoo_ns.messages + [{'role': zoo_m['role'], 'content': zoo_text.value}] -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- set messages = zoo_ns.messages %}"
)
"""Put before a chat template that reads `message['content']` as a string: LiteRT-LM's Conversation API
passes content as a list of parts ([{"type": "text", "text": ...}]), on which `'<|im_start|>' + role +
'\n' + content` fails ("tried to use + operator on unsupported types string and sequence"). It joins
the text parts into a string and changes nothing for string content; its last tag strips no whitespace,
so the template after it renders exactly as before."""


def template_for_litert_lm(tokenizer, template):
    """The checkpoint's chat template, made to accept content as a list of parts where it does not
    already render such messages as it renders strings (checked with transformers' own renderer)."""
    plain = [{"role": "user", "content": "x"}]
    parts = [{"role": "user", "content": [{"type": "text", "text": "x"}]}]
    want = tokenizer.apply_chat_template(plain, chat_template=template, tokenize=False, add_generation_prompt=True)
    try:
        got = tokenizer.apply_chat_template(parts, chat_template=template, tokenize=False, add_generation_prompt=True)
    except Exception:  # jinja raises TypeError and friends on `str + list`
        got = None
    return template if got == want else CONTENT_PARTS_TO_TEXT + template


ADAPTED = {}


def chat_template_litert_lm_can_render():
    """Hand export_hf's metadata builder the adapted template (it bundles the tokenizer's as is)."""
    from litert_torch.generative.export_hf.core import litert_lm_builder

    original = litert_lm_builder.build_llm_metadata

    def build_llm_metadata(source_model_artifacts, export_config, chat_templates, *args, **kwargs):
        if isinstance(chat_templates, str) and chat_templates:
            adapted = template_for_litert_lm(source_model_artifacts.tokenizer, chat_templates)
            ADAPTED["chat_template_adapted"] = adapted != chat_templates
            chat_templates = adapted
        return original(source_model_artifacts, export_config, chat_templates, *args, **kwargs)

    litert_lm_builder.build_llm_metadata = build_llm_metadata


def main():
    request = read_request()
    scratch = Path(request["scratch"])
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    progress("loading the checkpoint and exporting (export_hf)")
    from litert_torch.generative.export_hf import export

    start_token_only_where_tokenization_adds_it()
    chat_template_litert_lm_can_render()
    reproducible_litertlm()  # the build's uuid and time in the header, not a random one and now

    sampler = sampler_defaults(request["checkpoint"])
    started = time.monotonic()
    checkpoint = request["checkpoint"]
    if request.get("lora"):
        progress("merging the LoRA adapter into the base (peft)")
        checkpoint = str(merged_checkpoint(checkpoint, request["lora"], scratch / "merged"))
    try:
        export.export(
            model=checkpoint, output_dir=str(scratch), prefill_lengths=request["prefill_lengths"],
            cache_length=request["cache_length"], quantization_recipe=request["quantization_recipe"], **sampler,
        )
    except Exception as exc:  # export_hf raises whatever the tracer or the model's code raises
        fail(f"export_hf could not export the checkpoint: {type(exc).__name__}: {str(exc)[:400]}",
             "The architecture may not be supported by this litert-torch; `zoo info hf` lists the verified ones.")
    produced = scratch / "model.litertlm"
    if not produced.is_file():
        fail(f"export_hf finished without writing model.litertlm (it wrote {sorted(os.listdir(scratch))}).",
             "Report it with the checkpoint's config.json.")
    from litertlm_metadata import llm_metadata, summary

    bundled = summary(llm_metadata(produced))  # what the bundle itself says, read with the format's own schema
    os.replace(produced, request["output"])
    merged = request.get("lora") is not None
    shutil.rmtree(scratch, ignore_errors=True)
    result({"seconds": round(time.monotonic() - started, 2), "sampler": sampler,
            "quantization_recipe": request["quantization_recipe"], "lora_merged": merged, "bundle": bundled,
            "chat_template_adapted": ADAPTED.get("chat_template_adapted", False)})


if __name__ == "__main__":
    main()
