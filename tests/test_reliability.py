"""Proof under faults and hostile input (issue: reliability and security). Figures: benchmarks/reliability.py."""

from __future__ import annotations

import copy
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios import hostile, transfers, trust, world
from helpers import FUZZ_MANIFEST
from registry.errors import ManifestError, ZooError
from registry.manifest import load_manifest, parse_manifest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["huggingface", "kaggle"])
def test_sigkill_at_20_random_points_always_resumes_to_correct_files(tmp_path, source):
    figures = transfers.crash_resume(tmp_path, points=20, source=source)
    assert figures["completed_correctly"] == 20, figures["rows"]
    for row in figures["rows"]:
        assert row["refetched"] <= row["minimum"] + (2 << 20), row  # at most the blocks in flight are fetched again


@pytest.mark.slow
def test_50_bit_flips_are_all_caught_and_repaired_one_file_at_a_time(tmp_path):
    figures = transfers.corruption(tmp_path, flips=50)
    assert figures == {"flips": 50, "caught": 50, "named_the_file": 50, "repair_fetched_only_the_bad_file": 50}


@pytest.mark.slow
def test_eight_pulls_and_two_gc_loops_at_once(tmp_path):
    figures = transfers.concurrency(tmp_path)
    assert figures["pulls_succeeded"] == 8 and figures["verify_ok"], figures
    assert figures["max_downloads_per_file"] == 1, figures["downloads"]


def test_hostile_servers_end_in_clear_errors_with_nothing_stored(tmp_path):
    for name, row in hostile.hostile_servers(tmp_path).items():
        assert row["failed_cleanly"] and row["store_empty"], (name, row)
        assert row["seconds"] < 20, (name, row)  # ZOO_HTTP_TIMEOUT=2, ZOO_HTTP_RETRIES=2 in the scenario


def test_a_full_disk_during_pull_is_a_clear_error_with_no_partial_files(tmp_path):
    try:
        figures = hostile.disk_full_pull(tmp_path)
    except PermissionError as exc:
        pytest.skip(f"cannot mount a small file system here: {exc}")
    assert figures["failed_cleanly"] and figures["says_disk"], figures
    assert figures["partial_files_left"] == 0 and figures["entries"] == 0, figures


def test_a_full_disk_during_build_is_a_clear_error_with_nothing_left(tmp_path, zoo):
    from helpers import install_pack_plugin

    env, _ = install_pack_plugin(tmp_path)
    try:
        with hostile.small_filesystem(tmp_path / "tiny", 16) as tiny:
            home = tiny / "home"
            result = zoo("build", "bulky", env=env | {"ZOO_HOME": str(home)})
            assert result.returncode != 0 and "Traceback" not in result.stderr.split("Last output")[0]
            assert "No space left on device" in result.stderr
            assert not list((home / "builds").glob("*")) if (home / "builds").exists() else True
            assert not list((home / "store" / "entries").glob("*.json"))
    except PermissionError as exc:
        pytest.skip(f"cannot mount a small file system here: {exc}")


