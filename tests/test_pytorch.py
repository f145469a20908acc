"""Custom PyTorch models through litert-torch: the demo end to end, every quantization, the generation check.

These run the real litert-torch toolchain (created on first use under ZOO_TOOLCHAINS) on the
built-in tiny demo checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_zoo
from registry.errors import ExitCode
from registry.testing.plugins import write_plugin_distribution

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "manifests" / "zoo-demo"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.model")

pytestmark = pytest.mark.slow


def _copy_checkpoint(directory: Path) -> Path:
    directory.mkdir()
    for name in CHECKPOINT_FILES:
        shutil.copy(DEMO / name, directory)
    return directory


@pytest.fixture
def checkpoint(tmp_path):
    return _copy_checkpoint(tmp_path / "my-model")


@pytest.fixture(scope="module")
def built_by_quant(litert_python, tmp_path_factory):
    """quant -> the report of `zoo build pytorch --quant QUANT --from CHECKPOINT`, built once per module in a
    home of its own (a conversion is about a minute, and two tests need the fp32 one)."""
    root = tmp_path_factory.mktemp("pytorch-builds")
    checkpoint = _copy_checkpoint(root / "my-model")
    env = {"ZOO_HOME": str(root / "home")}
    made: dict[str, dict] = {}

    def build(quant: str) -> dict:
        if quant not in made:
            result = run_zoo("build", "pytorch", "--quant", quant, "--from", str(checkpoint), "--param", "arch=llama", "--json",
                             env=env, timeout=600)
            assert result.returncode == 0, result.stderr
            made[quant] = json.loads(result.stdout)
        return made[quant]

    return build


def test_the_demo_builds_offline_end_to_end_and_runs(litert_python, zoo):
    built = zoo("build", "zoo-demo", "--json", env={"ZOO_OFFLINE": "1"}, timeout=600)
    assert built.returncode == 0, built.stderr
    result = json.loads(built.stdout)
    names = {f["path"] for f in result["files"]}
    assert names == {"zoo-demo-cpu-int8.task", "zoo-demo-cpu-int8.litertlm", "provenance.json"}
    record = result["provenance"]
    generation = [c for c in record["checks"] if c["check"] == "litertlm-generation"]
    assert {c["output"] for c in generation} == {"zoo-demo-cpu-int8.task", "zoo-demo-cpu-int8.litertlm"}
    for check in generation:
        assert check["details"]["problems"] == [] and check["details"]["generated"] == check["details"]["reference"]
        assert check["details"]["generated"].strip()
    assert {c["check"] for c in record["checks"]} == {"task-bundle", "litertlm-bundle", "litertlm-generation"}
    assert [s["what"] for s in record["steps"]][:3] == ["llama conversion with litert-torch", "MediaPipe .task bundling", ".litertlm bundling"]
    ran = json.loads(zoo("run", "zoo-demo", "--prompt", "the zoo keeps", "--max-tokens", "8", "--json", check=True).stdout)
    assert ran["text"] == generation[0]["details"]["reference"]
    plain = zoo("run", "zoo-demo", "--prompt", "the zoo keeps", "--max-tokens", "8", check=True).stdout
    assert plain == ran["text"] + "\n"  # the continuation alone, as --json's text
    stored = Path(result["path"]).parent
    assert {p.name for p in stored.iterdir()} == names  # the engine's cache went to ZOO_HOME/cache, not beside the artifact
    again = json.loads(zoo("build", "zoo-demo", "--json", check=True).stdout)
    assert again["cache_hit"] is True
    zoo("verify", "--full", check=True)
    # zoo bench: LiteRT-LM's own benchmark, repeated, kept beside the store and shown by zoo info
    [bench] = json.loads(zoo("bench", "zoo-demo", "--runs", "2", "--json", check=True, timeout=300).stdout)
    assert bench["runtime"] == "litert-lm" and bench["runs"] == 2 and bench["context"] == 64
    for name in ("load_seconds", "time_to_first_token_seconds", "prefill_tokens_per_second", "decode_tokens_per_second"):
        assert len(bench["metrics"][name]["values"]) == 2 and bench["metrics"][name]["median"] > 0, name
    assert bench["peak_rss_bytes"] > 10e6 and bench["machine"]["cpus"] >= 1
    assert "bench" in zoo("info", "zoo-demo-cpu-int8", check=True).stdout
    [local] = json.loads(zoo("info", "zoo-demo-cpu-int8", "--json", check=True).stdout)["local"]
    assert local["bench"]["runs"] == 2 and local["bench"]["entry"] == "zoo-demo-cpu-int8"


@pytest.mark.parametrize("quant", ["fp32", "int8", "fp16", "int4"])
def test_a_checkpoint_directory_converts_for_each_quantization(built_by_quant, quant):
    built = built_by_quant(quant)
    files = {f["path"]: f for f in built["files"]}
    assert set(files) == {f"pytorch-cpu-{quant}.task", f"pytorch-cpu-{quant}.litertlm", f"pytorch-cpu-{quant}.tflite", "provenance.json"}
    from registry.tflite import read

    model = Path(built["path"]).parent / f"pytorch-cpu-{quant}.tflite"
    assert set(read(model).signature_keys) == {"prefill_8", "prefill_32", "decode"}
    assert built["provenance"]["params"] == {"arch": "llama"}
    assert all(not c.get("details", {}).get("problems") for c in built["provenance"]["checks"])


def test_prefill_and_kv_cache_options_reach_the_model(litert_python, checkpoint, zoo):
    built = json.loads(zoo("build", "pytorch", "--quant", "int8", "--from", str(checkpoint), "--param", "prefill_seq_len=4,16",
                           "--param", "kv_cache_max_len=48", "--json", check=True, timeout=600).stdout)
    from registry.tflite import read

    model = Path(built["path"]).parent / "pytorch-cpu-int8.tflite"
    assert set(read(model).signature_keys) == {"prefill_4", "prefill_16", "decode"}
    assert built["provenance"]["params"] == {"prefill_seq_len": "4,16", "kv_cache_max_len": "48"}  # as typed
    assert built["provenance"]["options"] == {"arch": "llama", "prefill_seq_len": [4, 16], "kv_cache_max_len": 48}


def family_with_bundle(tmp_path: Path, stop_tokens: str) -> dict[str, str]:
    site = tmp_path / "site"
    manifest = f"""
