"""What several test modules share, in one place: no test module imports another.

Running the real CLI (run_zoo), toolchains, plugin packages installed for real (pip) or written as
pip leaves them, the pack test plugin, the local-hub test family, and the manifests the manifest,
plugin and fuzz tests start from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from registry.testing.plugins import write_plugin_distribution

HERE = Path(__file__).parent
REPO = HERE.parent
HF_TOKEN = "hf_TESTSECRETtokenValue0123456789"


# ---------------------------------------------------------------------------- the CLI and toolchains


def toolchain_python(spec) -> Path:
    """The Python of a converter toolchain, created in ZOO_TOOLCHAINS on first use (minutes), then reused."""
    from registry import settings, toolchains

    settings.reload()  # module-scoped fixtures run outside a test's isolated settings
    return toolchains.ensure(spec, print).interpreter


def pure_wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel, so a toolchain can be built from a local folder of packages."""
    import zipfile

    module = name.replace("-", "_")
    path = directory / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{module}/__init__.py", f"VERSION = {version!r}\n")
        wheel.writestr(f"{info}/METADATA", metadata)
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: zoo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


def tflite_file(size: int, seed: int | str) -> bytes:
    """A valid TFLite flatbuffer padded to `size` bytes with content that depends on `seed` (the same seed,
    the same bytes), for hubs to serve."""
    from registry.api import build_tflite

    rng = hashlib.sha256(str(seed).encode()).digest()
    body = build_tflite(tensor_names=["w"], subgraph_name=f"m{seed}")
    return body + (rng * (size // 32 + 1))[: max(0, size - len(body))]


def run_zoo(*args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `zoo` console entry point in a child process with the test's environment (and `input` on stdin)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "zoo_cli", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO,
        input=input if input is not None else "",
    )
    if check and result.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


# ---------------------------------------------------------------------------- plugin packages


ACME_MANIFEST = """
schema_version = 1
family = "acme"
description = "A third-party family for tests."

[[models]]
name = "acme-lm"
description = "Acme's tiny LM."
platforms = ["android"]
source = { kind = "https", url = "https://models.example.com/acme" }
license = { name = "MIT", spdx = "MIT", url = "https://opensource.org/license/mit" }

[[models.variants]]
id = "acme-lm-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [{ path = "acme-lm-cpu-int8.tflite", role = "weights" }]
"""

HOOKS_WITH_MANIFEST = """
from pathlib import Path
from registry.hookspecs import hookimpl

@hookimpl
def register_families(register):
    register(Path(__file__).parent / "family.toml")
"""


def install_plugin_package(
    root: Path, distribution: str, module: str, source: str, *, manifest: str | None = None, entry_point: str | None = None,
    version: str = "1.0.0",
) -> Path:
    """Write a package `distribution` whose module `module` holds `source`; pip-install it into a target dir."""
    project = root / f"src-{distribution}"
    package = project / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(source))
    if manifest is not None:
        (package / "family.toml").write_text(textwrap.dedent(manifest))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{distribution}"
            version = "{version}"

            [project.entry-points.zoo]
            {entry_point or module} = "{module}"

            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    target = root / f"site-{distribution}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(project)],
        check=True,
        capture_output=True,
    )
    return target


