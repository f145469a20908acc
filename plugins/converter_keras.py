"""GPT-2 from a keras-hub preset to a string-in, string-out TFLite model (the TensorFlow guide's path).

Runs in the tensorflow-2.19 toolchain: TF 2.21 converts too, but its Python interpreter cannot run
the result (no Flex delegate), so nothing could verify it.
"""

from __future__ import annotations

from pathlib import Path

from registry.api import BuildError, BuildRequest, Converter, Job, Param, hookimpl

from plugins import toolchains

RUNNER = Path(__file__).parent / "runners" / "keras_gpt2_convert.py"
QUANTIZATIONS = ("fp32", "int8", "fp16")


class KerasTFLiteConverter(Converter):
    name = "keras-tflite"
    description = "A keras-hub GPT-2's generate() to a string-in, string-out TFLite model (TF-Text ops), greedy."
    toolchain = toolchains.TENSORFLOW_219
    produces = ("tflite",)
    parameters = {
        "max_length": Param("tokens the model's generate() runs to, prompt included (2..1024); keep prompts to "
                            "about half of it, as the TensorFlow guide advises", type=int, default=100),
        "preset": Param("the keras-hub preset the checkpoint is"),
        "sampler": Param("the sampler baked into the model (greedy)", default="greedy"),
    }

    def validate(self, variant, options) -> None:
        if variant.quantization_label not in QUANTIZATIONS:
            raise BuildError(f"The Keras TFLite path quantizes to {', '.join(QUANTIZATIONS)}, not {variant.quantization_label}.",
                             fix="Use --quant fp32, int8 or fp16.")
        length = options.params["max_length"]
        if not 2 <= length <= 1024:
            raise BuildError(f"max_length {length} is out of range.", fix="Use --param max_length=N with 2 <= N <= 1024 (default 100).")

    def plan(self, request: BuildRequest) -> Job:
        variant = request.variant
        name = variant.outputs[0].path
        output = request.work_dir / name
        return Job(
            RUNNER,
            {"preset": str(request.inputs_dir), "max_length": request.options.params["max_length"],
             "quantization": variant.quantization_label, "output": str(output)},
            f"GPT-2 conversion to TFLite ({variant.quantization_label})",
            {name: output},
            variant.recipe.ram_gb,
        )


@hookimpl
def register_converters(register):
    register(KerasTFLiteConverter())
