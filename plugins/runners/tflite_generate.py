"""Run a GPT-2 TFLite model with the TFLite interpreter and TF-Text's custom ops (tensorflow-2.19 toolchain).

TF 2.19's Python interpreter runs the SELECT_TF_OPS model (TF 2.21's has no Flex delegate). In
verify mode the text must start with the prompt and continue it (at least one generated token:
a model that returns the prompt alone generated nothing), and for float32 equal the Keras model's
own greedy generate() on the same preset.
"""

import json
import os
import sys
from pathlib import Path
from zoo_runner import emit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tflite_text(model_path, prompt):
    import numpy as np
    import tensorflow_text  # noqa: F401  (registers the TF-Text ops)
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    interpreter = InterpreterWithCustomOps(
        model_content=Path(model_path).read_bytes(),
        custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
    )
    runner = interpreter.get_signature_runner("serving_default")
    # UTF-8 bytes: a numpy str array is UTF-32, which the interpreter would read as one character.
    output = runner(prompt=np.array(prompt.encode("utf-8")))
    value = next(iter(output.values()))
    return (value.item() if hasattr(value, "item") else value).decode("utf-8", "replace")


def keras_text(preset, prompt, max_length):
    sys.path.insert(0, str(Path(__file__).parent))
    from keras_gpt2_convert import load

    model, _ = load(preset, max_length)
    return model.generate(prompt, max_length=max_length)  # keras-hub decodes with errors="replace" too


def generation_problems(prompt, got, reference=None):
    """What is wrong with the text the model returned for `prompt` (an empty list when nothing is)."""
    if not got.startswith(prompt):
        return [f"the TFLite model's text {got[:80]!r} does not start with the prompt {prompt!r}"]
    problems = []
    if not got[len(prompt):].strip():
        problems.append(f"the TFLite model generated no token after the prompt {prompt!r} (it returned {got[:80]!r})")
    if reference is not None and got != reference:
        problems.append(f"the TFLite model generated {got!r}, but the Keras model's greedy text is {reference!r}")
    return problems


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    prompt = request["prompt"]
    got = tflite_text(request["artifact"], prompt)
    if request["mode"] == "run":
        emit("result", data={"text": got[len(prompt):] if got.startswith(prompt) else got})
        return
    reference = keras_text(request["preset"], prompt, request["max_length"]) if request["quantization"] == "fp32" else None
    problems = generation_problems(prompt, got, reference)
    emit("result", data={"prompt": prompt, "generated": got, "reference": reference, "problems": problems,
                         "size_bytes": Path(request["artifact"]).stat().st_size})


if __name__ == "__main__":
    main()
