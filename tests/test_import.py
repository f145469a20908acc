"""`zoo import FILE`: a model file the user has, checked by its format, copied (never linked) into the
store, and then usable by every command that takes a stored artifact."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from registry.errors import ExitCode
from registry.testing.litertlm_builder import build_valid_litertlm
from registry.testing.tflite_builder import build_tflite, mediapipe_like_bin


def store() -> Path:
    return Path(os.environ["ZOO_HOME"]) / "store"


@pytest.mark.parametrize("name,data", [
    ("My-Model.litertlm", build_valid_litertlm()),
    ("autocomplete.tflite", build_tflite(tensor_names=["w"]) + b"\1" * 100),
    ("gemma-gpu.bin", mediapipe_like_bin("GEMMA_2B", "gpu", padding=100)),
])
def test_an_imported_file_is_checked_copied_and_usable_by_its_id(tmp_path, zoo, name, data):
    given = tmp_path / name
    given.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    imported = json.loads(zoo("import", str(given), "--json", check=True).stdout)
    stem = name.rsplit(".", 1)[0].lower()
    assert imported["id"] == f"{stem}-{digest[:8]}" and imported["source"]["sha256"] == digest
    kept = Path(imported["path"])
    assert kept.read_bytes() == data and not os.path.samefile(kept, given)  # the store's own copy
    given.write_bytes(b"changed afterwards")  # the user's file is theirs to change
    verified = zoo("verify", imported["id"], "--full")
    assert verified.returncode == 0 and "hashed" in verified.stdout, verified.stderr
    assert zoo("path", imported["id"], check=True).stdout.strip() == imported["path"]
    shown = zoo("info", imported["id"], check=True).stdout
    assert "imported with `zoo import`" in shown and str(given) in " ".join(shown.split())
    described = json.loads(zoo("info", imported["id"], "--json", check=True).stdout)
    if name.endswith(".litertlm"):  # what the file says of itself, in --json as in the text view
        assert {"TFLiteModel", "SP_Tokenizer", "LlmMetadataProto"} <= set(described["litertlm"]["sections"]), described
    listed = {row["id"]: row for row in json.loads(zoo("ls", "--json", check=True).stdout)}
    assert listed[imported["id"]]["kind"] == "imported"
    if name.endswith(".bin"):
        assert imported["source"]["backend"] == "gpu"  # what the file's own metadata says


def test_import_under_a_name_and_the_same_file_twice(tmp_path, zoo):
    given = tmp_path / "m.litertlm"
    given.write_bytes(build_valid_litertlm())
    first = json.loads(zoo("import", str(given), "--as", "team-model", "--json", check=True).stdout)
    again = json.loads(zoo("import", str(given), "--as", "team-model", "--json", check=True).stdout)
    assert first["id"] == again["id"] == "team-model"
    other = tmp_path / "other.litertlm"
    other.write_bytes(build_valid_litertlm(tokenizer=b"\x0a\x05xyz"))
    taken = zoo("import", str(other), "--as", "team-model")
    assert taken.returncode != 0 and "already holds another artifact called team-model" in " ".join(taken.stderr.split())


@pytest.mark.parametrize("name,data,words", [
    ("junk.litertlm", os.urandom(4096), "is not a .litertlm file zoo can use"),
    ("junk.tflite", b"TFL3" + os.urandom(200), "is not a .tflite file zoo can use"),
    ("model.safetensors", b"{}", "the formats zoo imports"),
])
def test_junk_is_refused_with_nothing_stored(tmp_path, zoo, name, data, words):
    given = tmp_path / name
    given.write_bytes(data)
    result = zoo("import", str(given))
    message = " ".join(result.stderr.split())
    assert result.returncode in (ExitCode.INTEGRITY, ExitCode.ERROR) and words in message, message
    assert "internal error" not in message
    assert not list((store() / "entries").glob("*.json")) if (store() / "entries").exists() else True
    assert not list((store() / "blobs" / "sha256").glob("*")) if (store() / "blobs").exists() else True


def test_a_path_given_where_an_id_goes_suggests_zoo_import(tmp_path, zoo):
    """`zoo run ./x.litertlm` suggested `zoo pull ./x.litertlm`, which fails."""
    given = tmp_path / "x.litertlm"
    given.write_bytes(build_valid_litertlm())
    for command in (["run", str(given), "--prompt", "hi"], ["info", str(given)], ["path", str(given)]):
        result = zoo(*command)
        message = " ".join(result.stderr.split())
        assert result.returncode != 0 and f"zoo import {given}" in message and "zoo pull" not in message, (command, message)
    verified = zoo("verify", str(given))
    assert verified.returncode != 0 and f"zoo import {given}" in " ".join(verified.stderr.split())


def test_a_fifo_is_never_waited_on_and_a_link_is_taken_for_what_it_names(tmp_path, zoo):
    """A link is the user's own choice (a Hugging Face cache's snapshot files are links): the file it
    names is checked as any other, so a link to something that is no model is refused."""
    fifo = tmp_path / "pipe.litertlm"
    os.mkfifo(fifo)
    refused = zoo("import", str(fifo), timeout=30)
    assert refused.returncode != 0 and "not a regular file" in refused.stderr, refused.stderr
    not_a_model = tmp_path / "passwd.litertlm"
    not_a_model.symlink_to("/etc/passwd")
    refused = zoo("import", str(not_a_model), timeout=30)
    assert refused.returncode == ExitCode.INTEGRITY and "internal error" not in refused.stderr, refused.stderr
    blob = tmp_path / "blobs" / "abc123"
    blob.parent.mkdir()
    blob.write_bytes(build_valid_litertlm())
    snapshot = tmp_path / "snapshot.litertlm"
    snapshot.symlink_to(blob)
    taken = json.loads(zoo("import", str(snapshot), "--json", check=True).stdout)
    assert Path(taken["path"]).read_bytes() == blob.read_bytes() and taken["id"].startswith("snapshot-")


def test_bench_says_what_it_cannot_measure_before_running_anything(tmp_path, zoo):
    """zoo bench measures .litertlm and .task with LiteRT-LM; anything else, or a request that does not fit
    the artifact's context, is one clear error before any toolchain starts."""
    tflite = tmp_path / "a.tflite"
    tflite.write_bytes(build_tflite(tensor_names=["w"]) + b"\1" * 100)
    litertlm = tmp_path / "b.litertlm"
    litertlm.write_bytes(build_valid_litertlm())
    ids = [json.loads(zoo("import", str(p), "--json", check=True).stdout)["id"] for p in (tflite, litertlm)]
    empty = {"ZOO_TOOLCHAINS": str(tmp_path / "no-toolchains")}  # nothing may be created for these
    cases = [(["bench", ids[0]], "No loaded runtime benchmarks .tflite files"),
             (["bench", ids[1], "--prefill", "600", "--decode", "10"], "do not fit"),
             (["bench", ids[1], "--runs", "0"], "--runs 0 is outside"),
             (["bench", "nothing-here"], "is not in the store"),
             (["bench", "gemma-2b-it-gpu-int4", "--all"], "No variant of gemma-2b-it is in the store")]
    for command, words in cases:
        result = zoo(*command, env=empty)
        message = " ".join(result.stderr.split())
        assert result.returncode != 0 and words in message and "internal error" not in message, (command, message)
    assert not (tmp_path / "no-toolchains").exists()
