"""The ready-made LiteRT-LM catalog: Google's and litert-community's .litertlm and .task files on
Hugging Face, pulled from a local hub that speaks the Hub's protocol under the real repo names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import HF_TOKEN
from registry.errors import ExitCode
from registry.testing.hubs import HuggingFaceHub
from registry.testing.litertlm_builder import LLM_METADATA, SP_TOKENIZER, TFLITE_MODEL, build_litertlm, llm_metadata
from registry.testing.task_builder import build_task
from registry.testing.tflite_builder import build_tflite

LITERTLM = build_litertlm([(TFLITE_MODEL, build_tflite(tensor_names=["w"])), (SP_TOKENIZER, b"spm" * 30),
                           (LLM_METADATA, llm_metadata(start_token="<bos>", chat_template="{{ messages }}", max_num_tokens=1280))])
HUB = {"HF_HUB_DISABLE_XET": "1"}


def test_the_catalog_lists_the_published_files_with_their_accelerators(zoo):
    rows = {r["id"]: r for r in json.loads(zoo("list", "--format", "litertlm", "--json", check=True).stdout)}
    assert {"gemma3-1b-it-cpu-int4", "gemma-3n-e2b-it-cpu-int4", "gemma-3n-e4b-it-cpu-int4", "gemma-4-e2b-it-cpu-int4",
            "gemma-4-e4b-it-cpu-int4", "qwen2.5-1.5b-instruct-cpu-int8-ekv4096", "deepseek-r1-distill-qwen-1.5b-cpu-int8",
            "phi-4-mini-instruct-cpu-int8", "qwen3-0.6b-cpu-int8-litert-community"} <= set(rows)
    npu = {r["id"]: r["accelerator"] for r in json.loads(zoo("list", "--accelerator", "npu", "--json", check=True).stdout)}
    assert npu == {"gemma-4-e2b-it-npu-qualcomm-sm8750": "npu:qualcomm-sm8750",
                   "gemma-4-e2b-it-npu-google-tensor-g5": "npu:google-tensor-g5"}
    web = {r["id"] for r in json.loads(zoo("list", "--accelerator", "web", "--json", check=True).stdout)}
    assert web == {"gemma3-1b-it-web-int4", "gemma-4-e2b-it-web-int4"}
    info = json.loads(zoo("info", "gemma3-1b-it-cpu-int4", "--json", check=True).stdout)
    assert info["files"] == [{"path": "gemma3-1b-it-int4.litertlm", "role": "weights", "size": 584417280, "sha256": None}]
    assert info["source"]["repo"] == "litert-community/Gemma3-1B-IT"


def test_one_model_name_pulls_its_published_file_and_builds_from_its_checkpoint(zoo):
    """`zoo pull M` takes the default ready-made variant, `zoo build M` the default buildable one."""
    pulled = zoo("pull", "gemma3-1b-it", env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"})
    assert "gemma3-1b-it: using its default variant gemma3-1b-it-cpu-int4" in " ".join(pulled.stderr.split())
    built = zoo("build", "gemma3-1b-it", "--no-run-check", env={"HF_HUB_OFFLINE": "1"})
    assert "gemma3-1b-it: using its default variant gemma3-1b-it-hf-cpu-int8" in " ".join(built.stderr.split())


def test_a_gated_published_file_names_its_own_licence_page_then_pulls_with_a_token(zoo):
    with HuggingFaceHub() as hub:
        hub.add_repo("litert-community/Gemma3-1B-IT", {"Gemma3-1B-IT_multi-prefill-seq_q4_ekv2048.task": build_task(),
                                                        "gemma3-1b-it-int4.litertlm": LITERTLM}, gated=True, tokens={HF_TOKEN})
        env = HUB | {"HF_ENDPOINT": hub.endpoint}
        refused = zoo("pull", "gemma3-1b-it", env=env)
        message = " ".join(refused.stderr.split())
        assert refused.returncode == ExitCode.ACCESS_DENIED and "https://huggingface.co/litert-community/Gemma3-1B-IT" in message
        task = zoo("pull", "gemma3-1b-it", "--format", "task", "--quant", "int4", "--backend", "cpu", "--json", env=env | {"HF_TOKEN": HF_TOKEN})
        assert task.returncode == 0, task.stderr
        [pulled] = json.loads(task.stdout)
        assert pulled["id"] == "gemma3-1b-it-cpu-int4-ekv2048-task"
        # the default .litertlm is pinned at the publisher's size: a file of any other size is refused, nothing stored
        wrong = zoo("pull", "gemma3-1b-it", env=env | {"HF_TOKEN": HF_TOKEN})
        assert wrong.returncode == ExitCode.INTEGRITY and "584417280 bytes" in " ".join(wrong.stderr.split())


def test_a_published_litertlm_is_checked_by_structure_on_arrival(zoo):
    broken = bytearray(LITERTLM)
    broken[:8] = b"NOTLITER"
    with HuggingFaceHub() as hub:
        hub.add_repo("litert-community/Qwen3-0.6B", {"Qwen3-0.6B.litertlm": LITERTLM})
        env = HUB | {"HF_ENDPOINT": hub.endpoint}
        [pulled] = json.loads(zoo("pull", "qwen3-0.6b", "--format", "litertlm", "--json", env=env, check=True).stdout)
        assert pulled["id"] == "qwen3-0.6b-cpu-int8-litert-community"
        assert Path(pulled["path"]).read_bytes() == LITERTLM
        shown = " ".join(zoo("info", "qwen3-0.6b-cpu-int8-litert-community", check=True).stdout.split())
        assert "chat template yes (14 characters)" in shown and "stop tokens id 2" in shown and "context 1280 tokens" in shown
        assert "start token <bos>" in shown
        hub.add_repo("litert-community/SmolLM-135M-Instruct", {"SmolLM-135M-Instruct_multi-prefill-seq_q8_ekv1280.task": bytes(broken)})
        bad = zoo("pull", "smollm-135m-instruct", env=env)
    assert bad.returncode == ExitCode.INTEGRITY and "internal error" not in bad.stderr, bad.stderr
    assert "smollm-135m-instruct" not in zoo("ls", "--json", check=True).stdout


def test_an_allowlist_for_ai_edge_gallery_lists_what_zoo_verified(tmp_path, zoo):
    """`zoo export --allowlist` writes Gallery's model_allowlist.json: the repo, the file, the commit it
    was pulled at, its size and the manifest's sampling defaults, with Gallery's own field names and types."""
    task = build_task()
    with HuggingFaceHub() as hub:
        repo = hub.add_repo("litert-community/Qwen2.5-1.5B-Instruct",
                            {"Qwen2.5-1.5B-Instruct_multi-prefill-seq_q8_ekv1280.task": task,
                             "Qwen2.5-1.5B-Instruct_multi-prefill-seq_q8_ekv4096.litertlm": LITERTLM})
        env = HUB | {"HF_ENDPOINT": hub.endpoint}
        zoo("pull", "qwen2.5-1.5b-instruct-cpu-int8-task", "qwen2.5-1.5b-instruct-cpu-int8-ekv4096", env=env, check=True)
    out = tmp_path / "model_allowlist.json"
    zoo("export", "--allowlist", str(out), "qwen2.5-1.5b-instruct-cpu-int8-task", "qwen2.5-1.5b-instruct-cpu-int8-ekv4096",
        check=True)
    models = json.loads(out.read_text())["models"]
    first = models[0]
    assert first["modelId"] == "litert-community/Qwen2.5-1.5B-Instruct"
    assert first["modelFile"] == "Qwen2.5-1.5B-Instruct_multi-prefill-seq_q8_ekv1280.task"
    assert first["commitHash"] == repo.commit and first["sizeInBytes"] == len(task)
    types = {"name": str, "modelId": str, "modelFile": str, "description": str, "sizeInBytes": int, "commitHash": str,
             "defaultConfig": dict, "taskTypes": list}
    for model in models:
        assert all(isinstance(model[key], kind) for key, kind in types.items()), model
        config = model["defaultConfig"]
        assert isinstance(config["topK"], int) and isinstance(config["topP"], float)
        assert isinstance(config["temperature"], float) and isinstance(config["maxTokens"], int)
        assert isinstance(config["accelerators"], str)
    assert models[1]["defaultConfig"]["accelerators"] == "gpu,cpu"
    again = zoo("export", "--allowlist", str(out), "qwen2.5-1.5b-instruct-cpu-int8-task")
    assert again.returncode != 0 and "--force" in again.stderr


def test_a_litertlm_without_what_litert_lm_needs_is_refused():
    """Sections a runtime needs (a TFLite model, a tokenizer, the LLM metadata) must be there, and the
    metadata must decode; each missing piece is named."""
    from registry import litertlm

    import tempfile

    model = build_tflite(tensor_names=["w"])
    cases = {
        "no tokenizer section": build_litertlm([(TFLITE_MODEL, model), (LLM_METADATA, llm_metadata())]),
        "no LlmMetadataProto section": build_litertlm([(TFLITE_MODEL, model), (SP_TOKENIZER, b"spm")]),
        "is not an LlmMetadata protobuf": build_litertlm([(TFLITE_MODEL, model), (SP_TOKENIZER, b"spm"), (LLM_METADATA, b"\xff" * 40)]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for why, data in cases.items():
            path = Path(tmp) / "x.litertlm"
            path.write_bytes(data)
            found = litertlm.problems(path)
            assert any(why in p for p in found), (why, found)


@pytest.mark.slow
def test_the_default_gemma3_litertlm_pulls_at_the_publishers_size_when_allowed(tmp_path, zoo):
    """`zoo pull gemma3-1b-it` as typed: the default variant, gated on litert-community's repo, pinned at the
    publisher's 584,417,280 bytes; the local hub serves a valid .litertlm of exactly that size (sparse)."""
    from registry.testing.litertlm_builder import write_sized_litertlm

    served = tmp_path / "gemma3-1b-it-int4.litertlm"
    write_sized_litertlm(served, 584_417_280)
    with HuggingFaceHub() as hub:
        hub.add_repo("litert-community/Gemma3-1B-IT", {"gemma3-1b-it-int4.litertlm": served}, gated=True, tokens={HF_TOKEN})
        result = zoo("pull", "gemma3-1b-it", "--json", env=HUB | {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": HF_TOKEN}, timeout=600)
    assert result.returncode == 0, result.stderr
    [pulled] = json.loads(result.stdout)
    assert pulled["id"] == "gemma3-1b-it-cpu-int4" and pulled["files"][0]["size"] == 584_417_280
    assert zoo("verify", "--full", "gemma3-1b-it-cpu-int4", timeout=300).returncode == 0
