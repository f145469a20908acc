"""`zoo build`: the pipeline with a test converter (fast), and the real MediaPipe converter (slow)."""

from __future__ import annotations

import hashlib
import json
import re
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ends_soon, install_pack_plugin, pure_wheel, run_zoo, start_hanging_build
from registry import safetensors_file
from registry.errors import BuildError, ExitCode
from registry.testing.tflite_builder import mediapipe_like_bin

HERE = Path(__file__).parent
REPO = HERE.parent


@pytest.fixture
def pack_env(tmp_path):
    return install_pack_plugin(tmp_path)


def store() -> Path:
    return Path(os.environ["ZOO_HOME"]) / "store"


def assert_nothing_stored() -> None:
    assert not list((store() / "entries").glob("*.json"))
    assert not list((store() / "blobs" / "sha256").glob("*"))
    builds = Path(os.environ["ZOO_HOME"]) / "builds"
    assert not builds.exists() or not list(builds.iterdir())


def test_a_build_installs_verified_outputs_with_provenance(pack_env, zoo):
    env, package = pack_env
    result = zoo("build", "packer", "--json", env=env)
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    assert built["cache_hit"] is False and built["entry"] == "packer-cpu-int8"
    output = Path(built["path"])
    assert output.name == "packer-cpu-int8.tflite" and output.read_bytes()[4:8] == b"TFL3"
    record = json.loads((output.parent / "provenance.json").read_text())
    assert record == built["provenance"]
    inputs = {f["path"]: f for f in record["inputs"]["files"]}
    assert inputs["weights.bin"]["size"] == 100_000 and len(inputs["weights.bin"]["sha256"]) == 64
    assert record["inputs"]["source"]["kind"] == "local"
    assert record["recipe"]["converter"] == "pack" and record["zoo_version"] == "0.1.0"
    assert record["command"] == "zoo build packer --json"
    assert record["toolchains"]["zoo-test-pack"]["lock"] and record["toolchains"]["zoo-test-pack"]["lock_sha256"]
    [step] = record["steps"]
    assert step["what"] == "packing" and step["peak_rss_bytes"] > 1_000_000 and step["seconds"] > 0
    assert set(record["timings"]) >= {"fetch", "convert", "verify", "total"}
    assert record["outputs"] == [{"path": "packer-cpu-int8.tflite", "sha256": built["files"][0]["sha256"], "size": output.stat().st_size}]
    assert [c["check"] for c in record["checks"]] == ["tflite-flatbuffer"]
    info = json.loads(zoo("info", "packer-cpu-int8", "--json", env=env, check=True).stdout)
    assert info["local"][0]["provenance"]["build_key"] == record["build_key"]
    assert "build key" in zoo("info", "packer-cpu-int8", env=env, check=True).stdout
    zoo("verify", "--full", env=env, check=True)


def test_the_build_cache_hits_when_nothing_changed_and_misses_for_inputs_and_recipe(pack_env, zoo):
    env, package = pack_env
    first = json.loads(zoo("build", "packer", "--json", env=env, check=True).stdout)
    again = json.loads(zoo("build", "packer", "--json", env=env, check=True).stdout)
    assert again["cache_hit"] is True and again["files"] == first["files"]
    (package / "ckpt" / "weights.bin").write_bytes(os.urandom(100_000))  # an input changes
    changed_input = json.loads(zoo("build", "packer", "--json", env=env, check=True).stdout)
    assert changed_input["cache_hit"] is False and changed_input["files"][0] != first["files"][0]
    manifest = package / "pack_family.toml"
    manifest.write_text(manifest.read_text().replace('params = { mode = "ok" } }', 'params = { mode = "ok", salt = "v2" } }', 1))
    changed_recipe = json.loads(zoo("build", "packer", "--json", env=env, check=True).stdout)
    assert changed_recipe["cache_hit"] is False and changed_recipe["provenance"]["recipe"]["params"]["salt"] == "v2"
    forced = json.loads(zoo("build", "packer", "--rebuild", "--json", env=env, check=True).stdout)
    assert forced["cache_hit"] is False


def test_the_cache_key_covers_toolchain_lock_zoo_version_and_lora(monkeypatch):
    import registry.build as build_module
    from registry.catalog import get_catalog

    class Env:
        def __init__(self, digest):
            self.lock_digest = digest

    variant = get_catalog().variant("phi-2-gpu-int8")
    inputs = [{"path": "model.safetensors", "sha256": "a" * 64}]
    base = build_module.build_key(variant, inputs, {"mediapipe": Env("1")}, None)
    assert base == build_module.build_key(variant, inputs, {"mediapipe": Env("1")}, None)
    assert base != build_module.build_key(variant, inputs, {"mediapipe": Env("2")}, None)
    assert base != build_module.build_key(variant, [{"path": "model.safetensors", "sha256": "b" * 64}], {"mediapipe": Env("1")}, None)
    assert base != build_module.build_key(variant, inputs, {"mediapipe": Env("1")}, {"sha256": "c" * 64, "rank": 4})
    assert base != build_module.build_key(get_catalog().variant("phi-2-gpu-int4"), inputs, {"mediapipe": Env("1")}, None)
    monkeypatch.setattr(build_module, "__version__", "9.9.9")
    assert base != build_module.build_key(variant, inputs, {"mediapipe": Env("1")}, None)


