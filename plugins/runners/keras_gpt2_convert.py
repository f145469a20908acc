"""Convert a keras-hub GPT-2 preset to TFLite as the TensorFlow on-device LLM guide intends, made to work.

Usage: python keras_gpt2_convert.py REQUEST.json (inside the tensorflow-2.19 toolchain).

The guide's code fails on current Keras 3 / keras-hub; what works (shared/research/tensorflow-gpt2.md):
greedy sampling (the top-k sampler's seed variable breaks conversion), a tf.function composing
generate_preprocess -> the model's generate function -> detokenize (special tokens masked), taking
a string prompt with max_length fixed, and a tf.Module holding the model and its variables passed to
from_concrete_functions (the guide's call drops the weights). Converter settings are the guide's:
TFLITE_BUILTINS + SELECT_TF_OPS, the TF-Text ops UnsortedSegmentJoin and UpperBound as custom ops.
The model's Flex ops are written in one canonical byte order (protocol.reproducible_flex_ops).
"""

import json
import os
import sys
import time
from pathlib import Path

from protocol import reproducible_flex_ops
from zoo_runner import emit, fail

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load(preset, max_length):
    import keras_hub

    try:
        preprocessor = keras_hub.models.GPT2CausalLMPreprocessor.from_preset(str(preset), sequence_length=max_length)
        model = keras_hub.models.GPT2CausalLM.from_preset(str(preset), preprocessor=preprocessor)
    except Exception as exc:  # keras raises ValueError, OSError, KeyError... for a broken preset
        fail(f"the preset in {preset} cannot be loaded: {type(exc).__name__}: {str(exc)[:300]}",
             "Pass a complete keras-hub GPT-2 preset directory (as save_to_preset writes it), or pull it again.")
    model.compile(sampler="greedy")
    model.jit_compile = False
    return model, preprocessor


def concrete_generate(model, preprocessor, max_length):
    import tensorflow as tf

    generate_function = model.make_generate_function()
    tokenizer = preprocessor.tokenizer
    end_token = tokenizer.end_token_id

    @tf.function
    def generate(prompt, max_length):
        inputs = preprocessor.generate_preprocess(tf.expand_dims(prompt, 0), sequence_length=max_length)
        outputs = generate_function(inputs, stop_token_ids=[end_token])
        token_ids, mask = outputs["token_ids"], outputs["padding_mask"]
        mask = tf.logical_and(tf.cast(mask, tf.bool), tf.not_equal(token_ids, end_token))
        text = tokenizer.detokenize(tf.ragged.boolean_mask(token_ids, mask))
        return tf.squeeze(text, 0)

    return generate.get_concrete_function(tf.TensorSpec([], tf.string, name="prompt"), max_length)


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    started = time.monotonic()
    emit("progress", message="loading TensorFlow and keras-hub")
    import tensorflow as tf

    model, preprocessor = load(request["preset"], request["max_length"])
    emit("progress", message=f"tracing generate() with max_length {request['max_length']} and greedy sampling")
    concrete = concrete_generate(model, preprocessor, request["max_length"])
    holder = tf.Module()
    holder.model = model
    holder.variables_list = [v.value for v in model.variables]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter.allow_custom_ops = True
    converter.target_spec.experimental_select_user_tf_ops = ["UnsortedSegmentJoin", "UpperBound"]
    converter._experimental_guarantee_all_funcs_one_use = True
    if request["quantization"] in ("int8", "fp16"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range int8
    if request["quantization"] == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    emit("progress", message=f"converting to TFLite ({request['quantization']})")
    Path(request["output"]).write_bytes(reproducible_flex_ops(converter.convert()))
    emit("result", data={"seconds": round(time.monotonic() - started, 2)})


if __name__ == "__main__":
    main()
