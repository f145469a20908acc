"""The world every scenario starts from: local hubs serving a small model, a plugin naming it, and zoo."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from registry.testing.hubs import HuggingFaceHub, KaggleHub
from registry.testing.plugins import write_plugin_distribution
from registry.testing.tflite_builder import build_tflite

MIB = 1 << 20
HF_TOKEN = "hf_RELIABILITYsecret0123456789abcdef"
KAGGLE_TOKEN = "KGAT_RELIABILITYsecret0123456789"

MANIFEST = """
schema_version = 1
family = "rel"
description = "Reliability scenarios."

[[models]]
name = "rel"
description = "Three LFS files and two small ones."
platforms = ["android"]
source = { kind = "huggingface", repo = "acme/rel" }
license = { name = "MIT" }

[[models.variants]]
id = "rel-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [
  { path = "model.tflite", role = "weights" },
  { path = "extra-a.safetensors", role = "other" },
  { path = "extra-b.safetensors", role = "other" },
  { path = "tokenizer.json", role = "tokenizer" },
  { path = "config.json", role = "config" },
]
outputs = [{ path = "model.tflite", checks = ["tflite-flatbuffer"] }]

[[models.variants]]
id = "rel-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [
  { path = "model-int8.tflite", role = "weights" },
  { path = "extra-a.safetensors", role = "other" },
  { path = "tokenizer.json", role = "tokenizer" },
  { path = "config.json", role = "config" },
]
outputs = [{ path = "model-int8.tflite", checks = ["tflite-flatbuffer"] }]

[[models]]
name = "relk"
description = "The same files on Kaggle."
platforms = ["android"]
source = { kind = "kaggle", handle = "acme/rel/tfLite/rel" }
license = { name = "MIT" }

[[models.variants]]
id = "relk-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [
  { path = "model.tflite", role = "weights" },
  { path = "extra-a.safetensors", role = "other" },
  { path = "extra-b.safetensors", role = "other" },
  { path = "tokenizer.json", role = "tokenizer" },
  { path = "config.json", role = "config" },
]
outputs = [{ path = "model.tflite", checks = ["tflite-flatbuffer"] }]
"""


def payload(size: int, seed: int, header: bytes = b"") -> bytes:
    rng = random.Random(seed)
    return header + rng.randbytes(size - len(header))


def make_files() -> dict[str, bytes]:
    return {
        "model.tflite": payload(6 * MIB, 1, build_tflite(tensor_names=["w"])),
        "model-int8.tflite": payload(3 * MIB, 2, build_tflite(tensor_names=["q"])),
        "extra-a.safetensors": payload(4 * MIB + 12345, 3),
        "extra-b.safetensors": payload(3 * MIB + 777, 4),
        "tokenizer.json": b'{"model": {"type": "BPE", "vocab": {"a": 0}}}',
        "config.json": b'{"hidden_size": 64}',
    }


VARIANT_FILES = {
    "rel-cpu-fp32": ["model.tflite", "extra-a.safetensors", "extra-b.safetensors", "tokenizer.json", "config.json"],
    "rel-cpu-int8": ["model-int8.tflite", "extra-a.safetensors", "tokenizer.json", "config.json"],
    "relk-cpu-fp32": ["model.tflite", "extra-a.safetensors", "extra-b.safetensors", "tokenizer.json", "config.json"],
}


class World:
    """Local hubs serving the scenario's files (Hugging Face and Kaggle), the plugin that declares them, and a ZOO_HOME."""

    def __init__(self, root: Path, hub: HuggingFaceHub, files: dict[str, bytes], kaggle: KaggleHub | None = None):
        self.root, self.hub, self.files, self.kaggle = root, hub, files, kaggle
        site = root / "site"
        if not site.exists():
            write_plugin_distribution(site, "zoo-rel", "zoo_rel", manifest=MANIFEST)
        self.home = root / "home"
        self.env = {
            "PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_rel", "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_XET": "1",
            "ZOO_HOME": str(self.home), "ZOO_HTTP_TIMEOUT": "2", "ZOO_HTTP_RETRIES": "2", "HF_HUB_DISABLE_TELEMETRY": "1",
        } | ({"ZOO_KAGGLE_ENDPOINT": kaggle.endpoint} if kaggle else {})

    def fresh_home(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def zoo(self, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD",)} | self.env | (env or {})
        return subprocess.run([sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=full, timeout=timeout)

    def popen(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        full = {k: v for k, v in os.environ.items() if k not in ("ZOO_DISABLE_PLUGIN_AUTOLOAD",)} | self.env | (env or {})
        return subprocess.Popen([sys.executable, "-m", "zoo_cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)

    def digest(self, name: str) -> str:
        return hashlib.sha256(self.files[name]).hexdigest()

    def stored_ok(self, variant: str) -> bool:
        artifacts = self.home / "store" / "artifacts" / variant
        return all((artifacts / name).is_file() and (artifacts / name).read_bytes() == self.files[name] for name in VARIANT_FILES[variant])

    def store_is_empty(self) -> bool:
        store = self.home / "store"
        return not list((store / "entries").glob("*.json")) and not list((store / "blobs" / "sha256").glob("*")) if store.exists() else True

    def served_bytes(self, since: int, hub=None) -> int:
        """Body bytes the hub sent (or started to send) to GET requests after request number `since`."""
        total = 0
        for record in (hub or self.hub).requests[since:]:
            if record.method != "GET":
                continue
            name = next((n for n in self.files if record.path.endswith("/" + n) or record.path.endswith(self.digest(n))), None)
            if name is None:
                continue
            start = int(record.range[6:-1]) if record.range else 0
            total += len(self.files[name]) - start
        return total


def sizes(directory: Path, pattern: str) -> list[int]:
    sizes = []
    for path in directory.glob(pattern) if directory.exists() else []:
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:  # renamed by the pull meanwhile
            pass
    return sizes


@contextmanager
def world(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    files = make_files()
    with HuggingFaceHub() as hub, KaggleHub() as kaggle:
        hub.add_repo("acme/rel", files)
        kaggle.add_model("acme/rel/tfLite/rel", files)
        yield World(root, hub, files, kaggle)
