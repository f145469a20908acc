"""Convert a checkpoint with MediaPipe's genai converter (mediapipe 0.10.35), inside its toolchain.

Usage: python mediapipe_convert.py REQUEST.json, where the request holds ConversionConfig's
keyword arguments under "config". Events go to stdout as JSON lines (see registry/child.py).
A cpu model's weights are then put in buffer order (protocol.canonical_buffer_order): MediaPipe's cpu
writer places them in an order that changes from run to run.
"""

import json
import shutil
import sys
import time

from protocol import canonical_buffer_order
from zoo_runner import emit


class _GpuImageArgumentsFix:
    """mediapipe 0.10.35 passes b'' for image_encoder_file and image_adapter_file to the native
    MpLlmConverterGenerateGpuTfLite, whose shim treats any non-NULL pointer as a request for an
    image encoder, so every gpu conversion fails with "NotImplementedError: Image encoder not
    supported in this build". This proxy turns exactly those two empty arguments into NULL
    (passing None for every string aborts). Drop it when zoo moves past 0.10.35 and a gpu
    conversion passes without it (tests/test_build.py proves the seam).
    """

    IMAGE_ENCODER, IMAGE_ADAPTER = 10, 11  # positions in MpLlmConverterGenerateGpuTfLite's argtypes

    def __init__(self, lib):
        self._lib = lib

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def MpLlmConverterGenerateGpuTfLite(self, *args):  # noqa: N802 - the native name
        args = list(args)
        for index in (self.IMAGE_ENCODER, self.IMAGE_ADAPTER):
            if args[index] == b"":
                args[index] = None
        return self._lib.MpLlmConverterGenerateGpuTfLite(*args)


def apply_gpu_fix(llm_converter):
    original_init = llm_converter._LlmConverter.__init__
    if getattr(original_init, "_zoo_gpu_fix", False):
        return

    def __init__(self, lib):
        original_init(self, lib)
        self._lib = _GpuImageArgumentsFix(self._lib)

    __init__._zoo_gpu_fix = True
    llm_converter._LlmConverter.__init__ = __init__


def main():
    request = json.loads(open(sys.argv[1]).read())
    started = time.monotonic()
    emit("progress", message="loading the MediaPipe converter")
    from mediapipe.tasks.python.genai import converter
    from mediapipe.tasks.python.genai.converter import llm_converter

    apply_gpu_fix(llm_converter)
    config = request["config"]
    emit("progress", message=f"converting {config['model_type']} for {config['backend']} "
         f"(attention/feedforward/embedding bits {config['attention_quant_bits']}/"
         f"{config['feedforward_quant_bits']}/{config['embedding_quant_bits']})")
    try:
        converter.convert_checkpoint(converter.ConversionConfig(**config))
    except (ValueError, KeyError, FileNotFoundError, NotImplementedError) as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}",
             fix="Check that the checkpoint matches the model type and that every file is present.")
        sys.exit(3)
    if config["backend"] == "cpu":  # the gpu writer's order is already the same from run to run
        emit("progress", message="placing the weights in buffer order, for a reproducible file")
        shutil.rmtree(config["output_dir"], ignore_errors=True)  # the per-tensor bins: room for the rewrite's copy
        canonical_buffer_order(config["output_tflite_file"])
    emit("result", data={"seconds": round(time.monotonic() - started, 2)})


if __name__ == "__main__":
    main()