@pytest.mark.parametrize(
    "model,words",
    [
        ("crasher", ["crashed in native code (SIGABRT)"]),
        ("hungry", ["killed by SIGKILL", "out-of-memory", "needs about 7 GB of RAM", "this machine has"]),
        ("refuser", ["failed: ValueError: tensor shapes do not match FAKE_MODEL", "Use the right checkpoint"]),
        ("liar", ["failed its checks, so nothing was installed", "TFL3"]),
        ("mixup", ["backend metadata says 'cpu'", "gpu variant"]),
    ],
)
def test_a_failing_step_is_one_clear_error_and_leaves_nothing(pack_env, zoo, model, words):
    env, _ = pack_env
    result = zoo("build", model, env=env)
    assert result.returncode == ExitCode.BUILD_FAILED, result.stderr
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_stored()


def test_a_failed_step_names_a_file_with_its_whole_log(pack_env, zoo):
    """"Run with ZOO_DEBUG=1 for the full log" showed zoo's own traceback, never the child's output."""
    import re

    env, _ = pack_env
    result = zoo("build", "crasher", env=env)
    message = " ".join(result.stderr.split())
    found = re.search(r"The whole log: (\S+\.log)\.", message)
    assert result.returncode == ExitCode.BUILD_FAILED and found, message
    log = Path(found.group(1))
    assert log.parent == Path(os.environ["ZOO_HOME"]) / "logs"
    assert "stderr: native converter: assertion failed in layer 7" in log.read_text()
    assert "ZOO_DEBUG" not in message


def test_job_logs_are_bounded_and_rotated(monkeypatch):
    from registry import child

    monkeypatch.setattr(child, "LOG_LIMIT", 1000)
    logs = []
    for n in range(child.LOGS_KEPT + 5):
        log = child.JobLog(f"step {n}")
        for _ in range(100):
            log.write("stdout", "x" * 50)
        log.close()
        logs.append(log.path)
    folder = Path(os.environ["ZOO_HOME"]) / "logs"
    assert len(list(folder.glob("*.log"))) == child.LOGS_KEPT and logs[-1].exists()
    assert logs[-1].stat().st_size < 1200 and logs[-1].read_text().endswith("(cut at 1000 bytes)\n")


def test_resources_are_checked_before_starting_unless_forced(pack_env, zoo):
    env, _ = pack_env
    refused = zoo("build", "greedy", env=env)
    assert refused.returncode == ExitCode.BUILD_FAILED
    assert "needs about 100000 GB of RAM to convert; this machine has" in refused.stderr and "--force" in refused.stderr
    assert_nothing_stored()
    zoo("build", "greedy", "--force", env=env, check=True)


# ---------------------------------------------------------------------------- MediaPipe: refusals and LoRA


