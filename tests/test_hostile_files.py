"""Every built-in structural check survives hostile files with bounded memory (issue 14 item 2).

Property tests mutate a valid file of each format (truncation, bit flips, oversized length fields,
duplicated and overlapping sections) and require the check to answer with findings, never an
exception; bomb files must not grow the checking process by more than 64 MB.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.testing.litertlm_builder import LLM_METADATA, SP_TOKENIZER, TFLITE_MODEL, build_litertlm, llm_metadata
from registry.testing.tflite_builder import build_tflite, mediapipe_like_bin

REPO = Path(__file__).resolve().parents[1]


def _task(model: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("TF_LITE_PREFILL_DECODE", model)
        zf.writestr("TOKENIZER_MODEL", b"spm" * 20)
        zf.writestr("METADATA", b"meta")
    return buffer.getvalue()


def _safetensors(tmp: Path) -> bytes:
    from registry import safetensors_file

    path = tmp / "valid.safetensors"
    safetensors_file.write(path, {"a.lora_A.weight": ("F32", [2, 2], b"\0" * 16), "b": ("F16", [4], b"\1" * 8)})
    return path.read_bytes()


# format -> (valid bytes, the checks that read it, the catalog variant whose output they check)
TFLITE = build_tflite(tensor_names=["w", "v"], signature_keys=["prefill_8", "decode"], metadata={"k": b"value" * 10})
SAMPLES = {
    "bin": (mediapipe_like_bin("GEMMA_2B", "gpu", layers=2), ["tflite-flatbuffer", "mediapipe-metadata"], "gemma-2b-it-gpu-int4"),
    "tflite": (TFLITE, ["tflite-flatbuffer", "tflite-signatures"], "gpt2-cpu-int8"),
    "task": (_task(TFLITE), ["task-bundle"], "zoo-demo-cpu-int8"),
    "litertlm": (build_litertlm([(TFLITE_MODEL, TFLITE), (SP_TOKENIZER, b"spm" * 30),
                                 (LLM_METADATA, llm_metadata(chat_template="{{ messages }}", max_num_tokens=64))]),
                 ["litertlm-bundle"], None),
}


def _run_checks(catalog, fmt: str, data: bytes, tmp: Path) -> list[str]:
    _, checks, variant_id = SAMPLES[fmt]
    variant = catalog.variant(variant_id) if variant_id else None
    output = variant.outputs[0] if variant else None
    path = tmp / f"sample.{fmt}"
    path.write_bytes(data)
    found = []
    for name in checks:
        result = catalog.component("verifier", name).check(path, variant, output)  # directly: no safety net
        assert isinstance(result, list) and all(isinstance(p, str) for p in result)
        found += result
    return found


def test_the_valid_samples_pass(catalog, tmp_path):
    for fmt in ("tflite", "task", "litertlm"):
        assert _run_checks(catalog, fmt, SAMPLES[fmt][0], tmp_path) == [], fmt
    # The .bin sample has 2 layers where GEMMA_2B has 18: only that is found.
    assert all("tensors" in p or "LlmParameters" in p for p in _run_checks(catalog, "bin", SAMPLES["bin"][0], tmp_path))


MUTATION = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), min_size=1, max_size=8)),
    st.tuples(st.just("huge"), st.floats(0, 1), st.sampled_from([b"\xff" * 4, b"\xff" * 8, b"\x00\x00\x00\x80", struct.pack("<Q", 1 << 62)])),
)


def _mutate(data: bytes, mutation) -> bytes:
    kind = mutation[0]
    if kind == "truncate":
        return data[: int(mutation[1] * len(data))]
    out = bytearray(data)
    if kind == "flip":
        for where, bit in mutation[1]:
            out[min(len(out) - 1, int(where * len(out)))] ^= 1 << bit
        return bytes(out)
    where, value = int(mutation[1] * len(out)), mutation[2]
    where = min(where, len(out) - len(value))
    out[where : where + len(value)] = value
    return bytes(out)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=MUTATION)
def test_mutated_files_give_findings_never_an_exception(catalog, tmp_path, fmt, mutation):
    _run_checks(catalog, fmt, _mutate(SAMPLES[fmt][0], mutation), tmp_path)


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=st.lists(st.tuples(st.integers(0, 1 << 63), st.integers(0, 1 << 63)), min_size=1, max_size=6),
       kinds=st.lists(st.integers(0, 255), min_size=1, max_size=6))
def test_litertlm_sections_outside_overlapping_or_duplicated_are_findings(catalog, tmp_path, spans, kinds):
    count = min(len(spans), len(kinds))
    sections = [(kinds[i], TFLITE) for i in range(count)]
    data = build_litertlm(sections, spans=spans[:count])
    found = _run_checks(catalog, "litertlm", data, tmp_path)
    inside = all(160 <= b <= e <= len(data) and b % 16384 == 0 for b, e in spans[:count])
    if not inside:
        assert found


def test_duplicated_litertlm_sections_are_refused(catalog, tmp_path):
    good = build_litertlm([(TFLITE_MODEL, TFLITE)])
    from registry import litertlm

    path = tmp_path / "one.litertlm"
    path.write_bytes(good)
    [section] = litertlm.read(path).sections
    twice = build_litertlm([(TFLITE_MODEL, TFLITE), (TFLITE_MODEL, TFLITE)], spans=[(section.begin, section.end)] * 2)
    assert any("overlap" in p for p in _run_checks(catalog, "litertlm", twice, tmp_path))


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=MUTATION)
def test_mutated_safetensors_are_one_clear_error(tmp_path, mutation):
    from registry import safetensors_file
    from registry.errors import ZooError

    path = tmp_path / "adapter.safetensors"
    path.write_bytes(_mutate(_safetensors(tmp_path), mutation))
    try:
        safetensors_file.read_header(path)
    except ZooError:
        pass


# ---------------------------------------------------------------------------- bombs: memory stays bounded


def _metadata_bomb() -> bytes:
    """An 8 MB TFLite whose 200 metadata entries all name one 8 MB buffer (each was copied: +1.6 GB)."""
    big = b"\xab" * (8 << 20)
    return build_tflite(metadata={"big": big}, tensor_names=["w"], index_metadata={f"alias{i}": 1 for i in range(200)})


def _zip_bomb() -> bytes:
    """A small .task whose model member unpacks to 1 GB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("TF_LITE_PREFILL_DECODE", "w", force_zip64=True) as member:
            block = b"\0" * (16 << 20)
            for _ in range(64):
                member.write(block)
        zf.writestr("TOKENIZER_MODEL", b"spm")
        zf.writestr("METADATA", b"m")
    return buffer.getvalue()


