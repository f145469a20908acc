"""Bundle a LiteRT model and its sentencepiece tokenizer into a MediaPipe .task (mediapipe 0.10.35)."""

import json
import sys
from pathlib import Path

from protocol import reproducible_zip_times, require_tokens_in_vocabulary
from zoo_runner import emit, fail


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    require_tokens_in_vocabulary(request["tokenizer"], [request["start_token"], *request["stop_tokens"]])
    emit("progress", message="writing the .task bundle")
    from mediapipe.tasks.python.genai import bundler

    reproducible_zip_times()  # the .task's zip entries carry the build time, not now

    config = bundler.BundleConfig(
        tflite_model=request["model"],
        tokenizer_model=request["tokenizer"],
        start_token=request["start_token"],
        stop_tokens=request["stop_tokens"],
        output_filename=request["output"],
        enable_bytes_to_unicode_mapping=False,
        prompt_prefix_user=request.get("prompt_prefix") or None,
        prompt_suffix_user=request.get("prompt_suffix") or None,
    )
    try:
        bundler.create_bundle(config)
    except ValueError as exc:
        fail(f"the MediaPipe bundler refused: {exc}", "Check the bundle settings in the manifest.")
    emit("result", data={"bytes": Path(request["output"]).stat().st_size})


if __name__ == "__main__":
    main()
