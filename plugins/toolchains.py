"""The pinned converter toolchains the built-in converters, bundlers and verifiers run in.

Pins come from shared/research/dependency-pins.md: these stacks conflict with each other (protobuf,
typing-extensions, TensorFlow releases), so each gets its own environment. Every toolchain installs
from its committed lock in locks/NAME/ (every package, transitive ones included, hashed), made from
these pins by `zoo toolchain lock NAME`. Change a pin only with the reason in the commit message, and
make the lock again in the same commit (docs/toolchains.md).
"""

from pathlib import Path

from registry.components import Toolchain

LOCKS = Path(__file__).parent / "locks"

MEDIAPIPE = Toolchain(
    name="mediapipe",
    # 0.10.35 is the last release with mediapipe.tasks.python.genai (converter and bundler).
    requirements=("mediapipe==0.10.35", "torch==2.13.0", "jax==0.10.2", "jaxlib==0.10.2", "sentencepiece==0.2.3",
                  "safetensors==0.8.0", "numpy==2.4.6"),
    notes=("The genai converter and bundler were removed in mediapipe 1.x.",),
    probe="from mediapipe.tasks.python.genai import converter, bundler",
    locks=LOCKS / "mediapipe",
)

TENSORFLOW_219 = Toolchain(
    name="tensorflow-2.19",
    # TF 2.21's Python interpreter has no Flex delegate, so it cannot run the GPT-2 model it converts.
    requirements=("tensorflow==2.19.1", "tensorflow-text==2.19.0", "keras-hub==0.29.1"),
    notes=("TF 2.19 converts GPT-2 into a model its own interpreter can run; TF 2.21 does not.",),
    probe="import tensorflow, tensorflow_text, keras_hub",
    locks=LOCKS / "tensorflow-2.19",
)

LITERT_TORCH = Toolchain(
    name="litert-torch",
    # litert_torch.generative imports tensorflow without declaring it; mediapipe for the .task bundler.
    requirements=(
        "torch==2.13.0",
        "litert-torch==0.10.0",
        "tensorflow-cpu==2.21.0",
        "mediapipe==0.10.35",
        "litert-lm-builder==0.18.1",
        "litert-lm-api==0.18.1",
        "peft==0.21.2",  # merges a fine-tune's LoRA adapter into its base before export_hf (`zoo build hf --lora DIR`)
        # 5.25.0 requires kernels 0.19.1, under which litert-torch 0.10.0's export_hf no longer imports
        # ("apply_rotary_pos_emb is not decorated with @use_kernel_forward_from_hub"); 5.24.0 needs no kernels.
        "transformers==5.24.0",
        "gguf==0.19.0",  # transformers' GGUF loader: `zoo build hf --from model.gguf`
    ),
    notes=("litert-torch forces typing-extensions<4.13, which is why it never shares zoo's own environment.",),
    # export_hf is what drifted packages broke (kernels 0.19.1); transformers prints noise on import,
    # so the probe's last line says what it proved.
    probe="import litert_torch.generative, litert_lm; from litert_torch.generative.export_hf import export; "
          "print('litert_torch.generative.export_hf and litert_lm import')",
    locks=LOCKS / "litert-torch",
)

LITERT_LM = Toolchain(
    name="litert-lm",
    # What running a stored .litertlm or .task needs: LiteRT-LM's Python engine (and litert-lm-builder, to
    # read a bundle's metadata), without the ~4 GB converter stack (torch, TensorFlow, transformers).
    requirements=("litert-lm-api==0.18.1", "litert-lm-builder==0.18.1"),
    notes=("The runtime alone: `zoo run`, `zoo verify --run` and `zoo pull --run-check` use it; builds use litert-torch.",),
    probe="import litert_lm, litert_lm_builder; print('litert_lm imports')",
    locks=LOCKS / "litert-lm",
)

WEB = Toolchain(
    name="web",
    kind="npm",
    # MediaPipe's LLM Inference API for the Web and a driver for the machine's own Chromium (never downloaded).
    requirements=("@mediapipe/tasks-genai@0.10.29", "puppeteer-core@24.43.1"),
    notes=("Runs gpu .bin/.task files in MediaPipe's Web runtime in headless Chromium (WebGPU; SwiftShader without a GPU).",),
    # `zoo toolchain doctor web` starts the browser and reports the WebGPU adapter it offers.
    probe=f"import {{ probe }} from {(Path(__file__).parent / 'runners' / 'web' / 'probe.mjs').as_uri()!r}; console.log(await probe());",
    locks=LOCKS / "web",
)