def _names_bomb() -> bytes:
    """A 400 KB TFLite whose tensor vector points 100,000 times at one tensor with a 4 KB name (400 MB of names)."""
    import flatbuffers

    b = flatbuffers.Builder(1 << 20)
    name = b.CreateString("n" * 4000)
    b.StartObject(4)
    b.PrependUOffsetTRelativeSlot(3, name, 0)
    tensor = b.EndObject()
    b.StartVector(4, 100_000, 4)
    for _ in range(100_000):
        b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensors, 0)
    subgraph = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(subgraph)
    subgraphs = b.EndVector()
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def _litertlm_bomb() -> bytes:
    data = bytearray(build_litertlm([(TFLITE_MODEL, TFLITE)]))
    data[24:32] = struct.pack("<Q", (1 << 40))  # a header claimed to be a terabyte long
    return bytes(data)


BOMB_CHECK = """
import json, sys
from pathlib import Path
from registry.catalog import Catalog

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

catalog = Catalog.load()
variant = catalog.variant(sys.argv[3]) if sys.argv[3] != "-" else None
verifier = catalog.component("verifier", sys.argv[2])
path = Path(sys.argv[1])
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak (VmHWM) to the current RSS, so the peak below is the check's own
before = status("VmRSS")
problems = verifier.check(path, variant, variant.outputs[0] if variant else None)
print(json.dumps({"grew_kb": status("VmHWM") - before, "problems": problems}))
"""


