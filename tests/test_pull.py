"""`zoo pull` end to end: the real zoo CLI, huggingface_hub and kagglehub against local hubs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import HF_TOKEN, make_env, tflite_file
from registry.errors import ExitCode
from registry.testing.hubs import Fault, KaggleHub
from registry.testing.tflite_builder import mediapipe_like_bin

REPO = Path(__file__).resolve().parents[1]
KAGGLE_TOKEN = "KGAT_TESTSECRET0123456789abcdef"



@pytest.fixture
def files():
    return {
        "model.tflite": tflite_file(3_000_000, 1),
        "model-int8.tflite": tflite_file(1_500_000, 2),
        "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}',
        "config.json": b'{"hidden_size": 64}',
    }


@pytest.fixture
def hubs(files, hf_hub, kaggle_hub):
    hf_hub.add_repo("acme/tiny-lm", files)
    hf_hub.add_repo("acme/gated-lm", {"model.tflite": files["model.tflite"]}, gated=True, tokens={HF_TOKEN})
    return hf_hub, kaggle_hub


@pytest.fixture
def env(tmp_path, hubs):
    return make_env(tmp_path, hubs)


def store_root() -> Path:
    return Path(os.environ["ZOO_HOME"]) / "store"


def blobs() -> set[str]:
    return {p.name for p in (store_root() / "blobs" / "sha256").iterdir()} if (store_root() / "blobs" / "sha256").exists() else set()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- the happy path


def test_pull_fills_an_oci_style_content_addressed_store(env, files, hubs, zoo):
    result = zoo("pull", "tiny-hf-cpu-fp32", "--json", env=env)
    assert result.returncode == 0, result.stderr
    [pulled] = json.loads(result.stdout)
    root = store_root()
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    for name in ("model.tflite", "tokenizer.json", "config.json"):
        blob = root / "blobs" / "sha256" / sha(files[name])
        link = root / "artifacts" / "tiny-hf-cpu-fp32" / name
        assert blob.read_bytes() == files[name]
        assert os.path.samefile(blob, link)  # a hard link, never a second copy
    assert pulled["path"] == str(root / "artifacts" / "tiny-hf-cpu-fp32" / "model.tflite")
    assert pulled["downloaded_bytes"] == sum(len(files[n]) for n in ("model.tflite", "tokenizer.json", "config.json"))
    assert sorted(pulled["pinned_on_first_use"]) == ["config.json", "model.tflite", "tokenizer.json"]
    # the hub's sha256 and git blob ids checked each file, so nothing was trusted blindly
    assert "matched what the source said of them" in result.stderr and "trusted" not in result.stderr
    lock = json.loads((Path(os.environ["ZOO_HOME"]) / "zoo.lock").read_text())
    assert lock["variants"]["tiny-hf-cpu-fp32"]["files"]["model.tflite"]["sha256"] == sha(files["model.tflite"])
    commit = hubs[0].repos["acme/tiny-lm"].commit
    assert lock["variants"]["tiny-hf-cpu-fp32"]["resolved"]["revision"] == commit
    # One file resolves "main" to a commit; every other file is asked for at that commit.
    heads = [r.path for r in hubs[0].requests if r.method == "HEAD"]
    assert heads[0].endswith("/resolve/main/model.tflite") and sorted(heads[1:]) == [
        f"/acme/tiny-lm/resolve/{commit}/config.json", f"/acme/tiny-lm/resolve/{commit}/tokenizer.json"]
    # The LFS file came from the CDN origin; the small files from the API origin.
    assert [r.origin for r in hubs[0].body_requests("lfs/")] == ["cdn"]
    assert zoo("path", "tiny-hf-cpu-fp32", env=env, check=True).stdout.strip() == pulled["path"]
    [listed] = json.loads(zoo("ls", "--json", env=env, check=True).stdout)
    assert listed["id"] == "tiny-hf-cpu-fp32" and listed["state"] == "verified" and listed["files"] == 3
    again = zoo("pull", "tiny-hf-cpu-fp32", "--json", env=env, check=True)
    assert json.loads(again.stdout)[0]["already_present"] is True


def test_a_file_the_publisher_changed_under_the_same_name_is_refused_before_download_then_taken_with_update(env, files, hubs, zoo):
    """As when the gemma-4 .litertlm was re-published with new bytes: the pin in zoo.lock no longer
    matches what the hub vouches for, so zoo refuses before a byte moves and says so; `--update`
    takes the new content and pins it; the old blob stays until gc."""
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    old_sha = sha(files["model.tflite"])
    changed = dict(files, **{"model.tflite": tflite_file(3_100_000, 9)})
    hubs[0].add_repo("acme/tiny-lm", changed)  # the same name, new content, a new commit
    zoo("rm", "tiny-hf-cpu-fp32", env=env, check=True)
    before = len(hubs[0].body_requests("lfs/"))
    refused = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    message = " ".join(refused.stderr.split())
    assert refused.returncode == ExitCode.INTEGRITY, message
    assert "The publisher changed model.tflite of tiny-hf-cpu-fp32 since it was pinned in zoo.lock" in message
    assert old_sha in message and sha(changed["model.tflite"]) in message and "3100000 bytes" in message
    assert "zoo pull --update tiny-hf-cpu-fp32" in message
    assert len(hubs[0].body_requests("lfs/")) == before  # refused before any byte of it moved
    [updated] = json.loads(zoo("pull", "tiny-hf-cpu-fp32", "--update", "--json", env=env, check=True).stdout)
    assert Path(updated["path"]).read_bytes() == changed["model.tflite"]
    lock = json.loads((Path(os.environ["ZOO_HOME"]) / "zoo.lock").read_text())
    assert lock["variants"]["tiny-hf-cpu-fp32"]["files"]["model.tflite"]["sha256"] == sha(changed["model.tflite"])
    assert old_sha in blobs()  # kept until gc
    zoo("gc", env=env, check=True)
    assert old_sha not in blobs()


def test_a_second_variant_reuses_shared_blobs(env, files, hubs, zoo):
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    [second] = json.loads(zoo("pull", "tiny-hf-cpu-int8", "--json", env=env, check=True).stdout)
    # Small files carry only the hub's git id; zoo remembers which blob had it, so nothing is fetched twice.
    assert second["downloaded_bytes"] == len(files["model-int8.tflite"])
    assert second["reused_bytes"] == len(files["tokenizer.json"]) + len(files["config.json"])
    on_disk = sum((store_root() / "blobs" / "sha256" / b).stat().st_size for b in blobs())
    assert on_disk == sum(len(v) for v in files.values())  # bytes on disk == unique bytes


# ---------------------------------------------------------------------------- integrity


def test_a_sha256_mismatch_stores_nothing_and_says_what_to_do(tmp_path, hubs, zoo):
    wrong = "0" * 64
    env = make_env(tmp_path, hubs, weights_pin=f', sha256 = "{wrong}"')
    result = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    assert result.returncode == ExitCode.INTEGRITY
    message = " ".join(result.stderr.split())
    # The hub vouches for another sha256 (its LFS ETag): refused before a byte moves, saying so.
    assert "model.tflite of tiny-hf-cpu-fp32 is not the file the manifest pins (sha256 " + wrong in message
    assert "Nothing was downloaded" in message and "report the change to its maintainers" in message
    assert not hubs[0].body_requests("lfs/")
    assert "Traceback" not in result.stderr
    assert not (store_root() / "entries" / "tiny-hf-cpu-fp32.json").exists()
    assert blobs() == set() and not list((store_root() / "partials").glob("*.part"))


def test_a_hub_file_whose_size_changed_since_it_was_pinned_says_so(tmp_path, files, hubs, zoo):
    env = make_env(tmp_path, hubs, weights_pin=f", size = {len(files['model.tflite']) - 10}")
    result = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    assert result.returncode == ExitCode.INTEGRITY, result.stderr
    assert "size (pinned in the manifest)" in result.stderr and "changed since" in result.stderr
    assert "misbehaved" not in result.stderr
    assert blobs() == set() and not list((store_root() / "partials").glob("*.part"))


def test_bytes_that_differ_from_the_hubs_own_etag_are_refused(env, files, hubs, zoo):
    hubs[0].add_fault(sha(files["model.tflite"]), Fault(corrupt=True))
    result = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    assert result.returncode == ExitCode.INTEGRITY
    assert "the hub's ETag" in result.stderr and sha(files["model.tflite"]) in result.stderr
    assert blobs() == set()


def test_a_file_that_is_not_what_the_format_says_is_refused(tmp_path, files, hubs, zoo):
    hubs[0].add_repo("acme/tiny-lm", {**files, "model.tflite": b"not a flatbuffer at all" * 1000})
    result = zoo("pull", "tiny-hf-cpu-fp32", env=make_env(tmp_path, hubs))
    assert result.returncode == ExitCode.INTEGRITY
    assert "fails its format checks" in result.stderr and "TFL3" in result.stderr
    assert not (store_root() / "entries" / "tiny-hf-cpu-fp32.json").exists()


def test_locked_refuses_unpinned_files_until_they_are_pinned(env, zoo):
    refused = zoo("pull", "tiny-hf-cpu-fp32", "--locked", env=env)
    assert refused.returncode == ExitCode.INTEGRITY and "without --locked" in refused.stderr
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    zoo("rm", "tiny-hf-cpu-fp32", env=env, check=True)
    zoo("pull", "tiny-hf-cpu-fp32", "--locked", env=env, check=True)


# ---------------------------------------------------------------------------- resume


def test_a_cut_connection_is_resumed_with_a_range_request(env, files, hubs, zoo):
    digest = sha(files["model.tflite"])
    hubs[0].add_fault(digest, Fault(cut_after=1_000_000))
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    ranges = [r.range for r in hubs[0].body_requests(f"lfs/{digest}")]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) >= 1_000_000


def kill_once_the_partial_holds(child: subprocess.Popen, size: int) -> None:
    """SIGKILL a running pull as soon as one of its partial downloads holds `size` bytes."""
    partials = store_root() / "partials"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in partials.glob("*.part")] if partials.exists() else []
        if sizes and max(sizes) >= size:
            break
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail(f"the first pull never got {size} bytes into the file")
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_sigkill_mid_file_then_a_second_run_resumes(env, files, hubs):
    digest = sha(files["model.tflite"])
    hubs[0].add_fault(digest, Fault(pause_after=2 << 20, pause_seconds=60))  # zoo writes bytes as they arrive
    child = subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", "tiny-hf-cpu-fp32", "-q"], env=os.environ | env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_once_the_partial_holds(child, 2 << 20)
    assert not (store_root() / "entries" / "tiny-hf-cpu-fp32.json").exists()
    before = len(hubs[0].requests)
    second = subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "tiny-hf-cpu-fp32", "--json"], env=os.environ | env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    resumed = [r for r in hubs[0].requests[before:] if r.method == "GET" and digest in r.path]
    assert len(resumed) == 1 and resumed[0].range == f"bytes={2 << 20}-"
    [report] = json.loads(second.stdout)
    assert report["downloaded_bytes"] < len(files["model.tflite"])
    assert (store_root() / "artifacts" / "tiny-hf-cpu-fp32" / "model.tflite").read_bytes() == files["model.tflite"]


# ---------------------------------------------------------------------------- concurrency


def test_four_concurrent_pulls_download_once_and_all_succeed(env, files, hubs):
    children = [
        subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", "tiny-hf-cpu-fp32", "-q"], env=os.environ | env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    codes = [child.wait(timeout=120) for child in children]
    assert codes == [0, 0, 0, 0], [c.stderr.read() for c in children]
    assert len(hubs[0].body_requests(f"lfs/{sha(files['model.tflite'])}")) == 1
    assert len([r for r in hubs[0].body_requests("tokenizer.json")]) == 1


def _start_pull_paused_in_model_tflite(env, files, hubs) -> subprocess.Popen:
    """A pull of tiny-hf-cpu-fp32 that has verified tokenizer.json and config.json into the store and
    then waits on the hub in the middle of model.tflite, its entry not yet written."""
    hubs[0].add_fault(sha(files["model.tflite"]), Fault(pause_after=1 << 20, pause_seconds=8))
    child = subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", "tiny-hf-cpu-fp32", "-q"], env=os.environ | env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shared = {sha(files["tokenizer.json"]), sha(files["config.json"])}
    deadline = time.monotonic() + 60
    while not shared <= blobs():
        if time.monotonic() > deadline or child.poll() is not None:
            child.kill()
            pytest.fail(f"the paused pull never stored its small files: {child.communicate()[1]}")
        time.sleep(0.05)
    assert not (store_root() / "entries" / "tiny-hf-cpu-fp32.json").exists()
    return child


def test_a_pull_shares_files_another_pull_has_verified_but_not_yet_committed(env, files, hubs, zoo):
    first = _start_pull_paused_in_model_tflite(env, files, hubs)
    second = zoo("pull", "tiny-hf-cpu-int8", env=env)  # shares tokenizer.json and config.json with the first
    assert second.returncode == 0, second.stderr
    assert first.poll() is None, "the first pull should still be paused"
    gc = json.loads(zoo("gc", "--json", env=env, check=True).stdout)
    assert gc["blobs"] == []  # model.tflite is not a blob yet, and the rest is held or referenced
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert len(hubs[0].body_requests("tokenizer.json")) == 1 and len(hubs[0].body_requests("config.json")) == 1
    assert zoo("verify", "--full", env=env).returncode == 0
    assert not list((store_root() / "leases").iterdir())


def test_gc_keeps_what_a_running_pull_holds_and_frees_it_once_the_pull_is_killed(env, files, hubs, zoo):
    child = _start_pull_paused_in_model_tflite(env, files, hubs)
    shared = {sha(files["tokenizer.json"]), sha(files["config.json"])}
    assert json.loads(zoo("gc", "--json", env=env, check=True).stdout)["blobs"] == []
    assert shared <= blobs()
    child.send_signal(signal.SIGKILL)
    child.wait()
    freed = json.loads(zoo("gc", "--json", env=env, check=True).stdout)
    assert set(freed["blobs"]) == shared and not blobs()
    assert not list((store_root() / "leases").iterdir())  # the dead pull's lease went with it


# ---------------------------------------------------------------------------- access


def test_gated_hugging_face_without_and_with_a_bad_token(env, hubs, zoo):
    missing = zoo("pull", "gated-hf-cpu-fp32", env=env)
    assert missing.returncode == ExitCode.ACCESS_DENIED
    assert "no token was found" in missing.stderr and "HF_TOKEN" in missing.stderr and "hf auth login" in missing.stderr
    assert "https://huggingface.co/acme/gated-lm" in missing.stderr
    wrong = zoo("pull", "gated-hf-cpu-fp32", env=env | {"HF_TOKEN": "hf_someoneelse"})
    assert wrong.returncode == ExitCode.ACCESS_DENIED and "has not been accepted" in wrong.stderr
    assert hubs[0].body_requests("lfs/") == []  # refused before any bytes
    ok = zoo("pull", "gated-hf-cpu-fp32", "--json", env=env | {"HF_TOKEN": HF_TOKEN})
    assert ok.returncode == 0, ok.stderr
    cdn = hubs[0].body_requests("lfs/")
    assert cdn and not any(r.authorized for r in cdn)  # the token never goes to the CDN origin


def serve_gemma(kaggle: KaggleHub, data: bytes, *, gated=True) -> None:
    kaggle.add_model("google/gemma/tfLite/gemma-2b-it-gpu-int4", {"gemma-2b-it-gpu-int4.bin": data}, version=2,
                     gated=gated, tokens={KAGGLE_TOKEN})


def test_kaggle_gemma_pull_moves_the_bytes_with_zoos_own_downloader(env, hubs, zoo):
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=500_000)
    serve_gemma(hubs[1], data)
    result = zoo("pull", "gemma-2b-it-gpu-int4", "--json", env=env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    [pulled] = json.loads(result.stdout)
    assert Path(pulled["path"]).read_bytes() == data
    lock = json.loads((Path(os.environ["ZOO_HOME"]) / "zoo.lock").read_text())
    assert lock["variants"]["gemma-2b-it-gpu-int4"]["resolved"]["version"] == 2
    # One GET of the file, by zoo (kagglehub's would have gone through its cache), with no Kaggle
    # credential sent to the file's location; nothing lands in kagglehub's cache to link from.
    [body] = hubs[1].body_requests("/download/")
    assert body.method == "GET" and body.range is None and not body.authorized
    assert not any(Path(os.environ["KAGGLEHUB_CACHE"]).rglob("*.bin"))
    assert os.stat(pulled["path"]).st_nlink == 2  # the blob and its artifact name: no other tool's file


def test_a_kaggle_listing_with_sizes_that_are_no_sizes_never_ends_in_an_internal_error(env, hubs, zoo):
    """The listing is server input: a size that is a string, negative, huge or a bool ended in a TypeError."""
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=1000)
    serve_gemma(hubs[1], data)
    name = next(iter(next(iter(hubs[1].instances.values())).files))
    for claimed in ("abc", -5, 10**30, True, "1e3", str(len(data))):
        hubs[1].listed_sizes[name] = claimed
        result = zoo("pull", "gemma-2b-it-gpu-int4", "--update", env=env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""})
        message = " ".join(result.stderr.split())
        assert "internal error" not in message and "Traceback" not in result.stderr, (claimed, message)
        assert result.returncode in (0, int(ExitCode.INTEGRITY)), (claimed, message)
    assert result.returncode == 0  # a decimal string is JSON's way of writing an int64: the size it says


def test_kaggle_announcing_a_newer_kagglehub_never_reaches_stdout(env, hubs, zoo):
    """Kaggle's answers carry X-Kaggle-HubVersion; kagglehub's client printed an upgrade notice on stdout
    for it, which broke `zoo pull --json` for every script reading it."""
    serve_gemma(hubs[1], mediapipe_like_bin("GEMMA_2B", "gpu", padding=1000))
    hubs[1].hub_version = "99.0.0"
    result = zoo("pull", "gemma-2b-it-gpu-int4", "--json", env=env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["id"] == "gemma-2b-it-gpu-int4"  # the whole of stdout is the JSON


def test_sigkill_mid_kaggle_file_then_a_second_run_resumes_with_one_range_request(env, hubs):
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=6 << 20)
    serve_gemma(hubs[1], data)
    hubs[1].add_fault("gemma-2b-it-gpu-int4.bin", Fault(pause_after=2 << 20, pause_seconds=60))
    env = env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""}
    child = subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", "gemma-2b-it-gpu-int4", "-q"], env=os.environ | env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_once_the_partial_holds(child, 2 << 20)
    before = len(hubs[1].requests)
    second = subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "gemma-2b-it-gpu-int4", "--json"], env=os.environ | env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    resumed = hubs[1].body_requests("/download/")[-1:]
    assert [r for r in hubs[1].requests[before:] if r.path.startswith("/download/")] == resumed  # no plain GET first
    assert resumed[0].range == f"bytes={2 << 20}-"
    [report] = json.loads(second.stdout)
    assert report["downloaded_bytes"] == len(data) - (2 << 20)
    assert Path(report["path"]).read_bytes() == data


def _zip_of(name: str, data: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buffer.getvalue()


def test_a_kaggle_file_served_as_a_zip_is_unpacked_bounded(env, hubs, zoo):
    env = env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""}
    name = "gemma-2b-it-gpu-int4.bin"
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=300_000)
    for zipped, problem in [
        (_zip_of("other.bin", data), "does not hold exactly one"),  # the member is not there
        (_zip_of(name, data + b"\0" * (200 << 20)), "unpacks to more than"),  # a bomb: 200 MB of zeros in a small zip
        (b"PK\x03\x04 not really a zip" * 10, "damaged"),
    ]:
        hubs[1].add_model("google/gemma/tfLite/gemma-2b-it-gpu-int4", {name: data}, version=2, gated=True,
                          tokens={KAGGLE_TOKEN}, zipped={name: zipped})
        bad = zoo("pull", "gemma-2b-it-gpu-int4", env=env)
        assert bad.returncode != 0 and problem in bad.stderr and "internal error" not in bad.stderr, bad.stderr
        assert blobs() == set() and not any((store_root() / "partials").iterdir())
    hubs[1].add_model("google/gemma/tfLite/gemma-2b-it-gpu-int4", {name: data}, version=2, gated=True,
                      tokens={KAGGLE_TOKEN}, zipped={name: _zip_of(name, data)})
    good = zoo("pull", "gemma-2b-it-gpu-int4", "--json", env=env)
    assert good.returncode == 0, good.stderr
    assert Path(json.loads(good.stdout)[0]["path"]).read_bytes() == data


def test_kaggle_gated_messages_and_no_bytes_before_access(env, hubs, zoo):
    serve_gemma(hubs[1], mediapipe_like_bin("GEMMA_2B", "gpu"))
    base = env | {"ZOO_LOAD_PLUGINS": ""}
    none = zoo("pull", "gemma-2b-it-gpu-int4", env=base)
    assert none.returncode == ExitCode.ACCESS_DENIED
    assert "KAGGLE_API_TOKEN" in none.stderr and "kaggle.json" in none.stderr
    assert "https://www.kaggle.com/models/google/gemma" in none.stderr
    wrong = zoo("pull", "gemma-2b-it-gpu-int4", env=base | {"KAGGLE_API_TOKEN": "KGAT_wrong"})
    assert wrong.returncode == ExitCode.ACCESS_DENIED and "(403)" in wrong.stderr and "accept" in wrong.stderr.lower()
    assert hubs[1].body_requests("/download/") == []


def test_a_mediapipe_bin_with_the_wrong_backend_is_refused(env, hubs, zoo):
    env = env | {"ZOO_LOAD_PLUGINS": "", "KAGGLE_API_TOKEN": KAGGLE_TOKEN}
    serve_gemma(hubs[1], mediapipe_like_bin("GEMMA_2B", "cpu"))
    result = zoo("pull", "gemma-2b-it-gpu-int4", env=env)
    assert result.returncode == ExitCode.INTEGRITY
    assert "backend metadata says 'cpu'" in result.stderr
    serve_gemma(hubs[1], mediapipe_like_bin("PHI_2", "gpu"))
    result = zoo("pull", "gemma-2b-it-gpu-int4", env=env)
    assert "model type is PHI_2, but the manifest expects GEMMA_2B" in result.stderr


def test_no_token_appears_in_any_output_or_file(env, files, hubs, zoo):
    serve_gemma(hubs[1], mediapipe_like_bin("GEMMA_2B", "gpu"))
    secrets = {"HF_TOKEN": HF_TOKEN, "KAGGLE_API_TOKEN": KAGGLE_TOKEN}
    outputs = []
    for args, extra in [
        (["pull", "gated-hf-cpu-fp32", "--json"], secrets),
        (["pull", "gated-hf-cpu-fp32"], {"HF_TOKEN": "hf_someoneelse" + HF_TOKEN}),
        (["pull", "gemma-2b-it-gpu-int4", "--json"], {**secrets, "ZOO_LOAD_PLUGINS": "zoo_testhf"}),
        (["pull", "gemma-2b-it-gpu-int4"], {"KAGGLE_API_TOKEN": "KGAT_x" + KAGGLE_TOKEN}),
        (["ls", "--json"], secrets),
        (["verify"], secrets),
        (["info", "gated-hf-cpu-fp32", "--json"], secrets),
    ]:
        result = zoo(*args, env=env | extra, timeout=120)
        outputs += [result.stdout, result.stderr]
    for text in outputs:
        assert HF_TOKEN not in text and KAGGLE_TOKEN not in text
    for path in Path(os.environ["ZOO_HOME"]).rglob("*"):
        if path.is_file() and path.stat().st_size < 10_000_000 and "blobs" not in path.parts and "kagglehub" not in path.parts:
            content = path.read_bytes()
            assert HF_TOKEN.encode() not in content and KAGGLE_TOKEN.encode() not in content, path


# ---------------------------------------------------------------------------- offline, built, gc, verify


def test_offline_uses_only_the_store(env, zoo):
    missing = zoo("pull", "tiny-hf-cpu-fp32", env=env | {"ZOO_OFFLINE": "1"})
    assert missing.returncode == ExitCode.OFFLINE and "ZOO_OFFLINE" in missing.stderr
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    present = zoo("pull", "tiny-hf-cpu-fp32", env=env | {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert present.returncode == 0 and "already in the store" in present.stderr


def test_pulling_a_built_variant_gives_the_build_command(env, zoo):
    result = zoo("pull", "phi-2", "--backend", "gpu", "--quant", "int4", env=env)
    assert result.returncode == ExitCode.USAGE
    assert "zoo build phi-2 --backend gpu --quant int4" in result.stderr


def test_gc_frees_exactly_the_unreferenced_blobs(env, files, zoo):
    zoo("pull", "tiny-hf-cpu-fp32", "tiny-hf-cpu-int8", env=env, check=True)
    assert len(blobs()) == 4
    zoo("rm", "tiny-hf-cpu-int8", env=env, check=True)
    dry = json.loads(zoo("gc", "--dry-run", "--json", env=env, check=True).stdout)
    assert dry["blobs"] == [sha(files["model-int8.tflite"])] and dry["bytes"] == len(files["model-int8.tflite"])
    assert len(blobs()) == 4
    done = json.loads(zoo("gc", "--json", env=env, check=True).stdout)
    assert done["bytes"] == len(files["model-int8.tflite"])
    assert blobs() == {sha(files[n]) for n in ("model.tflite", "tokenizer.json", "config.json")}
    assert zoo("verify", env=env, check=True).returncode == 0
    missing = zoo("path", "tiny-hf-cpu-int8", env=env)
    assert missing.returncode == ExitCode.NOT_FOUND and "zoo pull tiny-hf-cpu-int8" in missing.stderr


def test_verify_hashes_once_then_trusts_fingerprints_and_catches_corruption(env, files, hubs, zoo):
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    first = zoo("verify", "tiny-hf-cpu-fp32", "--json", env=env, check=True)
    assert all(f["from_fingerprint"] for f in json.loads(first.stdout)[0]["files"])  # the pull recorded them
    full = json.loads(zoo("verify", "--full", "--json", env=env, check=True).stdout)
    assert full[0]["ok"] and not any(f["from_fingerprint"] for f in full[0]["files"])
    blob = store_root() / "blobs" / "sha256" / sha(files["tokenizer.json"])
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[3] ^= 0x10
    blob.write_bytes(bytes(data))
    bad = zoo("verify", env=env)
    assert bad.returncode == ExitCode.INTEGRITY
    assert "tokenizer.json" in bad.stdout and "zoo pull --repair tiny-hf-cpu-fp32" in bad.stderr
    by_path = zoo("verify", str(store_root() / "artifacts" / "tiny-hf-cpu-fp32" / "tokenizer.json"), env=env)
    assert by_path.returncode == ExitCode.INTEGRITY
    before = len(hubs[0].requests)
    zoo("pull", "--repair", "tiny-hf-cpu-fp32", env=env, check=True)
    fetched = [r.path for r in hubs[0].requests[before:] if r.method == "GET"]
    assert fetched == ["/acme/tiny-lm/resolve/" + hubs[0].repos["acme/tiny-lm"].commit + "/tokenizer.json"]
    zoo("verify", "--full", env=env, check=True)


def test_manifest_pin_writes_observed_digests_and_keeps_comments(env, files, zoo):
    zoo("pull", "tiny-hf-cpu-fp32", env=env, check=True)
    manifest = Path(env["PYTHONPATH"]) / "zoo_testhf" / "family.toml"
    manifest.write_text("# maintained by hand\n" + manifest.read_text())
    result = zoo("manifest", "pin", "tiny-hf-cpu-fp32", env=env, check=True)
    assert "Pinned model.tflite, tokenizer.json, config.json" in result.stderr
    text = manifest.read_text()
    assert text.startswith("# maintained by hand\n")
    assert f'sha256 = "{sha(files["model.tflite"])}"' in text and f"size = {len(files['model.tflite'])}" in text
    zoo("manifest", "validate", str(manifest), env=env, check=True)
    assert "already pins" in zoo("manifest", "pin", "tiny-hf-cpu-fp32", env=env, check=True).stderr
    nothing = zoo("manifest", "pin", "tiny-hf-cpu-int8", env=env)
    assert nothing.returncode != 0 and "zoo pull tiny-hf-cpu-int8" in nothing.stderr


def test_progress_bars_on_a_terminal_and_none_when_quiet(env, hubs, monkeypatch):
    """In-process, with stderr forced to look like a terminal: bars show the file, bytes and speed."""
    import io

    from rich.console import Console

    from registry import catalog, settings
    from zoo_cli.root import main
    from zoo_cli.terminal import terminal

    serve_gemma(hubs[1], mediapipe_like_bin("GEMMA_2B", "gpu", padding=3_000_000))
    for key, value in (env | {"ZOO_LOAD_PLUGINS": "", "KAGGLE_API_TOKEN": KAGGLE_TOKEN}).items():
        monkeypatch.setenv(key, value)
    settings.reload()
    catalog.reset()
    screen = io.StringIO()
    monkeypatch.setattr(terminal, "err", Console(file=screen, force_terminal=True, width=120))
    assert main(["pull", "gemma-2b-it-gpu-int4"]) == 0
    drawn = screen.getvalue()
    assert "gemma-2b-it-gpu-int4.bin" in drawn and "total" in drawn and "MB" in drawn
    assert main(["rm", "gemma-2b-it-gpu-int4"]) == 0
    screen.seek(0)
    screen.truncate()
    assert main(["pull", "-q", "gemma-2b-it-gpu-int4"]) == 0
    assert screen.getvalue().strip() == ""


def test_allow_patterns_add_matching_repo_files(tmp_path, files, hubs, zoo):
    """A pattern without '/' matches top-level files only (a subfolder's copy of the weights is not
    wanted); one with '/' reaches into folders."""
    hubs[0].add_repo("acme/tiny-lm", {**files, "extra/generation_config.json": b"{}", "README.md": b"# hi",
                                      "onnx/other.json": b"{}"})
    env = make_env(tmp_path, hubs)
    manifest = Path(env["PYTHONPATH"]) / "zoo_testhf" / "family.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny-lm", revision = "main"', 'repo = "acme/tiny-lm", revision = "main", allow_patterns = ["*.json", "extra/*"]'))
    [pulled] = json.loads(zoo("pull", "tiny-hf-cpu-fp32", "--json", env=env, check=True).stdout)
    assert sorted(f["path"] for f in pulled["files"]) == ["config.json", "extra/generation_config.json", "model.tflite", "tokenizer.json"]
    assert (store_root() / "artifacts" / "tiny-hf-cpu-fp32" / "extra" / "generation_config.json").read_bytes() == b"{}"
    assert json.loads(zoo("pull", "tiny-hf-cpu-fp32", "--json", env=env, check=True).stdout)[0]["already_present"]


def test_a_hub_listing_a_file_outside_the_repo_is_refused_with_nothing_stored(tmp_path, files, hubs, zoo):
    hubs[0].add_repo("acme/tiny-lm", {**files, "../../escape.json": b"{}"})
    env = make_env(tmp_path, hubs)
    manifest = Path(env["PYTHONPATH"]) / "zoo_testhf" / "family.toml"
    manifest.write_text(manifest.read_text().replace('repo = "acme/tiny-lm", revision = "main"', 'repo = "acme/tiny-lm", revision = "main", allow_patterns = ["*.json", "*/*"]'))
    result = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    message = " ".join(result.stderr.split())
    assert result.returncode != 0 and "unsafe path" in message and "internal error" not in message, message
    assert zoo("ls", "--json", env=env, check=True).stdout.strip() == "[]"


def test_a_kaggle_pull_reports_bytes_as_they_arrive(env, hubs, monkeypatch):
    """The bar moves during the download (kagglehub's own download left it at 0 until the file was whole)."""
    from registry import catalog, settings
    from registry.fetch import pull
    from registry.reporting import QuietReporter

    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=12 << 20)
    serve_gemma(hubs[1], data)
    for key, value in (env | {"ZOO_LOAD_PLUGINS": "", "KAGGLE_API_TOKEN": KAGGLE_TOKEN}).items():
        monkeypatch.setenv(key, value)
    settings.reload()
    catalog.reset()

    class Recorder(QuietReporter):
        def __init__(self):
            self.advances: list[int] = []

        def advance(self, path, count):
            self.advances.append(count)

    recorder = Recorder()
    cat = catalog.get_catalog()
    pull(cat, cat.variant("gemma-2b-it-gpu-int4"), reporter=recorder)
    assert sum(recorder.advances) == len(data)
    assert len(recorder.advances) > 3 and max(recorder.advances) < len(data)


