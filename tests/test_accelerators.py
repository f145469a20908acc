"""What a .litertlm says it runs on, read as LiteRT-LM reads it, against what its manifest claims."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import toolchain_python
from registry.api import write_plugin_distribution

NPU_PLUGIN = '''
from registry.api import hookimpl


def variant(vid, accelerator, backend="cpu"):
    return {"id": vid, "ready_made": True, "backend": backend, "accelerator": accelerator, "quantization": "int4",
            "format": "litertlm", "files": [{"path": "model.litertlm", "role": "weights"}]}


@hookimpl
def register_families(register):
    register({"schema_version": 1, "family": "chips", "description": "d", "models": [{
        "name": "chip-lm", "description": "d", "platforms": ["android"], "license": {"name": "MIT"},
        "source": {"kind": "huggingface", "repo": "acme/chip-lm", "revision": "main"},
        "variants": [variant("chip-lm-sm8650", "npu:qualcomm-sm8650"),
                     variant("chip-lm-sm8750", "npu:qualcomm-sm8750"),
                     variant("chip-lm-cpu", "cpu")]}]})
'''


def npu_litertlm(directory: Path, chip: str = "SM8650") -> Path:
    """A .litertlm written by LiteRT-LM's own builder, its model constrained to the NPU of `chip`."""
    from litert_lm_builder import litertlm_builder as builder

    from registry.api import build_tflite
    from registry.testing.litertlm_builder import llm_metadata

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.tflite").write_bytes(build_tflite(tensor_names=["w"]))
    (directory / "tokenizer.model").write_bytes(b"\x0a\x05spm")
    (directory / "metadata.pb").write_bytes(llm_metadata())
    made = builder.LitertLmFileBuilder()
    made.add_tflite_model(str(directory / "model.tflite"), builder.TfLiteModelType.PREFILL_DECODE, backend_constraint="npu",
                          additional_metadata=[builder.Metadata(key="soc_model", value=chip, dtype=builder.DType.STRING)])
    made.add_sentencepiece_tokenizer(str(directory / "tokenizer.model"))
    made.add_llm_metadata(str(directory / "metadata.pb"))
    path = directory / "model.litertlm"
    with open(path, "wb") as fh:
        made.build(fh)
    return path


def test_zoo_reads_the_backends_and_chip_as_litert_lm_does(tmp_path):
    """LiteRT-LM's ModelInfo (its C API, in the litert-lm toolchain) is the reference reading."""
    from plugins.toolchains import LITERT_LM
    from registry import litertlm

    path = npu_litertlm(tmp_path / "npu")
    ours = litertlm.accelerators(path)
    probe = ("import json, sys, litert_lm\n"
             "with litert_lm.ModelInfo(sys.argv[1]) as m:\n"
             "    t = litert_lm.LiteRtLmModality.TEXT\n"
             "    print(json.dumps([m.supported_backends_for_modality(t), m.soc_name_for_modality(t)]))\n")
    done = subprocess.run([str(toolchain_python(LITERT_LM)), "-c", probe, str(path)], capture_output=True, text=True,
                          check=True)
    backends, chip = json.loads(done.stdout.strip().splitlines()[-1])
    assert (list(ours.backends), ours.chip) == (backends, chip) == (["npu"], "SM8650")


@pytest.fixture
def chip_env(tmp_path, hf_hub):
    hf_hub.add_repo("acme/chip-lm", {"model.litertlm": npu_litertlm(tmp_path / "served").read_bytes()})
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-chips", "zoo_chips", source=NPU_PLUGIN)
    return {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_chips", "HF_HUB_DISABLE_XET": "1"}


def test_a_pulled_npu_file_for_another_chip_is_refused_with_nothing_stored(zoo, chip_env):
    right = zoo("pull", "chip-lm-sm8650", env=chip_env)
    assert right.returncode == 0, right.stderr
    wrong = zoo("pull", "chip-lm-sm8750", env=chip_env)
    said = " ".join(wrong.stderr.split())
    assert wrong.returncode == 6 and "compiled for the SM8650 chip, but the manifest says npu:qualcomm-sm8750" in said
    cpu = zoo("pull", "chip-lm-cpu", env=chip_env)
    assert cpu.returncode == 6 and "its model runs on npu (SM8650), but the manifest says it is a cpu file" in \
        " ".join(cpu.stderr.split())
    stored = {row["id"] for row in json.loads(zoo("ls", "--json", env=chip_env).stdout)}
    assert stored == {"chip-lm-sm8650"}


def test_an_imported_npu_file_keeps_its_chip_and_info_shows_it(zoo, tmp_path):
    path = npu_litertlm(tmp_path / "mine", chip="Tensor_G5")
    imported = zoo("import", str(path), "--as", "mine", "--json")
    assert imported.returncode == 0, imported.stderr
    assert zoo("verify", "mine").returncode == 0  # checked again as what it is: an NPU file for that chip
    info = json.loads(zoo("info", "mine", "--json").stdout)
    described = json.dumps(info)
    assert '"backends": ["npu"]' in described and '"npu_chip": "Tensor_G5"' in described
    assert "npu (compiled for Tensor_G5)" in " ".join(zoo("info", "mine").stdout.split())
