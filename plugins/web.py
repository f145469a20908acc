"""MediaPipe's LLM Inference API for the Web, run in the machine's headless Chromium.

No Python runtime loads a MediaPipe `.bin`, but the Web runtime (@mediapipe/tasks-genai) runs every
gpu variant on WebGPU, and Chromium's SwiftShader provides WebGPU on a machine without a GPU. So a
web-capable gpu artifact is proven by its real runtime: the `web-generation` check of every such
build, `zoo verify --run ID` and `zoo run ID` for one in the store, and `zoo web ID` for a person.

The work happens in the web toolchain (pinned npm packages, run by node) with runners/web/run.mjs:
it serves the artifact, the runtime's files and a small page under a random path on 127.0.0.1 and
drives the page with puppeteer-core. The browser is the user's own, never downloaded.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from registry.components import Job, Runtime, Verifier
from registry.errors import ZooError
from registry.hookspecs import hookimpl

from plugins import toolchains

WEB_RUNNERS = Path(__file__).parent / "runners" / "web"
RUNNER = WEB_RUNNERS / "run.mjs"
REFERENCE_RUNNER = Path(__file__).parent / "runners" / "web_reference.py"

CHECK_PIECES = 1
"""Streamed pieces the checks generate. On the GPU the runtime streams a few tokens per piece, so one
proves prefill, decoding and detokenizing; more cost about 4 s a token on SwiftShader for a 1B model."""
DEFAULT_MAX_TOKENS = 512
"""The runtime's own default for prompt and reply together (LlmInference maxTokens)."""
LOAD_TIMEOUT_S = 600
GENERATE_TIMEOUT_S = 600


def browser_problem(environment) -> str | None:
    """Why no browser can be started here (None when one is found), asked of the runner's own lookup
    so that zoo and the job never disagree about which browser it is."""
    script = (f"import {{ findBrowser }} from {(WEB_RUNNERS / 'browser.mjs').as_uri()!r};"
              "try { findBrowser(); } catch (error) { console.log(error.message); process.exit(1); }")
    ran = subprocess.run([str(environment.interpreter), "--input-type=module", "-e", script], capture_output=True, text=True,
                         env=os.environ | environment.variables())
    if ran.returncode == 0:
        return None
    return ran.stdout.strip() or (ran.stderr.strip().splitlines() or ["node failed"])[-1]


def require_browser(environment, what: str, otherwise: str = "") -> None:
    problem = browser_problem(environment)
    if problem:
        raise ZooError(f"{what} runs in MediaPipe's Web runtime in Chromium: {problem}",
                       fix="Install Chromium (`apt-get install chromium`, or Chrome) or set ZOO_CHROMIUM to its executable"
                           + (f"; {otherwise}" if otherwise else "."))


def _request(artifact: Path, prompt: str, pieces: int, max_tokens: int, **extra) -> dict:
    return {"mode": "check", "artifact": str(artifact), "prompt": prompt, "pieces": pieces, "max_tokens": max_tokens,
            "load_timeout_s": LOAD_TIMEOUT_S, "generate_timeout_s": GENERATE_TIMEOUT_S} | extra


class WebGeneration(Verifier):
    name = "web-generation"
    description = ("Loads a web-capable gpu .bin/.task in MediaPipe's Web runtime in headless Chromium (WebGPU) and "
                   "generates a few greedy tokens from the test prompt; records load time, tokens/s and versions.")
    formats = ("bin", "task")
    runs_model = True
    by_default = True
    toolchain = toolchains.WEB

    def applies_to(self, variant, output) -> bool:
        return variant.backend == "gpu" and "web" in variant.platforms and output.path == variant.outputs[0].path

    def ready(self, environment) -> None:
        require_browser(environment, "The web-generation check",
                        "`zoo build ... --no-run-check` builds without running the model.")

    def plan(self, request, output, path):
        variant = request.variant
        prompt = str(variant.expect.get("prompt", "Hello"))
        lora = request.options.lora  # a base built for LoRA loads with the adapter's rank
        return Job(RUNNER, _request(path, prompt, CHECK_PIECES, variant.inference.max_tokens,
                                    lora_ranks=[lora.rank] if lora is not None else [],
                                    **_reference(request.inputs_dir, lora is not None)),
                   f"web-generation check of {output.path}")


def _reference(checkpoint: Path, lora: bool) -> dict:
    """How the check asks the build's checkpoint for its own first greedy token and for the ids of the
    runtime's text (runners/web_reference.py, in litert-torch's toolchain, which has transformers), or
    why it cannot. Information only, so it never installs a toolchain or fails the check."""
    from registry import toolchains as environments

    if lora:
        return {"reference_skipped": "a LoRA build: the reference would need the adapter merged"}
    if not (checkpoint / "config.json").is_file():
        return {"reference_skipped": "the checkpoint has no config.json, which transformers needs"}
    environment = environments.find(toolchains.LITERT_TORCH)
    if environment is None:
        return {"reference_skipped": "the litert-torch toolchain (transformers) is not installed"}
    return {"reference": {"python": str(environment.interpreter), "runner": str(REFERENCE_RUNNER), "checkpoint": str(checkpoint)}}


class MediaPipeWeb(Runtime):
    name = "mediapipe-web"
    description = "MediaPipe's LLM Inference API for the Web in headless Chromium on WebGPU (gpu .bin files)."
    formats = ("bin",)
    toolchain = toolchains.WEB
    serves_page = True
    supports_bench = True
    check_tokens = CHECK_PIECES

    def ready(self, environment) -> None:
        require_browser(environment, "Running a gpu .bin file")

    def plan(self, artifact, prompt, max_tokens, context):
        # max_tokens counts streamed pieces (a few tokens each); the runtime's limit counts prompt and reply.
        return Job(RUNNER, _request(artifact, prompt, max_tokens, max(context, DEFAULT_MAX_TOKENS)),
                   f"generating with {Path(artifact).name} in Chromium")

    def plan_bench(self, artifact, runs, prefill_tokens, decode_tokens, context):
        """The model loaded and asked `runs` times in one browser. The prompt is `prefill_tokens` words (the
        runtime reports how many tokens they are); the reply stops after `decode_tokens` streamed pieces,
        which are a few tokens each on the GPU (the runtime counts the tokens)."""
        prompt = " ".join(["zoo"] * prefill_tokens)
        request = _request(artifact, prompt, decode_tokens, max(context, prefill_tokens + 4 * decode_tokens + 8),
                           mode="bench", runs=runs)
        return Job(RUNNER, request, f"benchmarking {Path(artifact).name} in Chromium")

    def plan_page(self, artifact, title, prompt, defaults, port=0):
        request = {"mode": "serve", "artifact": str(artifact), "title": title, "prompt": prompt, "defaults": defaults, "port": port}
        return Job(RUNNER, request, f"serving {Path(artifact).name}")


@hookimpl
def register_verifiers(register):
    register(WebGeneration())


@hookimpl
def register_runtimes(register):
    register(MediaPipeWeb())
