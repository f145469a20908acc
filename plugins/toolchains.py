"""The pinned converter toolchains the built-in converters, bundlers and verifiers run in.

Pins come from shared/research/dependency-pins.md: these stacks conflict with each other (protobuf,
typing-extensions, TensorFlow releases), so each gets its own environment. Change a pin only with
the reason in the commit message.
"""

from pathlib import Path

from registry.components import Toolchain

MEDIAPIPE = Toolchain(
    name="mediapipe",
    # 0.10.35 is the last release with mediapipe.tasks.python.genai (converter and bundler).
    requirements=("mediapipe==0.10.35", "torch==2.13.0", "jax==0.10.2", "jaxlib==0.10.2", "sentencepiece", "safetensors", "numpy"),
    notes=("The genai converter and bundler were removed in mediapipe 1.x.",),
    probe="from mediapipe.tasks.python.genai import converter, bundler",
)

TENSORFLOW_219 = Toolchain(
    name="tensorflow-2.19",
    # TF 2.21's Python interpreter has no Flex delegate, so it cannot run the GPT-2 model it converts.
    requirements=("tensorflow==2.19.*", "tensorflow-text==2.19.*", "keras-hub==0.29.1"),
    notes=("TF 2.19 converts GPT-2 into a model its own interpreter can run; TF 2.21 does not.",),
    probe="import tensorflow, tensorflow_text, keras_hub",
)

LITERT_TORCH = Toolchain(
    name="litert-torch",
    # litert_torch.generative imports tensorflow without declaring it; mediapipe for the .task bundler.
    requirements=(
        "torch==2.13.0",
        "litert-torch==0.10.0",
        "tensorflow-cpu==2.21.*",
        "mediapipe==0.10.35",
        "litert-lm-builder==0.18.1",
        "litert-lm-api==0.18.1",
        "peft==0.21.2",  # merges a fine-tune's LoRA adapter into its base before export_hf (`zoo build hf --lora DIR`)
    ),
    notes=("litert-torch forces typing-extensions<4.13, which is why it never shares zoo's own environment.",),
    probe="import litert_torch.generative, litert_lm",
)

WEB = Toolchain(
    name="web",
    kind="npm",
    # MediaPipe's LLM Inference API for the Web and a driver for the machine's own Chromium (never downloaded).
    requirements=("@mediapipe/tasks-genai@0.10.29", "puppeteer-core@24.43.1"),
    notes=("Runs gpu .bin/.task files in MediaPipe's Web runtime in headless Chromium (WebGPU; SwiftShader without a GPU).",),
    # `zoo toolchain doctor web` starts the browser and reports the WebGPU adapter it offers.
    probe=f"import {{ probe }} from {(Path(__file__).parent / 'runners' / 'web' / 'probe.mjs').as_uri()!r}; console.log(await probe());",
)
