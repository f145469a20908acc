"""GPT-2: a tiny keras-hub preset through the real tensorflow-2.19 toolchain, verified in the TFLite interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import toolchain_python
from registry.errors import ExitCode

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tensorflow_python():
    from plugins.toolchains import TENSORFLOW_219

    return toolchain_python(TENSORFLOW_219)


@pytest.fixture(scope="module")
def preset(tensorflow_python, tmp_path_factory):
    """A tiny GPT-2 (2 layers, 64 wide, random weights) with a small byte-level BPE vocabulary."""
    directory = tmp_path_factory.mktemp("gpt2") / "preset"
    subprocess.run([str(tensorflow_python), str(REPO / "registry" / "testing" / "make_gpt2_preset.py"), str(directory)],
                   check=True, capture_output=True)
    return directory


def test_all_three_quantizations_build_and_run_in_the_interpreter(preset, tmp_path, zoo):
    sizes = {}
    for quant in ("fp32", "int8", "fp16"):
        result = zoo("build", "gpt2", "--quant", quant, "--from", str(preset), "--param", "max_length=32", "--json", timeout=600)
        assert result.returncode == 0, result.stderr
        built = json.loads(result.stdout)
        assert Path(built["path"]).name == f"gpt2-cpu-{quant}.tflite"
        [check] = [c for c in built["provenance"]["checks"] if c["check"] == "tflite-generation"]
        details = check["details"]
        assert details["problems"] == [] and details["generated"].startswith("My trip to Yosemite was")
        assert len(details["generated"]) > len("My trip to Yosemite was")
        if quant == "fp32":
            assert details["generated"] == details["reference"]  # the Keras model's own greedy output
        sizes[quant] = details["size_bytes"]
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]
    # reproducible: a second conversion in a new process writes the same bytes (the Flex ops' NodeDef
    # attribute maps came out in a per-process order before)
    again = zoo("build", "gpt2", "--quant", "fp32", "--from", str(preset), "--param", "max_length=32", "--reproduce",
                "--json", timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["identical"] is True
    info = zoo("info", "gpt2-cpu-int8", check=True).stdout
    assert f"{sizes['int8'] / sizes['fp32']:.2f}x the float32 build's size" in info
    ran = json.loads(zoo("run", "gpt2-cpu-fp32", "--prompt", "the zoo", "--json", check=True, timeout=300).stdout)
    assert ran["text"]
    exported = zoo("export", "gpt2-cpu-int8", "--to", str(tmp_path / "app" / "assets"), "--name", "autocomplete.tflite", check=True)
    target = Path(exported.stdout.strip())
    assert target == tmp_path / "app" / "assets" / "autocomplete.tflite" and target.stat().st_size == sizes["int8"]
    again = zoo("export", "gpt2-cpu-int8", "--to", str(tmp_path / "app" / "assets"), "--name", "autocomplete.tflite")
    assert again.returncode != 0 and "--force" in again.stderr


def test_a_corrupted_or_incomplete_preset_is_a_clear_error(preset, tmp_path, zoo):
    broken = tmp_path / "broken"
    shutil.copytree(preset, broken)
    weights = broken / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    result = zoo("build", "gpt2", "--quant", "int8", "--from", str(broken), env={"ZOO_NO_CACHE": "1"}, timeout=600)
    assert result.returncode == ExitCode.BUILD_FAILED
    assert "cannot be loaded" in result.stderr and "preset" in result.stderr and "Traceback" not in result.stderr
    incomplete = tmp_path / "incomplete"
    shutil.copytree(preset, incomplete)
    (incomplete / "assets" / "tokenizer" / "merges.txt").unlink()
    result = zoo("build", "gpt2", "--quant", "int8", "--from", str(incomplete))
    assert result.returncode == ExitCode.BUILD_FAILED and "lacks assets/tokenizer/merges.txt" in result.stderr


def test_the_preset_is_fetched_from_kaggle_by_its_handle(preset, zoo):
    from registry.testing.hubs import KaggleHub

    files = {str(p.relative_to(preset)): p.read_bytes() for p in preset.rglob("*") if p.is_file()}
    with KaggleHub() as kaggle:
        kaggle.add_model("keras/gpt2/keras/gpt2_base_en", files, version=3)
        env = {"ZOO_KAGGLE_ENDPOINT": kaggle.endpoint}
        result = zoo("build", "gpt2", "--quant", "fp16", "--param", "max_length=24", "--json", env=env, timeout=600)
        assert result.returncode == 0, result.stderr
        built = json.loads(result.stdout)
        assert len(kaggle.body_requests("/download/")) == len(files)
    source = built["provenance"]["inputs"]["source"]
    assert source["kind"] == "kaggle" and source["resolved"]["handle"] == "keras/gpt2/keras/gpt2_base_en/3"
    assert {f["path"] for f in built["provenance"]["inputs"]["files"]} == set(files)