def test_a_bit_flipped_in_transit_on_a_first_kaggle_pull_is_refused_by_the_storage_checksum(env, hubs, zoo):
    """Nothing pins a Kaggle file's digest before its first pull: the crc32c Google Cloud Storage sends
    (X-Goog-Hash) is what catches a damaged download, which used to be stored, pinned and called verified."""
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=500_000)
    serve_gemma(hubs[1], data)
    hubs[1].add_fault("gemma-2b-it-gpu-int4.bin", Fault(corrupt=True))
    env = env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""}
    damaged = zoo("pull", "gemma-2b-it-gpu-int4", env=env)
    message = " ".join(damaged.stderr.split())
    assert damaged.returncode == ExitCode.INTEGRITY and "crc32c" in message and "X-Goog-Hash" in message, message
    home = Path(os.environ["ZOO_HOME"])
    assert not (home / "zoo.lock").exists() and not list((home / "store" / "entries").glob("*.json"))
    assert not [p for p in (home / "store" / "partials").iterdir() if p.suffix != ".lock"]
    again = zoo("pull", "gemma-2b-it-gpu-int4", "--json", env=env)
    assert again.returncode == 0, again.stderr
    [pulled] = json.loads(again.stdout)
    assert Path(pulled["path"]).read_bytes() == data and pulled["unverified"] == []


