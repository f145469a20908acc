"""The manifest format: every shipped manifest validates, bad ones are refused with key and fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from helpers import VALID_MANIFEST
from registry.errors import ManifestError
from registry.manifest import json_schema, load_manifest, parse_manifest

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((REPO / "manifests").glob("*.toml"))



def test_every_shipped_manifest_validates():
    assert len(MANIFESTS) >= 8
    ids = []
    for path in MANIFESTS:
        manifest = load_manifest(path)
        ids += [v.id for v in manifest.variants()]
    assert len(ids) == len(set(ids))
    for expected in [
        "gemma-2b-it-cpu-int4", "gemma-2b-it-cpu-int8", "gemma-2b-it-gpu-int4", "gemma-2b-it-gpu-int8",
        "gemma2-2b-it-cpu-int8", "gemma2-2b-it-gpu-int8", "gemma-1.1-7b-it-gpu-int8",
        "phi-2-cpu-int8", "phi-2-gpu-int4", "falcon-rw-1b-cpu-int8", "stablelm-3b-4e1t-gpu-int8",
        "gemma-2b-it-hf-gpu-int8", "gemma2-2b-it-hf-cpu-int4", "gpt2-cpu-fp32", "gpt2-cpu-int8", "gpt2-cpu-fp16",
        "pytorch-cpu-int8", "zoo-demo-cpu-int8",
    ]:
        assert expected in ids


def validated(data: dict, path: str = "manifests/tiny.toml"):
    """Validated as registration validates: the schema, then each source table with its kind's options."""
    from registry.catalog import Catalog
    from registry.manifest import source_problems

    manifest = parse_manifest(data, path)
    problems = source_problems(manifest, {name: s.options for name, s in Catalog.load().registered("source").items()})
    if problems:
        raise ManifestError(path, problems)
    return manifest


def test_valid_fixture_is_valid():
    from registry.catalog import Catalog

    manifest = validated(copy.deepcopy(VALID_MANIFEST), "tiny.toml")
    gpu, cpu = manifest.variants()
    assert gpu.platforms == ["android", "ios", "web"] and cpu.platforms == ["android"]
    assert gpu.outputs[0].path == "tiny-lm-gpu-int8.bin"
    assert gpu.outputs[0].checks == []  # nothing listed; the loaded verifiers add the format's checks:
    assert Catalog.load().checks_for(gpu, gpu.outputs[0]) == ["tflite-flatbuffer", "mediapipe-metadata"]


def test_committed_schema_matches_the_models():
    committed = json.loads((REPO / "manifests" / "schema.json").read_text())
    assert committed == json_schema(), "manifests/schema.json drifted: run `zoo manifest schema > manifests/schema.json`"


def _variant(data):
    return data["models"][0]["variants"][0]


def _model(data):
    return data["models"][0]


# (case name, mutation, expected key path, expected words in the problem)
INVALID = [
    ("unknown top-level key", lambda d: d.update(familly="x"), "familly", "did you mean 'family'?"),
    ("unknown variant key", lambda d: _variant(d).update(backnd="gpu"), "models[0].variants[0].backnd", "did you mean 'backend'?"),
    ("absolute file name", lambda d: _model(d)["files"].append({"path": "/etc/passwd", "role": "other"}), "models[0].files[2].path", "is absolute"),
    ("dot-dot in file name", lambda d: _model(d)["files"].append({"path": "a/../../b", "role": "other"}), "models[0].files[2].path", "'..'"),
    ("backslash in file name", lambda d: _model(d)["files"].append({"path": "a\\b.bin", "role": "other"}), "models[0].files[2].path", "backslash"),
    ("NUL in file name", lambda d: _model(d)["files"].append({"path": "a\x00b", "role": "other"}), "models[0].files[2].path", "NUL"),
    ("windows drive", lambda d: _model(d)["files"].append({"path": "C:evil", "role": "other"}), "models[0].files[2].path", "absolute"),
    ("short digest", lambda d: _model(d)["files"][0].update(sha256="a" * 63), "models[0].files[0].sha256", "64 lowercase hexadecimal"),
    ("uppercase digest", lambda d: _model(d)["files"][0].update(sha256="A" * 64), "models[0].files[0].sha256", "64 lowercase hexadecimal"),
    ("web on a cpu variant", lambda d: d["models"][0]["variants"][1].update(platforms=["web"]), "models[0].variants[1].platforms", "gpu backend"),
    ("unknown backend", lambda d: _variant(d).update(backend="tpu"), "models[0].variants[0].backend", "'cpu' or 'gpu'"),
    ("unknown quantization", lambda d: _variant(d).update(quantization="int3"), "models[0].variants[0].quantization", "int4"),
    ("future schema version", lambda d: d.update(schema_version=2), "schema_version", "not supported"),
    ("gated without accept_url", lambda d: _model(d)["license"].update(gated=True), "models[0].license", "accept_url"),
    ("bad kaggle handle", lambda d: _model(d).update(source={"kind": "kaggle", "handle": "google/gemma"}), "models[0].source", "owner/model/framework/variation"),
    ("credentials in a URL", lambda d: _model(d).update(source={"kind": "https", "url": "https://user:pw@example.com/x"}), "models[0].source.url", "without credentials"),
    ("duplicate variant id", lambda d: d["models"][0]["variants"][1].update(id="tiny-lm-gpu-int8"), "models[0].variants[1].id", "already used"),
    ("prebuilt without weights", lambda d: (_model(d).pop("recipe"), _model(d).update(files=[{"path": "t.json", "role": "tokenizer"}])), "models[0].variants[0].files", "weights"),
    ("zero size", lambda d: _model(d)["files"][0].update(size=0), "models[0].files[0].size", "greater than 0"),
    ("uppercase id", lambda d: _variant(d).update(id="Tiny-LM"), "models[0].variants[0].id", "not a valid id"),
    ("missing description", lambda d: _model(d).pop("description"), "models[0].description", "Field required"),
    ("path traversal in local source", lambda d: _model(d).update(source={"kind": "local", "path": "../../home"}), "models[0].source.path", "'..'"),
    ("unknown key in source", lambda d: _model(d).update(source={"kind": "huggingface", "repo": "a/b", "revison": "x"}), "models[0].source.revison", "did you mean 'revision'?"),
]


@pytest.mark.parametrize("name,mutate,key_path,words", INVALID, ids=[case[0] for case in INVALID])
def test_invalid_manifests_are_refused_naming_the_key_and_the_fix(name, mutate, key_path, words):
    data = copy.deepcopy(VALID_MANIFEST)
    mutate(data)
    with pytest.raises(ManifestError) as info:
        validated(data)
    error = info.value
    assert str(error.path) == "manifests/tiny.toml"
    paths = [p.key_path for p in error.problems]
    assert key_path in paths, f"{key_path!r} not in {paths}"
    problem = next(p for p in error.problems if p.key_path == key_path)
    assert words in problem.problem
    assert problem.fix
    assert "manifests/tiny.toml" in error.message and "Fix:" in error.message
    assert "zoo manifest validate" in error.fix


def test_bad_toml_and_unreadable_files_are_manifest_errors(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("schema_version = 1\nfamily = \n")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(broken)
    with pytest.raises(ManifestError, match="cannot be read"):
        load_manifest(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(binary)
