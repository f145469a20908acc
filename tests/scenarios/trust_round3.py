"""Trust round 3, counted: the classes issue 27 found again on the newer paths, each repeated and counted.

benchmarks/reliability.py prints these figures; tests/test_reliability.py asserts a small run of them.
Each scenario works in a directory it is given and sets its own ZOO_HOME there.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from registry.download import download
from registry.testing.hubs import Blob, Fault, KaggleHub
from scenarios.world import world



def kaggle_bit_flips(root: Path, flips: int = 20, seed: int = 5) -> dict:
    """First pulls from Kaggle, each with one bit of the model flipped in transit (at a random byte):
    caught by the storage's crc32c, and nothing stored or pinned."""
    rng = random.Random(seed)
    caught = pinned = stored = 0
    with world(root) as w:
        size = len(w.files["model.tflite"])
        for _ in range(flips):
            w.fresh_home()
            w.kaggle.add_fault("model.tflite", Fault(corrupt=True, corrupt_at=rng.randrange(size)))
            result = w.zoo("pull", "relk-cpu-fp32")
            caught += result.returncode != 0 and "crc32c" in result.stderr
            pinned += (w.home / "zoo.lock").exists()
            stored += not w.store_is_empty()
    return {"flips": flips, "caught": caught, "pinned": pinned, "stored": stored}