schema_version = 1
family = "bundletest"
description = "The demo checkpoint with other bundle settings."

[[models]]
name = "odd-bundle"
description = "Demo weights, odd tokens."
platforms = ["android"]
source = {{ kind = "local" }}
recipe = {{ converter = "litert-torch", params = {{ arch = "llama", prefill_seq_len = [8, 32], kv_cache_max_len = 64 }} }}
bundle = {{ bundlers = ["litertlm"], start_token = "<s>", stop_tokens = {stop_tokens} }}
expect = {{ prompt = "the zoo keeps", max_tokens = 8 }}
license = {{ name = "MIT" }}

[[models.variants]]
id = "odd-bundle-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "litertlm"
outputs = [{{ path = "odd-bundle-cpu-int8.litertlm", checks = ["litertlm-bundle", "litertlm-generation"] }}]
"""
    write_plugin_distribution(site, "zoo-bundletest", "zoo_bundletest", manifest=manifest)
    return {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_bundletest"}


def test_stop_tokens_missing_from_the_vocabulary_are_refused(litert_python, checkpoint, tmp_path, zoo):
    env = family_with_bundle(tmp_path, '["<eos>"]')
    result = zoo("build", "odd-bundle", "--from", str(checkpoint), env=env, timeout=600)
    assert result.returncode == ExitCode.BUILD_FAILED
    assert "vocabulary has no '<eos>'" in result.stderr and "stop_tokens" in result.stderr
    assert not list((Path(os.environ["ZOO_HOME"]) / "store" / "entries").glob("*.json"))


def test_the_generation_check_fails_when_a_stop_token_is_swapped(litert_python, checkpoint, tmp_path, zoo):
    env = family_with_bundle(tmp_path, '["e"]')  # a real piece, so only generation can catch it
    result = zoo("build", "odd-bundle", "--from", str(checkpoint), env=env, timeout=600)
    assert result.returncode == ExitCode.BUILD_FAILED, result.stderr
    assert "failed its checks, so nothing was installed" in result.stderr
    assert "but the PyTorch model's greedy text is" in result.stderr


def test_the_generation_check_fails_against_changed_weights(litert_python, built_by_quant, checkpoint, tmp_path):
    built = built_by_quant("fp32")
    artifact = Path(built["path"]).parent / "pytorch-cpu-fp32.litertlm"
    changed = tmp_path / "changed"
    shutil.copytree(checkpoint, changed)
    subprocess.run([str(litert_python), "-c", f"""