@pytest.mark.parametrize("name, make, check, variant", [
    ("metadata", _metadata_bomb, "mediapipe-metadata", "gemma-2b-it-gpu-int4"),
    ("zip", _zip_bomb, "task-bundle", "zoo-demo-cpu-int8"),
    ("names", _names_bomb, "tflite-flatbuffer", "gpt2-cpu-int8"),
    ("litertlm", _litertlm_bomb, "litertlm-bundle", "-"),
])
def test_verifying_a_bomb_grows_memory_by_less_than_64_mb(tmp_path, name, make, check, variant):
    path = tmp_path / f"bomb-{name}"
    path.write_bytes(make())
    result = subprocess.run([sys.executable, "-c", BOMB_CHECK, str(path), check, variant], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["grew_kb"] < 64 * 1024, report


def test_a_litertlm_section_off_the_format_s_block_is_a_finding(catalog, tmp_path):
    from registry import litertlm

    good = build_litertlm([(TFLITE_MODEL, TFLITE), (SP_TOKENIZER, b"spm" * 30), (LLM_METADATA, llm_metadata())])
    path = tmp_path / "aligned.litertlm"
    path.write_bytes(good)
    assert litertlm.problems(path) == []
    shifted = build_litertlm([(TFLITE_MODEL, TFLITE), (SP_TOKENIZER, b"spm" * 30), (LLM_METADATA, llm_metadata())], align=64)
    path.write_bytes(shifted)
    assert any("not on a 16384-byte block" in p for p in litertlm.problems(path))


def test_a_litertlm_whose_model_section_is_not_tflite_is_a_finding(tmp_path):
    """The TFL3 test sat behind a second `elif not found:` and never ran: such a file passed."""
    from registry import litertlm

    path = tmp_path / "junk-model.litertlm"
    path.write_bytes(build_litertlm([(TFLITE_MODEL, b"\0" * 4 + b"JUNK" + b"\0" * 64), (SP_TOKENIZER, b"spm" * 30),
                                     (LLM_METADATA, llm_metadata())]))
    assert any("is not a TFLite flatbuffer" in p for p in litertlm.problems(path))


def _weights_litertlm(tmp_path: Path, weights: list[tuple[str, int, bytes]]) -> Path:
    path = tmp_path / "weights.litertlm"
    model = build_tflite(tensor_names=["input"], weights=weights, signature_keys=["decode"])
    path.write_bytes(build_litertlm([(TFLITE_MODEL, model), (SP_TOKENIZER, b"spm" * 30), (LLM_METADATA, llm_metadata())]))
    return path


@pytest.mark.parametrize("label, weights, verdict", [
    ("fp32", [("w", 0, b"\1" * 4000), ("b", 0, b"\2" * 400)], None),
    ("fp32", [("w", 9, b"\1" * 4000), ("b", 0, b"\2" * 400)], "labelled fp32, but its weights are int8 0.0 MB"),
    ("int8", [("w", 9, b"\1" * 4000), ("b", 0, b"\2" * 400)], None),
    ("int8", [("w", 0, b"\1" * 4000), ("b", 9, b"\2" * 400)], "labelled int8"),
    ("int4", [("w", 17, b"\1" * 2000), ("e", 9, b"\2" * 4000)], None),
    ("int4", [("w", 9, b"\1" * 4000)], "no int4 tensors"),
])
def test_litertlm_weights_must_be_stored_as_the_variant_says(catalog, tmp_path, label, weights, verdict):
    """export_hf wrote int8 weights for zoo's fp32 builds; the structural check reads the tensor table."""
    from registry import litertlm

    path = _weights_litertlm(tmp_path, weights)
    assert litertlm.model_weights(path) == {kind: sum(len(d) for _, code, d in weights if litertlm_type(code) == kind)
                                            for kind in {litertlm_type(code) for _, code, _ in weights}}
    variant = catalog.variant(f"hf-cpu-{label}")
    problems = catalog.component("verifier", "litertlm-weights").check(path, variant, variant.outputs[0])
    assert problems == [] if verdict is None else verdict in problems[0], problems


def litertlm_type(code: int) -> str:
    from registry.tflite import TENSOR_TYPES

    return TENSOR_TYPES[code]