def test_unsupported_mediapipe_combinations_are_refused_before_any_work(pack_env, tmp_path, zoo):
    env, _ = pack_env
    adapter = tmp_path / "adapter_model.safetensors"
    safetensors_file.write(adapter, {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": ("F16", [4, 8], b"\0" * 64)})
    cpu_lora = zoo("build", "phi-2", "--backend", "cpu", "--quant", "int8", "--lora", str(adapter), "--lora-rank", "4", env=env)
    assert cpu_lora.returncode == ExitCode.BUILD_FAILED and "does not take LoRA adapters" in cpu_lora.stderr
    assert "--backend gpu" in cpu_lora.stderr
    no_rank = zoo("build", "phi-2", "--backend", "gpu", "--quant", "int8", "--lora", str(adapter), env=env)
    assert "--lora-rank" in no_rank.stderr
    falcon_dir = tmp_path / "falcon"
    falcon_dir.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (falcon_dir / name).write_bytes(b"{}")
    falcon = zoo("build", "falcon-rw-1b", "--backend", "cpu", "--quant", "int8", "--from", str(falcon_dir), env=env)
    assert falcon.returncode == ExitCode.BUILD_FAILED
    assert "converts only from pytorch_model.bin" in falcon.stderr and "model.safetensors" in falcon.stderr
    unknown = zoo("build", "lorafake", env=env)
    assert unknown.returncode == ExitCode.BUILD_FAILED and "no model type 'LLAMA_7B'" in unknown.stderr
    assert "PHI_2" in unknown.stderr
    assert_nothing_stored()


def test_peft_lora_keys_are_mapped_to_what_the_converter_needs(tmp_path):
    from plugins.converter_mediapipe import map_lora_adapter

    rank = 4
    tensors = {}
    for layer in (0, 1):
        for proj in ("q_proj", "k_proj", "v_proj", "dense"):
            tensors[f"base_model.model.model.layers.{layer}.self_attn.{proj}.lora_A.weight"] = ("F16", [rank, 2560], os.urandom(rank * 2560 * 2))
            tensors[f"base_model.model.model.layers.{layer}.self_attn.{proj}.lora_B.weight"] = ("F16", [2560, rank], os.urandom(rank * 2560 * 2))
    adapter = tmp_path / "adapter_model.safetensors"
    safetensors_file.write(adapter, tensors)
    mapped = tmp_path / "mapped.safetensors"
    map_lora_adapter(adapter, mapped, "PHI_2", rank)
    header, start = safetensors_file.read_header(mapped)
    assert "base_model.model.model.layers.0.self_attention.q.lora_A.linear.weight" in header
    assert "base_model.model.model.layers.1.self_attention.post.lora_B.linear.weight" in header
    assert not any("self_attn" in name for name in header)
    original, original_start = safetensors_file.read_header(adapter)
    assert mapped.read_bytes()[start:] == adapter.read_bytes()[original_start:]  # the data is untouched

    gemma = {"base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight": ("F16", [rank, 8], b"\0" * rank * 16)}
    safetensors_file.write(adapter, gemma)
    map_lora_adapter(adapter, mapped, "GEMMA_2B", rank)
    assert list(safetensors_file.read_header(mapped)[0]) == ["base_model.model.model.layers.0.self_attention.post.lora_A.weight"]
    with pytest.raises(BuildError, match="has rank 4, not the --lora-rank 8"):
        map_lora_adapter(adapter, mapped, "GEMMA_2B", 8)
    safetensors_file.write(adapter, {"base_model.model.model.layers.0.mlp.fc1.lora_A.weight": ("F16", [rank, 8], b"\0" * 64)})
    with pytest.raises(BuildError, match="attention projections"):
        map_lora_adapter(adapter, mapped, "PHI_2", rank)


def test_the_bin_verifier_rejects_wrong_metadata_parameters_and_tensors(tmp_path):
    from registry.catalog import Catalog
    from registry.tflite import LlmShape

    catalog = Catalog.load()
    verifier = catalog.component("verifier", "mediapipe-metadata")
    gpu = catalog.variant("falcon-rw-1b-gpu-int8")

    def problems(data: bytes, variant=gpu):
        path = tmp_path / "model.bin"
        path.write_bytes(data)
        return verifier.check(path, variant, variant.outputs[0])

    assert problems(mediapipe_like_bin("FALCON_RW_1B", "gpu")) == []
    assert problems(mediapipe_like_bin("FALCON_RW_1B", "cpu")) == ["its backend metadata says 'cpu', but falcon-rw-1b-gpu-int8 is a gpu variant"]
    [wrong_type] = problems(mediapipe_like_bin("PHI_2", "gpu"))
    assert "model type is PHI_2, but the manifest expects FALCON_RW_1B" in wrong_type
    [shape] = problems(mediapipe_like_bin("FALCON_RW_1B", "gpu", shape=LlmShape(2048, 8192, 24, 32000), layers=24))
    assert "vocab_size=32000" in shape
    [missing] = problems(mediapipe_like_bin("FALCON_RW_1B", "gpu", layers=20))
    assert "24 expected tensors are missing" in missing and "x_layers_20" in missing
    assert problems(mediapipe_like_bin("FALCON_RW_1B", "gpu", tokenizer=b"")) == ["no tokenizer ('spm_vocab_model' metadata)"]


# ---------------------------------------------------------------------------- toolchains


def test_a_toolchain_is_created_once_from_the_users_pip_configuration_and_reused(tmp_path, monkeypatch):
    from registry import settings, toolchains
    from registry.components import Toolchain

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    pure_wheel(wheels, "zoo-probe-pkg", "1.0")
    monkeypatch.setenv("ZOO_TOOLCHAINS", str(tmp_path / "toolchains"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the user's pip configuration: only this directory
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    settings.reload()
    spec = Toolchain("probe", ("zoo-probe-pkg==1.0",), probe="import zoo_probe_pkg")
    assert toolchains.find(spec) is None
    lines = []
    env = toolchains.ensure(spec, lines.append)
    assert env.path == toolchains.location(spec) and "zoo-probe-pkg==1.0" in env.lock
    assert any("Creating the probe toolchain" in line for line in lines)
    out = subprocess.run([str(env.interpreter), "-c", "import zoo_probe_pkg; print(zoo_probe_pkg.VERSION)"], capture_output=True, text=True)
    assert out.stdout.strip() == "1.0"
    record = (env.path / toolchains.RECORD).stat().st_mtime_ns
    again = toolchains.ensure(spec, lines.append)
    assert again.path == env.path and (env.path / toolchains.RECORD).stat().st_mtime_ns == record
    assert toolchains.doctor(again, spec.probe) == []
    other = Toolchain("probe", ("zoo-probe-pkg==2.0",))
    assert toolchains.location(other) != env.path  # keyed by the requirements' hash
    pure_wheel(wheels, "zoo-probe-pkg", "2.0")
    subprocess.run([str(env.interpreter), "-m", "pip", "install", "-q", "zoo-probe-pkg==2.0"], check=True)
    assert any("no longer match" in p for p in toolchains.doctor(again, spec.probe))
    assert toolchains.remove("probe") == [env.path] and toolchains.find(spec) is None


def test_a_toolchain_already_satisfied_by_zoos_interpreter_is_used_directly():
    from registry import toolchains
    from registry.components import Toolchain

    env = toolchains.ensure(Toolchain("here", ("pluggy>=1", "click")))
    assert env.path is None and Path(env.interpreter) == Path(sys.executable)
    assert any(line.startswith("pluggy==") for line in env.lock)


def test_zoo_toolchain_list_names_every_declared_toolchain(zoo):
    rows = json.loads(zoo("toolchain", "list", "--json", check=True).stdout)
    assert {r["name"] for r in rows} >= {"mediapipe", "tensorflow-2.19", "litert-torch"}
    assert next(r for r in rows if r["name"] == "mediapipe")["requirements"][0] == "mediapipe==0.10.35"
    unknown = zoo("toolchain", "install", "nope")
    assert unknown.returncode != 0 and "Known toolchains" in unknown.stderr


# ---------------------------------------------------------------------------- the real MediaPipe converter (slow)


@pytest.mark.slow
def test_the_gpu_fix_passes_null_for_exactly_the_image_arguments(mediapipe_python):
    """The fix at its seam, in the real toolchain: mediapipe's own combined_weight_bins_to_tflite
    calls a recording stand-in for the native library; 0.10.35 passes b'' for the image encoder and
    adapter, and with the fix those two (and only those) become NULL."""
    script = f"""
import json, sys
sys.path[:0] = [{str(REPO / 'plugins' / 'runners')!r}, {str(REPO / 'registry' / 'runner')!r}]
from mediapipe.tasks.python.genai.converter import llm_converter
import mediapipe_convert

class RecordingLib:
    calls = []
    def MpLlmConverterGenerateGpuTfLite(self, *args):
        self.calls.append([a.decode() if isinstance(a, bytes) else a for a in args])

llm_converter.serial_dispatcher.SerialDispatcher = lambda lib, signatures: lib  # no ctypes: call the recorder

def gpu_call():
    converter = llm_converter._LlmConverter(RecordingLib())
    converter.combined_weight_bins_to_tflite("PHI_2", "gpu", "/w", "/o.bin", False, "/v")
    return RecordingLib.calls.pop()

before = gpu_call()
mediapipe_convert.apply_gpu_fix(llm_converter)
after = gpu_call()
print(json.dumps({{"before": before, "after": after}}))
"""
    out = subprocess.run([str(mediapipe_python), "-c", script], capture_output=True, text=True, check=True)
    calls = json.loads(out.stdout.strip().splitlines()[-1])
    before, after = calls["before"], calls["after"]
    assert before[10] == "" and before[11] == ""  # the bug: empty strings, which the native shim reads as requests
    assert after[10] is None and after[11] is None  # the fix
    assert [a for i, a in enumerate(after) if i not in (10, 11)] == [a for i, a in enumerate(before) if i not in (10, 11)]
    assert after[0] == "PHI_2" and after[5] == "/o.bin"


def external_weights_model(contents: list[bytes], order: list[int], align: int = 64) -> bytes:
    """A TFLite Model whose buffers live after its flatbuffer (as in MediaPipe's .bin), placed in `order`."""
    import flatbuffers

    def flatbuffer(offsets: list[int]) -> bytes:
        b = flatbuffers.Builder(0)
        tables = []
        for offset, data in zip(offsets, contents):
            b.StartObject(3)
            b.PrependUint64Slot(1, offset, 0)  # Buffer.offset
            b.PrependUint64Slot(2, len(data), 0)  # Buffer.size
            tables.append(b.EndObject())
        b.StartVector(4, len(tables), 4)
        for table in reversed(tables):
            b.PrependUOffsetTRelative(table)
        buffers = b.EndVector()
        b.StartObject(8)
        b.PrependUint32Slot(0, 3, 0)
        b.PrependUOffsetTRelativeSlot(4, buffers, 0)  # Model.buffers
        b.Finish(b.EndObject(), file_identifier=b"TFL3")
        return bytes(b.Output())

    head = len(flatbuffer([1 << 40] * len(contents)))  # fixed-size fields: the length does not depend on the values
    positions, cursor = [0] * len(contents), head
    for index in order:
        cursor = -(-cursor // align) * align
        positions[index], cursor = cursor, cursor + len(contents[index])
    data = bytearray(cursor)
    data[:head] = flatbuffer(positions)
    for position, content in zip(positions, contents):
        data[position:position + len(content)] = content
    return bytes(data)


def test_weights_placed_in_any_order_are_rewritten_in_buffer_order(tmp_path, monkeypatch):
    """MediaPipe's cpu writer places the same buffers in a per-run order; the runner's rewrite makes one file of them."""
    monkeypatch.syspath_prepend(str(REPO / "registry" / "runner"))
    monkeypatch.syspath_prepend(str(REPO / "plugins" / "runners"))
    from protocol import _tflite_buffers, canonical_buffer_order

    contents = [os.urandom(n) for n in (100, 7, 64, 300, 1)]
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(external_weights_model(contents, [3, 0, 4, 1, 2]))
    second.write_bytes(external_weights_model(contents, [1, 2, 0, 4, 3]))
    assert first.read_bytes() != second.read_bytes()
    assert canonical_buffer_order(first) and canonical_buffer_order(second)
    assert first.read_bytes() == second.read_bytes()
    data = first.read_bytes()
    placed = _tflite_buffers(data)
    assert [data[offset:offset + size] for _, offset, size in placed] == contents  # every buffer's bytes, by index
    assert [offset for _, offset, _ in placed] == sorted(offset for _, offset, _ in placed)
    assert all(offset % 64 == 0 for _, offset, _ in placed)

    trailing = tmp_path / "trailing.bin"  # bytes after the last buffer: not a layout this knows, left alone
    trailing.write_bytes(external_weights_model(contents, [3, 0, 4, 1, 2]) + b"tail")
    before = trailing.read_bytes()
    assert canonical_buffer_order(trailing) is False and trailing.read_bytes() == before


@pytest.mark.slow
def test_real_falcon_conversion_builds_verifies_and_caches(falcon_checkpoint, zoo):
    """The cpu build; the gpu one, which MediaPipe's Web runtime also runs, is in test_web.py."""
    backend = "cpu"
    result = zoo("build", "falcon-rw-1b", "--backend", backend, "--quant", "int8", "--from", str(falcon_checkpoint), "--json", timeout=900)
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout)
    output = Path(built["path"])
    assert output.name == f"falcon-rw-1b-{backend}-int8.bin"
    assert 1.3e9 < output.stat().st_size < 1.5e9
    record = built["provenance"]
    assert record["steps"][0]["what"] == "FALCON_RW_1B conversion" and record["steps"][0]["peak_rss_bytes"] > 2e9
    assert "mediapipe==0.10.35" in record["toolchains"]["mediapipe"]["lock"]
    assert {c["check"] for c in record["checks"]} == {"tflite-flatbuffer", "mediapipe-metadata"}
    again = json.loads(zoo("build", "falcon-rw-1b", "--backend", backend, "--quant", "int8", "--from", str(falcon_checkpoint), "--json").stdout)
    assert again["cache_hit"] is True
    # reproducible: MediaPipe's cpu writer places the weights in a per-process order; zoo puts them in buffer order
    rebuilt = zoo("build", "falcon-rw-1b", "--backend", backend, "--quant", "int8", "--from", str(falcon_checkpoint),
                  "--reproduce", "--json", timeout=900)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["identical"] is True
    zoo("rm", f"falcon-rw-1b-{backend}-int8", check=True)
    zoo("gc", check=True)  # the multi-GB outputs go now, not at the end of the session


def test_inputs_are_fetched_through_the_verified_pull_machinery(pack_env, zoo):
    from registry.testing.hubs import HuggingFaceHub

    env, _ = pack_env
    weights = os.urandom(2_000_000)
    with HuggingFaceHub() as hub:
        hub.add_repo("acme/pack-ckpt", {"weights.safetensors": weights, "tokenizer.json": b'{"model": {}}'})
        env = env | {"HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1"}
        built = json.loads(zoo("build", "hubpacker", "--json", env=env, check=True).stdout)
        source = built["provenance"]["inputs"]["source"]
        assert source["kind"] == "huggingface" and source["resolved"]["revision"] == hub.repos["acme/pack-ckpt"].commit
        assert source["store_entry"] == "hubpacker.inputs"
        inputs = {f["path"]: f["sha256"] for f in built["provenance"]["inputs"]["files"]}
        import hashlib

        assert inputs["weights.safetensors"] == hashlib.sha256(weights).hexdigest()
        fetched = len(hub.body_requests("lfs/"))
        assert json.loads(zoo("build", "hubpacker", "--json", env=env, check=True).stdout)["cache_hit"] is True
        assert len(hub.body_requests("lfs/")) == fetched  # inputs came from the store the second time
    listed = {e["id"]: e["kind"] for e in json.loads(zoo("ls", "--json", env=env, check=True).stdout)}
    assert listed == {"hubpacker.inputs": "inputs", "hubpacker-cpu-int8": "built"}


@pytest.mark.slow
def test_a_real_peft_lora_adapter_converts_for_phi_2_on_gpu(mediapipe_python, tmp_path_factory, zoo):
    """A full-size PHI_2 checkpoint saved as one model.safetensors, as fine-tuning scripts save it, and a
    standard PEFT adapter (keys that crash the converter as they are): `zoo build phi-2 --backend gpu`, as
    typed, takes the default gpu variant, maps the keys, converts base and LoRA, and verifies both."""
    directory = tmp_path_factory.mktemp("phi-2")
    checkpoint, adapter = directory / "ckpt", directory / "adapter_model.safetensors"
    try:
        subprocess.run([str(mediapipe_python), str(REPO / "registry" / "testing" / "make_checkpoint.py"), "PHI_2", str(checkpoint),
                        "--shards", "1"], check=True, capture_output=True)
        assert sorted(p.name for p in checkpoint.glob("*.safetensors")) == ["model.safetensors"]
        subprocess.run([str(mediapipe_python), "-c", f"""
import torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(1)
tensors = {{}}
for layer in range(32):
    for proj in ("q_proj", "k_proj", "v_proj", "dense"):
        name = f"base_model.model.model.layers.{{layer}}.self_attn.{{proj}}"
        tensors[name + ".lora_A.weight"] = (torch.randn(4, 2560, generator=g) * 0.01).half()
        tensors[name + ".lora_B.weight"] = (torch.randn(2560, 4, generator=g) * 0.01).half()
save_file(tensors, {str(adapter)!r})
"""], check=True)
        # --no-run-check: MediaPipe Web 0.10.29 cannot run phi-2 gpu int4 on SwiftShader (a WGSL shader it generates does
        # not compile; see docs/troubleshooting.md), with or without LoRA. The structural checks still run.
        result = zoo("build", "phi-2", "--backend", "gpu", "--from", str(checkpoint), "--lora", str(adapter),
                     "--lora-rank", "4", "--no-run-check", "--json", timeout=900)
        assert result.returncode == 0, result.stderr
        built = json.loads(result.stdout)
        files = {f["path"]: f["size"] for f in built["files"]}
        assert set(files) == {"phi-2-gpu-int4.bin", "phi-2-gpu-int4-lora.bin", "provenance.json"}
        assert re.fullmatch(rf"phi-2-gpu-int4\.{checkpoint.name}-[0-9a-f]{{8}}\.lora-[0-9a-f]{{12}}", built["entry"])
        assert built["provenance"]["lora"]["rank"] == 4
        assert built["chosen_by_default"] is True
        from registry.tflite import read

        lora = read(Path(built["path"]).parent / "phi-2-gpu-int4-lora.bin")
        assert lora.metadata_buffer_index["lora_rank"] == 4
        assert any(name.endswith("self_attention.q.w_prime_left") for name in lora.tensor_names)
        zoo("rm", built["entry"], check=True)
        zoo("gc", check=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------------------- --from takes a checkpoint as its trainer saved it


def _phi_tensors(layers_missing: set[int] = frozenset()) -> dict:
    from plugins.converter_mediapipe import required_tensors

    tensors = {}
    for name in required_tensors("PHI_2"):
        parts = name.split(".")
        if len(parts) > 2 and parts[1] == "layers" and int(parts[2]) in layers_missing:
            continue
        tensors[name] = ("F16", [1], b"\0\0")
    return tensors


@pytest.mark.parametrize("layout", ["one file", "three shards and an index"])
def test_from_accepts_any_shard_layout_and_names_missing_tensors(tmp_path, layout):
    from registry.catalog import Catalog

    catalog = Catalog.load()
    variant = catalog.variant("phi-2-gpu-int4")
    converter = catalog.component("converter", "mediapipe")
    checkpoint = tmp_path / "my-finetune"
    checkpoint.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (checkpoint / name).write_text("{}")
    tensors = _phi_tensors()
    if layout == "one file":
        safetensors_file.write(checkpoint / "model.safetensors", tensors)
    else:
        items = list(tensors.items())
        for i in range(3):
            safetensors_file.write(checkpoint / f"shard-{i}.safetensors", dict(items[i::3]))
        (checkpoint / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    from registry.build import local_inputs

    inputs = {f["path"] for f in local_inputs(variant, checkpoint, users=True)}
    assert "tokenizer.json" in inputs and any(p.endswith(".safetensors") for p in inputs)
    from registry.api import BuildOptions

    options = BuildOptions(dict(variant.recipe.params), from_dir=checkpoint)
    converter.validate(variant, options)  # every tensor there: accepted
    for shard in checkpoint.glob("*.safetensors"):
        shard.unlink()
    safetensors_file.write(checkpoint / "model.safetensors", _phi_tensors(layers_missing={5}))
    with pytest.raises(BuildError) as refused:
        converter.validate(variant, options)
    assert "lack 6 tensors" in refused.value.message and "model.layers.5.self_attn.q_proj.weight" in refused.value.message


def test_build_from_a_single_file_checkpoint_missing_tensors_says_which(tmp_path, zoo):
    checkpoint = tmp_path / "my-finetune"
    checkpoint.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (checkpoint / name).write_text("{}")
    safetensors_file.write(checkpoint / "model.safetensors", {"model.embed_tokens.weight": ("F16", [1], b"\0\0")})
    result = zoo("build", "phi-2", "--backend", "gpu", "--from", str(checkpoint), "--force")
    assert result.returncode == ExitCode.BUILD_FAILED, result.stderr
    assert "lacks model-00001-of-00002" not in result.stderr
    assert "model.layers.0.self_attn.q_proj.weight" in result.stderr and "using its default variant phi-2-gpu-int4" in result.stderr


def test_sigterm_ends_zoo_and_the_step_it_runs_with_nothing_left(tmp_path):
    """A child job runs in its own session (so Ctrl-C reaches zoo first); SIGTERM ended zoo at once and left
    the child running, orphaned (issue 27: `zoo web`'s node server kept serving). Now zoo stops it too."""
    import signal

    env, _ = install_pack_plugin(tmp_path)
    home = Path(os.environ["ZOO_HOME"])
    process, child = start_hanging_build(env, home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM and "Stopped by signal 15" in stderr, stderr
    assert ends_soon(child), "the step's process outlived zoo"
    assert not list(home.glob("builds/*"))  # the work folder went with it


def test_a_step_never_outlives_a_zoo_that_was_killed_outright(tmp_path):
    """SIGKILL (or the OOM killer) gives zoo no chance to stop its job: the job ran on, orphaned. The
    kernel now ends it with zoo (PR_SET_PDEATHSIG)."""
    env, _ = install_pack_plugin(tmp_path)
    process, child = start_hanging_build(env, Path(os.environ["ZOO_HOME"]), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
    process.kill()
    process.wait(timeout=30)
    assert ends_soon(child), "the step's process outlived a zoo killed with SIGKILL"


def test_each_from_checkpoint_is_its_own_entry_found_by_its_id_or_the_variant_while_alone(pack_env, tmp_path, zoo):
    """Two fine-tunes built `--from` never replace each other or the variant's own build; the variant's
    name finds a build while it is the only one, and lists them when there are several."""
    env, _ = pack_env

    def checkpoint(name: str, weights: bytes) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "weights.bin").write_bytes(weights)
        (folder / "tokenizer.json").write_text('{"model": {"type": "BPE"}}')
        return folder

    first, second = checkpoint("Tune A", b"\x01" * 50_000), checkpoint("tune-b", b"\x02" * 50_000)
    built = json.loads(zoo("build", "packer", "--from", str(first), "--json", env=env, check=True).stdout)
    listing = "".join(f"{f['path']}\0{f['sha256']}\n" for f in sorted(built["provenance"]["inputs"]["files"], key=lambda f: f["path"]))
    assert built["entry"] == f"packer-cpu-int8.tune-a-{hashlib.sha256(listing.encode()).hexdigest()[:8]}"
    assert built["id"] == "packer-cpu-int8" and Path(built["path"]).parent.name == built["entry"]
    assert zoo("path", "packer-cpu-int8", env=env, check=True).stdout.strip() == built["path"]  # the only build
    shown = zoo("info", built["entry"], env=env, check=True).stdout
    assert built["entry"] in shown and "packer-cpu-int8" in shown

    other = json.loads(zoo("build", "packer", "--from", str(second), "--json", env=env, check=True).stdout)
    own = json.loads(zoo("build", "packer", "--json", env=env, check=True).stdout)  # the manifest's own checkpoint
    assert len({built["entry"], other["entry"], own["entry"]}) == 3 and own["entry"] == "packer-cpu-int8"
    again = json.loads(zoo("build", "packer", "--from", str(first), "--json", env=env, check=True).stdout)
    assert again["cache_hit"] is True and again["entry"] == built["entry"]
    listed = {row["id"] for row in json.loads(zoo("ls", "--json", env=env, check=True).stdout)}
    assert listed == {built["entry"], other["entry"], "packer-cpu-int8"}
    zoo("rm", "packer-cpu-int8", env=env, check=True)
    ambiguous = zoo("path", "packer-cpu-int8", env=env)
    message = " ".join(ambiguous.stderr.split())
    assert ambiguous.returncode != 0 and built["entry"] in message and other["entry"] in message and "Name one" in message
    zoo("rm", built["entry"], env=env, check=True)
    assert zoo("path", "packer-cpu-int8", env=env, check=True).stdout.strip() == other["path"]


def test_a_damaged_build_is_no_cache_hit_and_verify_says_to_build_it_again(pack_env, zoo):
    """A cache hit vouched for the blob by its size alone, and `zoo verify` advised `zoo pull --repair`,
    which refuses built artifacts."""
    env, _ = pack_env
    built = json.loads(zoo("build", "packer", "--json", env=env, check=True).stdout)
    output = Path(built["path"])
    good = output.read_bytes()
    os.chmod(output, 0o644)
    with open(output, "r+b") as fh:  # one byte flipped in place: the same size, the same inode
        fh.seek(len(good) // 2)
        fh.write(bytes([good[len(good) // 2] ^ 0xFF]))
    checked = zoo("verify", "packer-cpu-int8", env=env)
    # piped output is never hard-wrapped: the file, its digest and the pinned one stay on one line
    assert re.search(r"^  packer-cpu-int8\.tflite: sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}$", checked.stdout, re.M), \
        checked.stdout
    message = " ".join(checked.stderr.split())
    assert checked.returncode == ExitCode.INTEGRITY and "zoo pull --repair" not in message
    assert "was built here: run `zoo build packer --json` again" in message, message
    again = zoo("build", "packer", "--json", env=env)
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads(again.stdout)
    assert rebuilt["cache_hit"] is False and "changed in the store since it was verified" in again.stderr
    assert output.read_bytes() == good
    assert zoo("verify", "--full", env=env).returncode == 0


def test_a_bug_in_a_plugins_own_code_names_the_plugin(pack_env, zoo):
    """An exception raised in a plugin's plan() was reported as zoo's internal error, naming no plugin."""
    env, _ = pack_env
    result = zoo("build", "planbug", env=env)
    message = " ".join(result.stderr.split())
    assert result.returncode == ExitCode.PLUGIN_ERROR, message
    assert "The plugin 'zoo_pack_test' (package zoo-pack-test) failed in its own code (KeyError: 'missing key')" in message, message
    assert "internal error" not in message
    assert_nothing_stored()


@pytest.mark.slow
def test_two_builds_of_the_demo_in_separate_homes_are_byte_identical_and_reproduce_says_so(tmp_path):
    """Reproducible builds: the .litertlm header's uuid and creation time, and the .task's zip entry times,
    come from the build (its key, SOURCE_DATE_EPOCH) instead of a random uuid and the clock."""
    import zipfile

    digests = []
    for name in ("a", "b"):
        built = json.loads(run_zoo("build", "zoo-demo", "--json", env={"ZOO_HOME": str(tmp_path / name)}, check=True,
                                   timeout=600).stdout)
        folder = Path(built["path"]).parent
        digests.append({f: hashlib.sha256((folder / f).read_bytes()).hexdigest()
                        for f in ("zoo-demo-cpu-int8.task", "zoo-demo-cpu-int8.litertlm")})
        time.sleep(1.1)  # a second apart: a clock in the bytes would show
    assert digests[0] == digests[1]

    checked = run_zoo("build", "zoo-demo", "--reproduce", "--json", env={"ZOO_HOME": str(tmp_path / "b")}, timeout=600)
    assert checked.returncode == 0, checked.stderr
    answer = json.loads(checked.stdout)
    assert answer["identical"] is True and answer["differ"] == [] and answer["files"] == digests[1]

    later = json.loads(run_zoo("build", "zoo-demo", "--json", "--rebuild", check=True, timeout=600,
                               env={"ZOO_HOME": str(tmp_path / "c"), "SOURCE_DATE_EPOCH": "1700000000"}).stdout)
    stamped = Path(later["path"]).parent / "zoo-demo-cpu-int8.task"
    assert hashlib.sha256(stamped.read_bytes()).hexdigest() != digests[0]["zoo-demo-cpu-int8.task"]
    assert {i.date_time for i in zipfile.ZipFile(stamped).infolist()} == {(2023, 11, 14, 22, 13, 20)}
