"""Parallel ranged transfers: a file one slow stream would take long over comes in pieces on several
connections into one partial file, hashed in order, resumed piece by piece after a crash.

The local hub caps each connection with a token bucket, as CDNs do; pieces are made small
(ZOO_DOWNLOAD_PIECE_BYTES) so a 3 MB file is cut in a dozen.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import make_env, tflite_file
from registry.transfer import pieces as ranged
from registry.download import download
from registry.errors import ExitCode, NetworkError
from registry.testing.hubs import Fault, HuggingFaceHub
from registry.testing.tflite_builder import mediapipe_like_bin

PIECE = 256 << 10
SIZE = 3_000_000


MODEL = tflite_file(SIZE, "ranged")
DIGEST = hashlib.sha256(MODEL).hexdigest()


@pytest.fixture
def hubs(hf_hub, kaggle_hub):
    hf_hub.add_repo("acme/tiny-lm", {"model.tflite": MODEL, "tokenizer.json": b"{}", "config.json": b"{}"})
    return hf_hub, kaggle_hub


@pytest.fixture
def env(tmp_path, hubs):
    return make_env(tmp_path, hubs, ZOO_DOWNLOAD_PIECE_BYTES=str(PIECE)) | {"ZOO_HOME": os.environ["ZOO_HOME"]}


def body_requests(hub: HuggingFaceHub, since: int = 0):
    return [r for r in hub.requests[since:] if r.method == "GET" and DIGEST in r.path]


def ranges_asked(requests) -> list[tuple[int, int | None]]:
    out = []
    for r in requests:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", r.range or "bytes=0-")
        out.append((int(match.group(1)), int(match.group(2)) + 1 if match.group(2) else None))
    return out


def stored(home: str | Path) -> Path:
    return home / "store" / "artifacts" / "tiny-hf-cpu-fp32" / "model.tflite"


def test_a_capped_server_is_fetched_in_pieces_on_several_connections(env, hubs, zoo):
    hf, _ = hubs
    hf.rate_per_connection = 512 << 10  # one stream: ~6 s; the probe sees it and cuts the rest in pieces
    result = zoo("pull", "tiny-hf-cpu-fp32", "--json", env=env | {"ZOO_DOWNLOAD_CONNECTIONS": "4"})
    assert result.returncode == 0, result.stderr
    assert stored(Path(env["ZOO_HOME"])).read_bytes() == MODEL
    requests = body_requests(hf)
    asked = ranges_asked(requests)
    first, pieces = asked[0], sorted(asked[1:])
    assert first == (0, None)  # the single stream that measured the rate
    assert len(pieces) >= 8 and all(end is not None and end - start <= PIECE for start, end in pieces)
    # Four connections at once, each kept alive for several pieces.
    assert len({r.connection for r in requests[1:]}) == 4
    # The pieces tile the rest of the file exactly once.
    assert pieces[-1][1] == SIZE and all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert not list((Path(env["ZOO_HOME"]) / "store" / "partials").glob("*"))  # nothing left behind


@pytest.mark.parametrize("connections", ["16", "1"])
def test_sigkill_mid_pieces_then_a_second_run_resumes_what_each_piece_lacks(env, hubs, connections):
    hf, _ = hubs
    hf.rate_per_connection = 256 << 10
    home = Path(env["ZOO_HOME"])
    partials = home / "store" / "partials"
    child = subprocess.Popen([sys.executable, "-m", "zoo_cli", "pull", "tiny-hf-cpu-fp32", "-q"],
                             env=os.environ | env | {"ZOO_DOWNLOAD_CONNECTIONS": "4"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once pieces are landing: the ranges file counts some of them
        states = list(partials.glob("*.ranges")) if partials.exists() else []
        if states and sum(d for _, _, d in json.loads(states[0].read_text() or '{"pieces": []}')["pieces"]) > SIZE // 3:
            break
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail(f"the first pull never fetched pieces: {child.communicate()}")
    child.send_signal(signal.SIGKILL)
    child.wait()
    [state] = partials.glob("*.ranges")
    kept = json.loads(state.read_text())["pieces"]
    before = len(hf.requests)
    hf.rate_per_connection = None
    second = subprocess.run([sys.executable, "-m", "zoo_cli", "pull", "tiny-hf-cpu-fp32", "--json"],
                            env=os.environ | env | {"ZOO_DOWNLOAD_CONNECTIONS": connections}, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    assert stored(home).read_bytes() == MODEL
    asked = ranges_asked(body_requests(hf, before))
    [report] = json.loads(second.stdout)
    if connections == "16":  # each piece asked for from where it stopped; complete ones not at all
        for start, end, done in kept:
            if done == end - start:
                assert not any(start <= a < end for a, _ in asked)
            else:
                assert (start + done, end) in asked
        assert report["downloaded_bytes"] == SIZE - sum(d for _, _, d in kept)
    else:  # one stream: from the end of the contiguous prefix the pieces left
        prefix = ranged.contiguous_prefix([ranged._Piece(*r) for r in kept])
        assert asked == [(prefix, None)]
        assert report["downloaded_bytes"] == SIZE - prefix
    assert not list(partials.glob("*"))


def test_a_server_that_ignores_range_gets_one_stream_and_the_right_bytes(env, hubs, zoo):
    hf, _ = hubs
    hf.rate_per_connection, hf.accept_ranges = 512 << 10, False
    result = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    assert result.returncode == 0, result.stderr
    assert stored(Path(env["ZOO_HOME"])).read_bytes() == MODEL


def test_corrupted_pieces_are_refused_with_nothing_stored_or_kept(env, hubs, zoo):
    hf, _ = hubs
    hf.rate_per_connection = 512 << 10
    hf.add_fault(DIGEST, Fault(corrupt=True, times=-1))  # every response flips its last bit
    result = zoo("pull", "tiny-hf-cpu-fp32", env=env)
    assert result.returncode == ExitCode.INTEGRITY, result.stderr
    assert len(body_requests(hf)) > 2  # the pieces did run
    home = Path(env["ZOO_HOME"])
    assert not (home / "store" / "blobs" / "sha256" / DIGEST).exists()
    assert not list((home / "store" / "partials").glob("*"))


# ---------------------------------------------------------------------------- registry.ranged directly


def _fetch(hub: HuggingFaceHub, partial: Path, connections: int = 4):
    return download(f"{hub.url('cdn')}/lfs/{DIGEST}", partial, expected_size=SIZE, connections=connections,
                    piece_bytes=PIECE, timeout=5, retries=2)


def test_a_piece_whose_length_is_a_lie_discards_the_partial(tmp_path, hubs):
    hf, _ = hubs
    hf.rate_per_connection = 512 << 10
    partial = tmp_path / "f.part"
    # A crash left pieces; the resumed run goes straight to pieces, and the server lies about one.
    pieces = ranged.plan(SIZE, PIECE)
    partial.write_bytes(MODEL[: PIECE])
    pieces[0].done = PIECE
    ranged._save_state(partial, SIZE, pieces)
    hf.add_fault(DIGEST, Fault(announce_size=SIZE + 7))
    with pytest.raises(NetworkError, match="misbehaved"):
        _fetch(hf, partial)
    assert not partial.exists() and not ranged.state_path(partial).exists()


def test_a_ranges_file_zoo_cannot_trust_starts_the_file_over(tmp_path, hubs):
    hf, _ = hubs
    partial = tmp_path / "f.part"
    for state in (b"{not json", json.dumps({"size": SIZE, "pieces": [[0, SIZE, SIZE + 1]]}).encode(),
                  json.dumps({"size": SIZE, "pieces": [[0, SIZE, SIZE]]}).encode(),  # claims bytes the partial lacks
                  # numbers int() cannot take, and nesting json cannot parse: an internal error on every later pull
                  f'{{"size": {SIZE}, "pieces": [[0, Infinity, 0]]}}'.encode(),
                  f'{{"size": {SIZE}, "pieces": [[0, 1e400, 0]]}}'.encode(), b"[" * 100_000 + b"]" * 100_000):
        partial.write_bytes(b"\0" * 1000)
        ranged.state_path(partial).write_bytes(state)
        result = _fetch(hf, partial)
        assert result.sha256 == DIGEST and partial.read_bytes() == MODEL
        assert not ranged.state_path(partial).exists()
        partial.unlink()


def test_a_kaggle_pull_from_a_capped_server_comes_in_pieces(env, hubs, zoo):
    _, kaggle = hubs
    kaggle.rate_per_connection = 512 << 10
    data = mediapipe_like_bin("GEMMA_2B", "gpu", padding=SIZE)
    kaggle.add_model("google/gemma/tfLite/gemma-2b-it-gpu-int4", {"gemma-2b-it-gpu-int4.bin": data}, version=2,
                     gated=True, tokens={"KGAT_TESTSECRET0123456789abcdef"})
    result = zoo("pull", "gemma-2b-it-gpu-int4", "--json",
                 env=env | {"KAGGLE_API_TOKEN": "KGAT_TESTSECRET0123456789abcdef", "ZOO_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr
    [pulled] = json.loads(result.stdout)
    assert Path(pulled["path"]).read_bytes() == data
    bodies = kaggle.body_requests("/download/")
    assert len(bodies) > 2 and all(re.fullmatch(r"bytes=\d+-\d+", r.range) for r in bodies[1:])
    assert not any(r.authorized for r in bodies)  # the Kaggle credential never goes to the file's location


@pytest.mark.parametrize("planted", ["fifo", "link to /dev/zero"])
def test_a_ranges_file_that_is_no_regular_file_is_neither_waited_on_nor_followed(tmp_path, hubs, planted):
    import threading

    hf, _ = hubs
    partial = tmp_path / "f.part"
    partial.write_bytes(b"\0" * 1000)
    if planted == "fifo":
        os.mkfifo(ranged.state_path(partial))
    else:
        os.symlink("/dev/zero", ranged.state_path(partial))
    results = []
    worker = threading.Thread(target=lambda: results.append(_fetch(hf, partial)), daemon=True)
    worker.start()
    worker.join(60)
    assert results and results[0].sha256 == DIGEST and partial.read_bytes() == MODEL
    assert not os.path.lexists(ranged.state_path(partial))


@pytest.mark.parametrize("server_honours_if_range", [True, False])
def test_pieces_of_a_file_replaced_midway_are_never_stitched_together(tmp_path, hubs, server_honours_if_range):
    """Each piece asks for a range of the object the first answer named (If-Range); the file replaced
    while pieces are in flight ends in the whole new file, never old pieces beside new ones."""
    from registry.testing.hubs import Blob

    _, kaggle = hubs
    kaggle.rate_per_connection = 512 << 10
    kaggle.storage_hashes = ()  # the validator alone must keep the two apart
    kaggle.honours_if_range = server_honours_if_range
    old, new = tflite_file(SIZE, "ranged"), b"\x07" * SIZE
    kaggle.add_model("acme/lm/tfLite/v", {"m.bin": old})
    url = f"{kaggle.endpoint}/download/acme%2Flm%2FtfLite%2Fv/1/m.bin"
    received = [0]

    def replace_once_a_third_arrived(count: int) -> None:
        received[0] += count
        if received[0] >= SIZE // 3:
            kaggle.instances["acme/lm/tflite/v"].files["m.bin"] = Blob(data=new)

    partial = tmp_path / "f.part"
    result = download(url, partial, expected_size=SIZE, connections=4, piece_bytes=PIECE, timeout=5, retries=2,
                      on_bytes=replace_once_a_third_arrived)
    assert partial.read_bytes() == new and result.sha256 == hashlib.sha256(new).hexdigest()
    assert len({r.if_range for r in kaggle.body_requests("/download/") if r.range}) >= 1