def install_pack_plugin(root: Path) -> tuple[dict[str, str], Path]:
    """Install the pack test plugin under root/site with its checkpoint beside its manifest; (env, package)."""
    site = root / "site"
    write_plugin_distribution(site, "zoo-pack-test", "zoo_pack_test", source=(HERE / "plugins" / "pack_plugin.py").read_text())
    package = site / "zoo_pack_test"
    shutil.copy(HERE / "plugins" / "pack_runner.py", package)
    shutil.copy(HERE / "plugins" / "pack_family.toml", package)
    ckpt = package / "ckpt"
    ckpt.mkdir()
    (ckpt / "weights.bin").write_bytes(os.urandom(100_000))
    (ckpt / "tokenizer.json").write_text('{"model": {"type": "BPE"}}')
    return {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_pack_test"}, package


# ---------------------------------------------------------------------------- the local-hub test family (test_pull)


PULL_MANIFEST = """
schema_version = 1
family = "testhf"
description = "Test family served by the local Hugging Face hub."

[[models]]
name = "tiny-hf"
description = "A tiny prebuilt model."
platforms = ["android"]
source = {{ kind = "huggingface", repo = "acme/tiny-lm", revision = "main" }}
license = {{ name = "MIT", spdx = "MIT", url = "https://opensource.org/license/mit" }}

[[models.variants]]
id = "tiny-hf-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [
  {{ path = "model.tflite", role = "weights"{weights_pin} }},
  {{ path = "tokenizer.json", role = "tokenizer" }},
  {{ path = "config.json", role = "config" }},
]
outputs = [{{ path = "model.tflite", checks = ["tflite-flatbuffer"] }}]

[[models.variants]]
id = "tiny-hf-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [
  {{ path = "model-int8.tflite", role = "weights" }},
  {{ path = "tokenizer.json", role = "tokenizer" }},
  {{ path = "config.json", role = "config" }},
]
outputs = [{{ path = "model-int8.tflite", checks = ["tflite-flatbuffer"] }}]

[[models]]
name = "gated-hf"
description = "A gated model."
platforms = ["android"]
source = {{ kind = "huggingface", repo = "acme/gated-lm" }}
license = {{ name = "Acme licence", url = "https://example.com/licence", gated = true, accept_url = "https://huggingface.co/acme/gated-lm" }}

[[models.variants]]
id = "gated-hf-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [{{ path = "model.tflite", role = "weights" }}]
outputs = [{{ path = "model.tflite", checks = ["tflite-flatbuffer"] }}]
"""


def make_env(tmp_path: Path, hubs, weights_pin: str = "", **extra) -> dict[str, str]:
    hf, kaggle = hubs
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-testhf", "zoo_testhf", manifest=PULL_MANIFEST.format(weights_pin=weights_pin))
    env = {
        "PYTHONPATH": str(site),
        "ZOO_LOAD_PLUGINS": "zoo_testhf",
        "HF_ENDPOINT": hf.endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "ZOO_KAGGLE_ENDPOINT": kaggle.endpoint,
        "ZOO_HTTP_TIMEOUT": "5",
        "ZOO_HTTP_RETRIES": "3",
    }
    env.update(extra)
    return env


# ---------------------------------------------------------------------------- manifests tests start from


VALID_MANIFEST = {
    "schema_version": 1,
    "family": "tiny",
    "description": "A family for tests.",
    "models": [
        {
            "name": "tiny-lm",
            "description": "A tiny model.",
            "license": {"name": "MIT", "spdx": "MIT", "url": "https://opensource.org/license/mit"},
            "platforms": ["android", "ios", "web"],
            "source": {"kind": "huggingface", "repo": "acme/tiny-lm", "revision": "main"},
            "files": [{"path": "model.safetensors", "role": "weights"}, {"path": "tokenizer.json", "role": "tokenizer"}],
            "recipe": {"converter": "mediapipe", "params": {"model_type": "PHI_2"}},
            "variants": [
                {"id": "tiny-lm-gpu-int8", "backend": "gpu", "quantization": "int8", "format": "bin"},
                {"id": "tiny-lm-cpu-int8", "backend": "cpu", "quantization": "int8", "format": "bin", "platforms": ["android"]},
            ],
        }
    ],
}


FUZZ_MANIFEST = {
    "schema_version": 1,
    "family": "fuzz",
    "description": "d",
    "models": [{
        "name": "fuzz-lm", "description": "d", "platforms": ["android"], "license": {"name": "MIT"},
        "source": {"kind": "huggingface", "repo": "a/b"},
        "files": [{"path": "m.tflite", "role": "weights"}],
        "variants": [{"id": "fuzz-lm-cpu-int8", "backend": "cpu", "quantization": "int8", "format": "tflite"}],
    }],
}


def start_hanging_build(env: dict, home: Path, **popen) -> tuple[subprocess.Popen, int]:
    """`zoo build hanger` (the pack test plugin's step that runs until stopped), started, and the pid of
    its step once the step is running."""
    import time

    process = subprocess.Popen([sys.executable, "-m", "zoo_cli", "build", "hanger"],
                               env=os.environ | env | {"ZOO_HOME": str(home)}, **popen)
    deadline = time.monotonic() + 60
    while not list(home.glob("builds/*/hang.pid")) and time.monotonic() < deadline:
        time.sleep(0.1)
    [pid_file] = list(home.glob("builds/*/hang.pid"))
    return process, int(pid_file.read_text())


def ends_soon(pid: int, seconds: float = 5.0) -> bool:
    """Whether `pid` stops running within `seconds`; a zombie (dead, not yet reaped by whoever adopted
    it) counts as stopped. A process still running then is killed, so no test leaves one behind."""
    import signal
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return False


class ZooServer:
    """`zoo serve --port 0` in the background, its URL read from its first line; stop() checks no engine
    outlives it."""

    def __init__(self, env: dict, *args: str, ignore_sigint: bool = False) -> None:
        def background():  # what a non-interactive shell does to a job it starts with `&`
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        self.process = subprocess.Popen(
            [sys.executable, "-m", "zoo_cli", "serve", "--port", "0", *args], cwd=REPO, text=True,
            env=dict(os.environ) | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=background if ignore_sigint else None)
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.process.stderr.read()

    def engines(self) -> list[int]:
        """The engine processes this server started (its children running the LiteRT-LM runner)."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and "litertlm_serve.py" in (proc / "cmdline").read_text():
                    stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(stat[1]) == self.process.pid:
                        found.append(int(proc.name))
            except OSError:
                continue
        return found

    def stop(self, number=signal.SIGTERM) -> int:
        engines = self.engines()
        self.process.send_signal(number)
        code = self.process.wait(timeout=30)
        time.sleep(0.5)
        assert not [pid for pid in engines if Path(f"/proc/{pid}").exists()], "an engine outlived zoo serve"
        return code