def replaced_midway(root: Path, runs: int = 6, seed: int = 9) -> dict:
    """A file the publisher replaces while it comes in pieces (half the runs on a server that ignores
    If-Range): how often the result is one version whole (the new one, or the old one when every byte was
    on its way already), and how often a mix of the two that never existed on the server."""
    rng = random.Random(seed)
    size, piece = 3_000_000, 256 << 10
    whole = newest = mixed = 0
    with KaggleHub() as hub:
        hub.rate_per_connection = 512 << 10  # slow enough that the rest comes in pieces
        hub.storage_hashes = ()  # the validator alone keeps the versions apart
        for run in range(runs):
            old, new = rng.randbytes(size), rng.randbytes(size)
            hub.add_model("acme/lm/tfLite/v", {"m.bin": old})
            hub.honours_if_range = run % 2 == 0
            swap_at, seen = rng.randrange(size // 8, size // 2), [0]

            def swap(count: int, swap_at=swap_at, new=new) -> None:
                seen[0] += count
                if seen[0] >= swap_at:
                    hub.instances["acme/lm/tflite/v"].files["m.bin"] = Blob(data=new)

            partial = root / f"replaced-{run}.part"
            partial.parent.mkdir(parents=True, exist_ok=True)
            download(f"{hub.endpoint}/download/acme%2Flm%2FtfLite%2Fv/1/m.bin", partial, expected_size=size,
                     connections=4, piece_bytes=piece, timeout=5, retries=2, on_bytes=swap)
            got = partial.read_bytes()
            whole += got in (old, new)
            newest += got == new
            mixed += got not in (old, new)
            partial.unlink()
    return {"runs": runs, "one_version_whole": whole, "the_new_one": newest, "mixed": mixed}


def orphans(root: Path, runs: int = 4) -> dict:
    """A build step running when zoo is stopped by SIGTERM, or killed by SIGKILL: steps left running."""
    from helpers import ends_soon, install_pack_plugin, start_hanging_build

    left = {"SIGTERM": 0, "SIGKILL": 0}
    root.mkdir(parents=True, exist_ok=True)
    env, _ = install_pack_plugin(root)
    for name in left:
        for run in range(runs):
            process, child = start_hanging_build(env, root / f"home-{name}-{run}", stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL)
            process.send_signal(getattr(signal, name))
            process.wait(timeout=30)
            left[name] += not ends_soon(child)
    return {"runs": runs, "left_after_sigterm": left["SIGTERM"], "left_after_sigkill": left["SIGKILL"]}


def damaged_cache_hits(root: Path, runs: int = 5, seed: int = 3) -> dict:
    """A byte flipped in a built artifact, then the same build again: how often it answered 'cache hit'
    with the damaged file in place."""
    from helpers import install_pack_plugin

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    env, _ = install_pack_plugin(root)
    vouched = rebuilt = 0
    for run in range(runs):
        full = os.environ | env | {"ZOO_HOME": str(root / f"home-{run}")}
        zoo = [sys.executable, "-m", "zoo_cli"]
        built = json.loads(subprocess.run(zoo + ["build", "packer", "--json"], env=full, capture_output=True,
                                          text=True, check=True).stdout)
        output = Path(built["path"])
        data = bytearray(output.read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        os.chmod(output, 0o644)
        with open(output, "r+b") as fh:
            fh.write(data)
        again = json.loads(subprocess.run(zoo + ["build", "packer", "--json"], env=full, capture_output=True,
                                          text=True, check=True).stdout)
        vouched += again["cache_hit"]
        rebuilt += hashlib.sha256(output.read_bytes()).hexdigest() == built["files"][0]["sha256"]
    return {"runs": runs, "cache_hits_on_damage": vouched, "rebuilt_right": rebuilt}


def planted_hard_links(root: Path, runs: int = 5) -> dict:
    """A hard link to a file outside the store planted at a partial download's name: files written through."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"z" * 5000

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    written_through = 0
    try:
        for run in range(runs):
            folder = root / f"links-{run}"
            folder.mkdir(parents=True, exist_ok=True)
            outside = folder / "outside.txt"
            outside.write_bytes(b"z" * 1000 + b"the user's own bytes")
            os.link(outside, folder / "f.part")
            download(f"http://127.0.0.1:{server.server_address[1]}/f", folder / "f.part", expected_size=5000, retries=1)
            written_through += outside.read_bytes() != b"z" * 1000 + b"the user's own bytes"
    finally:
        server.shutdown()
        server.server_close()
    return {"runs": runs, "written_through": written_through}


def skipped_path_signatures(root: Path, folders: tuple[str, ...] = (".git", ".github")) -> dict:
    """An artifact whose main file sits in a folder model-signing's default hashing skips, signed the default
    way (model-signing's own API): how often `zoo verify --signature` accepted bytes the signature never covered."""
    from helpers import toolchain_python

    from registry import signing
    from registry.testing.plugins import write_plugin_distribution
    from registry.testing.tflite_builder import build_tflite
    from scenarios.trust import LOCAL_MANIFEST

    accepted = 0
    for folder in folders:
        case = root / folder.strip(".")
        site, home = case / "site", case / "home"
        write_plugin_distribution(site, "zoo-localrel", "zoo_localrel",
                                  manifest=LOCAL_MANIFEST.replace('path = "model.tflite"', f'path = "{folder}/model.tflite"'))
        (site / "zoo_localrel" / "files" / folder).mkdir(parents=True)
        (site / "zoo_localrel" / "files" / folder / "model.tflite").write_bytes(build_tflite(tensor_names=["w"]) + b"\1" * 300)
        env = os.environ | {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_localrel", "ZOO_HOME": str(home)}
        zoo = [sys.executable, "-m", "zoo_cli"]
        subprocess.run(zoo + ["pull", "localrel-cpu-fp32"], env=env, check=True, capture_output=True)
        key, pub = case / "k.pem", case / "k.pub.pem"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
        subprocess.run(["openssl", "ec", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
        target = home / "signatures" / "localrel-cpu-fp32.sig"
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(toolchain_python(signing.SIGNING)), "-c", "import sys, model_signing; model_signing.signing."
                        "Config().use_elliptic_key_signer(private_key=sys.argv[1]).sign(sys.argv[2], sys.argv[3])",
                        str(key), str(home / "store" / "artifacts" / "localrel-cpu-fp32"), str(target)],
                       check=True, capture_output=True)
        verified = subprocess.run(zoo + ["verify", "localrel-cpu-fp32", "--signature", str(pub)], env=env,
                                  capture_output=True, text=True, timeout=300)
        accepted += verified.returncode == 0
    return {"folders": len(folders), "accepted_uncovered": accepted}


def all_counts(root: Path) -> dict[str, dict]:
    return {
        "Kaggle bit flips on a first pull": kaggle_bit_flips(root / "flips"),
        "a file replaced while it comes in pieces": replaced_midway(root / "replaced"),
        "steps left running after zoo is stopped": orphans(root / "orphans"),
        "damaged builds answered as cache hits": damaged_cache_hits(root / "cache"),
        "hard links planted at a partial's name": planted_hard_links(root / "links"),
        "signatures over paths the signer skips": skipped_path_signatures(root / "signatures"),
    }