from safetensors.torch import load_file, save_file
tensors = load_file({str(changed / 'model.safetensors')!r})
tensors['lm_head.weight'] = tensors['lm_head.weight'].flip(0).contiguous()
save_file(tensors, {str(changed / 'model.safetensors')!r}, metadata={{'format': 'pt'}})
"""], check=True)
    request = tmp_path / "verify.json"
    request.write_text(json.dumps({
        "mode": "verify", "artifact": str(artifact), "checkpoint": str(changed), "tokenizer": str(changed / "tokenizer.model"),
        "prompt": "the zoo keeps", "max_tokens": 8, "context": 64,
    }))
    out = subprocess.run([str(litert_python), str(REPO / "plugins" / "runners" / "litertlm_generate.py"), str(request)],
                         capture_output=True, text=True, check=True, cwd=tmp_path,
                         env=os.environ | {"PYTHONPATH": str(REPO / "registry" / "runner")})
    result = json.loads([line for line in out.stdout.splitlines() if '"result"' in line][-1])["data"]
    assert result["problems"] and result["generated"] != result["reference"]


def test_zoo_info_pytorch_lists_the_architectures(zoo):
    from plugins.converter_litert_torch import ARCHITECTURES

    info = json.loads(zoo("info", "pytorch", "--json", check=True).stdout)
    notes = " ".join(json.loads(zoo("info", "pytorch-cpu-int8", "--json", check=True).stdout)["notes"])
    assert {v["id"] for v in info["variants"]} == {"pytorch-cpu-fp32", "pytorch-cpu-int8", "pytorch-cpu-fp16", "pytorch-cpu-int4"}
    for arch in ARCHITECTURES:
        assert f"--param arch={arch}" in notes
    options = json.loads(zoo("info", "pytorch-cpu-int8", "--json", check=True).stdout)["options"]
    assert options["kv_cache_max_len"] == {"description": "the KV-cache length, the model's context", "type": "a whole number",
                                           "value": 64}
    assert set(options) == {"arch", "architecture_module", "prefill_seq_len", "kv_cache_max_len"}


def test_a_plugin_adds_an_architecture_with_the_same_machinery(litert_python, checkpoint, tmp_path, zoo):
    """The example plugin (examples/zoo-tinystories), installed with pip, converts with its own architecture module."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
                    str(REPO / "examples" / "zoo-tinystories")], check=True, capture_output=True)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "tinystories"}
    built = json.loads(zoo("build", "tinystories", "--from", str(checkpoint), "--json", env=env, check=True, timeout=600).stdout)
    generation = [c for c in built["provenance"]["checks"] if c["check"] == "litertlm-generation"]
    assert len(generation) == 2 and all(c["details"]["problems"] == [] and c["details"]["generated"] for c in generation)
    assert built["provenance"]["steps"][0]["what"] == "tinystories conversion with litert-torch"