def test_a_kaggle_pull_that_nothing_could_check_does_not_call_itself_verified(env, hubs, zoo):
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=1000)
    serve_gemma(hubs[1], data)
    hubs[1].storage_hashes = ("md5",)  # a composite object's X-Goog-Hash, and zoo reads no md5
    env = env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""}
    result = zoo("pull", "gemma-2b-it-gpu-int4", env=env)
    message = " ".join(result.stderr.split())
    assert result.returncode == 0, message
    assert "verified." not in message and "unverified: nothing the source sent could check gemma-2b-it-gpu-int4.bin" in message
    assert "nothing the source sent could check gemma-2b-it-gpu-int4.bin, so zoo trusted this first download" in message
    checked = zoo("pull", "gemma-2b-it-gpu-int4", "--json", env=env)  # now against its zoo.lock pin
    assert json.loads(checked.stdout)[0]["already_present"] is True


@pytest.mark.parametrize("server_honours_if_range", [True, False])
def test_a_file_that_changes_between_a_kill_and_the_resume_is_never_stitched_together(env, hubs, server_honours_if_range):
    """The resume asks for the rest of the same object (If-Range with the first answer's ETag): the server
    sends the whole new file instead, and a server that ignores If-Range is caught by the changed ETag.
    Before, the new file's tail was appended to the old one's head and pinned as the file."""
    old = mediapipe_like_bin("GEMMA_2B", "gpu", padding=6 << 20)
    new = mediapipe_like_bin("GEMMA_2B", "gpu", tokenizer=b"\x0a\x05xyz") + b"\x07" * (6 << 20)  # head and tail differ
    assert new != old and len(new) == len(old)
    serve_gemma(hubs[1], old)
    hubs[1].storage_hashes = ()  # the validator alone must keep the two apart
    hubs[1].honours_if_range = server_honours_if_range
    hubs[1].add_fault("gemma-2b-it-gpu-int4.bin", Fault(pause_after=2 << 20, pause_seconds=60))
    env = env | {"KAGGLE_API_TOKEN": KAGGLE_TOKEN, "ZOO_LOAD_PLUGINS": ""}
    child = subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", "gemma-2b-it-gpu-int4", "-q"], env=os.environ | env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_once_the_partial_holds(child, 2 << 20)
    serve_gemma(hubs[1], new)  # the publisher replaced the file in between
    second = subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "gemma-2b-it-gpu-int4", "--json"], env=os.environ | env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    resumed = [r for r in hubs[1].body_requests("/download/") if r.range]
    assert resumed and resumed[0].if_range == f'"{hashlib.md5(old).hexdigest()}"'
    assert Path(json.loads(second.stdout)[0]["path"]).read_bytes() == new
