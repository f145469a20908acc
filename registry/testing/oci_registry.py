"""The CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, for tests and benchmarks.

    with LocalRegistry(tmp_path) as registry:            # anonymous, plain http
        registry.address                                 # "127.0.0.1:PORT"
    with LocalRegistry(tmp_path, users={"ci": "pw"}):    # htpasswd (bcrypt) basic auth

A real registry, not a mock: it checks every uploaded blob against its digest and serves what it
stored. Its files live under `root`, so a test can corrupt a stored blob on purpose.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


class RegistryMissing(RuntimeError):
    pass


class LocalRegistry:
    def __init__(self, root: Path, *, users: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.users = users or {}
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def __enter__(self) -> "LocalRegistry":
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RegistryMissing("docker-registry is not installed: `apt-get install docker-registry` (.ci/run does)")
        self.root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        auth = ""
        if self.users:
            lines = []
            for user, password in self.users.items():
                made = subprocess.run(["htpasswd", "-nbB", user, password], capture_output=True, text=True, check=True)
                lines.append(made.stdout.strip())
            (self.root / "htpasswd").write_text("\n".join(lines) + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: zoo-test\n    path: {self.root / 'htpasswd'}\n"
        (self.root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n" + auth
        )
        self.process = subprocess.Popen([binary, "serve", str(self.root / "config.yml")], stdout=subprocess.DEVNULL,
                                        stderr=open(self.root / "registry.log", "wb"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:  # 401 with auth on: it answers
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"docker-registry did not start: {(self.root / 'registry.log').read_text()[-500:]}")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (filesystem driver layout)."""
        hexdigest = digest.removeprefix("sha256:")
        return self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"