# ---------------------------------------------------------------------------- hostile manifests


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, prefix + (index,))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_manifests_are_refused_with_clear_errors_never_tracebacks(data):
    manifest = copy.deepcopy(FUZZ_MANIFEST)
    path = data.draw(st.sampled_from(list(_paths(manifest))[1:]))
    parent = manifest
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = data.draw(json_values)
    if data.draw(st.booleans()):
        manifest[data.draw(st.text(min_size=1, max_size=8))] = data.draw(json_values)
    try:
        parse_manifest(manifest, "fuzz.toml")
    except ManifestError as error:
        assert error.problems and all(p.fix and p.problem for p in error.problems)
        assert "fuzz.toml" in error.message


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzzed_manifest_files_are_refused_cleanly(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "family.toml"
    path.write_bytes(raw)
    try:
        load_manifest(path)
    except ManifestError as error:
        assert error.problems


def test_a_local_source_refuses_symlinks_that_leave_its_directory(tmp_path):
    from registry.catalog import Catalog
    from registry.components import FetchContext

    catalog = Catalog.load()
    source = catalog.component("source", "local")
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("ssh key")
    for name in ("config.json", "model.safetensors"):
        (checkpoint / name).write_text("{}")
    (checkpoint / "tokenizer.model").symlink_to(secret)
    variant = catalog.variant("zoo-demo-cpu-int8")
    with pytest.raises(ZooError, match="points outside"):
        source.prepare(FetchContext(variant, list(variant.files), source_root=checkpoint))


def test_a_task_bundle_with_a_zip_slip_member_is_refused(tmp_path):
    from registry.catalog import Catalog
    from registry.testing.tflite_builder import build_tflite

    catalog = Catalog.load()
    verifier = catalog.component("verifier", "task-bundle")
    variant = catalog.variant("zoo-demo-cpu-int8")
    bundle = tmp_path / "evil.task"
    with zipfile.ZipFile(bundle, "w") as z:
        z.writestr("TF_LITE_PREFILL_DECODE", build_tflite())
        z.writestr("TOKENIZER_MODEL", b"spm")
        z.writestr("METADATA", b"")
        z.writestr("../../outside.txt", b"gotcha")
    problems = verifier.check(bundle, variant, variant.outputs[0])
    assert any("zip-slip" in p for p in problems)


def test_zoo_never_unpickles_a_checkpoint_itself():
    """Only the MediaPipe converter loads pytorch_model.bin, inside its toolchain, with torch's
    weights_only loader (the default since torch 2.6; the toolchain pins 2.13.0)."""
    offenders = []
    for path in list((REPO / "registry").rglob("*.py")) + list((REPO / "plugins").rglob("*.py")) + list((REPO / "zoo_cli").rglob("*.py")):
        text = path.read_text()
        if re.search(r"^\s*(import pickle|from pickle|import dill|import joblib)", text, re.M) or re.search(r"torch\.load\(", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
    from plugins.toolchains import MEDIAPIPE

    assert "torch==2.13.0" in MEDIAPIPE.requirements


@pytest.mark.slow
def test_a_malicious_pytorch_checkpoint_does_not_run_code(tmp_path, zoo):
    """A pytorch_model.bin whose pickle runs a command: the real converter refuses it, and the command never runs."""
    from plugins.toolchains import MEDIAPIPE
    from registry import toolchains

    python = toolchains.ensure(MEDIAPIPE).interpreter
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    import subprocess

    subprocess.run([str(python), "-c", f"""
import os, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
torch.save({{"transformer.word_embeddings.weight": Evil()}}, "{checkpoint / 'pytorch_model.bin'}", _use_new_zipfile_serialization=True)
"""], check=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(REPO / "tests" / "plugins" / "pack_family.toml", checkpoint / name)
    result = zoo("build", "falcon-rw-1b", "--backend", "cpu", "--quant", "int8", "--from", str(checkpoint), timeout=600)
    assert result.returncode != 0
    assert not marker.exists()


def test_tokens_never_appear_in_output_logs_or_records(tmp_path):
    figures = hostile.secrets(tmp_path)
    assert figures["token_occurrences"] == 0 and figures["files_scanned"] > 5, figures


def test_tokens_never_reach_a_builds_output_or_provenance(tmp_path, zoo):
    from helpers import install_pack_plugin

    env, _ = install_pack_plugin(tmp_path)
    env |= {"HF_TOKEN": world.HF_TOKEN, "KAGGLE_API_TOKEN": world.KAGGLE_TOKEN}
    texts = []
    for args in (["build", "packer", "--json"], ["build", "crasher"], ["info", "packer-cpu-int8", "--json"]):
        result = zoo(*args, env=env)
        texts += [result.stdout, result.stderr]
    assert '"provenance"' in texts[0]
    home = Path(os.environ["ZOO_HOME"])
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "provenance.json" for p in files)
    for data in texts + [p.read_bytes().decode("latin-1") for p in files]:
        assert world.HF_TOKEN not in data and world.KAGGLE_TOKEN not in data


def test_a_hub_answering_garbage_gives_clear_errors_and_stores_nothing(tmp_path):
    """300 pulls (Hugging Face and Kaggle) against a server answering every endpoint with randomized garbage."""
    figures = hostile.garbage_hub(tmp_path, cases=300)
    assert figures["internal_errors"] == [], figures["internal_errors"][:3]
    assert figures["cases"] == 300 and figures["succeeded"] == 0 and figures["stored_after_failure"] == 0


def test_plugins_children_and_text_classes_of_issue_14_hold(tmp_path):
    rows = trust.trust_plugins_and_text(tmp_path)
    assert rows["GPT-2 check, continuations with no token"]["passed"] == 0
    assert rows["credentials in a toolchain child's environment"]["reached_the_child"] == 0
    assert rows["escape sequences in server file names"]["raw_in_output"] == 0
    assert rows["plugins: stray zoo dist, shadowed family, SystemExit"]["refused"] == 3
    assert rows["manifest names and types that are not what they show"]["accepted"] == 0


def test_store_and_file_system_classes_of_issue_14_hold(tmp_path):
    rows = trust.trust_classes(tmp_path, races=10)
    assert rows["export link races"]["outside_writes"] == 0
    assert rows["path-like store queries"]["outside_touched"] == 0
    assert rows["path-like store queries"]["refused_clearly"] == rows["path-like store queries"]["attempts"]
    assert rows["--from links leaving the folder"]["refused"] == rows["--from links leaving the folder"]["attempts"]
    assert rows["user edits a pulled local file"] == {"stored_copy_changed": 0, "user_file_mode_changed": 0}
    assert rows["swapped blobs and links"] == {"attempts": 4, "detected": 4, "repaired": 4}, rows["swapped blobs and links, unmended"]
    assert rows["ready-made .task under a hub's own name"]["stored_as_verified"] == 0


def test_trust_round3_classes_counted_in_a_small_run(tmp_path):
    """benchmarks/reliability.py counts these over more runs; a few of each here."""
    from scenarios import trust_round3 as round3

    flips = round3.kaggle_bit_flips(tmp_path / "flips", flips=3)
    assert flips == {"flips": 3, "caught": 3, "pinned": 0, "stored": 0}
    replaced = round3.replaced_midway(tmp_path / "replaced", runs=2)
    assert replaced["mixed"] == 0 and replaced["one_version_whole"] == 2
    assert round3.orphans(tmp_path / "orphans", runs=1) == {"runs": 1, "left_after_sigterm": 0, "left_after_sigkill": 0}
    assert round3.damaged_cache_hits(tmp_path / "cache", runs=2)["cache_hits_on_damage"] == 0
    assert round3.planted_hard_links(tmp_path / "links", runs=2)["written_through"] == 0
    assert round3.skipped_path_signatures(tmp_path / "signatures", folders=(".github",))["accepted_uncovered"] == 0
