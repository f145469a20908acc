"""Bundle a LiteRT model and its tokenizer into a LiteRT-LM .litertlm (litert-lm-builder)."""

import json
import sys
from pathlib import Path

from protocol import reproducible_litertlm, require_tokens_in_vocabulary
from zoo_runner import emit, fail


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    require_tokens_in_vocabulary(request["tokenizer"], [request["start_token"], *request["stop_tokens"]])
    emit("progress", message="writing the .litertlm bundle")
    from litert_torch.generative.utilities import litertlm_builder

    reproducible_litertlm()  # the build's uuid and time in the header, not a random one and now

    workdir = Path(request["output"]).parent / "litertlm-work"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        litertlm_builder.build_litertlm(
            tflite_model_path=request["model"],
            workdir=str(workdir),
            output_path=str(workdir),  # a directory: it writes <model stem>.litertlm there
            context_length=request["context_length"],
            tokenizer_model_path=request["tokenizer"],
            start_token=request["start_token"],
            stop_tokens=request["stop_tokens"],
            user_prompt_prefix=request.get("prompt_prefix") or None,
            user_prompt_suffix=request.get("prompt_suffix") or None,
            llm_model_type="generic",
        )
    except ValueError as exc:
        fail(f"the LiteRT-LM builder refused: {exc}", "Check the bundle settings in the manifest.")
    (workdir / (Path(request["model"]).stem + ".litertlm")).replace(request["output"])
    emit("result", data={"bytes": Path(request["output"]).stat().st_size})


if __name__ == "__main__":
    main()
