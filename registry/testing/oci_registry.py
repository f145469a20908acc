"""The CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, for tests and benchmarks.

    with LocalRegistry(tmp_path) as registry:            # anonymous, plain http
        registry.address                                 # "127.0.0.1:PORT"
    with LocalRegistry(tmp_path, users={"ci": "pw"}):    # htpasswd (bcrypt) basic auth
    with LocalRegistry(tmp_path, tls=True):              # https with a self-signed certificate

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
    def __init__(self, root: Path, *, users: dict[str, str] | None = None, tls: bool = False) -> None:
        self.root = Path(root)
        self.users = users or {}
        self.tls = tls
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def certificate(self) -> Path:
        return self.root / "cert.pem"

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
        tls = ""
        if self.tls:  # a self-signed certificate for 127.0.0.1: clients trust it through ZOO_REGISTRY_CA=registry.certificate
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.root / "key.pem"),
                            "-out", str(self.certificate)], check=True, capture_output=True)
            tls = f"  tls:\n    certificate: {self.certificate}\n    key: {self.root / 'key.pem'}\n"
        (self.root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n" + tls + auth
        )
        self.process = subprocess.Popen([binary, "serve", str(self.root / "config.yml")], stdout=subprocess.DEVNULL,
                                        stderr=open(self.root / "registry.log", "wb"))
        deadline = time.monotonic() + 20
        import ssl

        context = ssl.create_default_context(cafile=str(self.certificate)) if self.tls else None
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{'https' if self.tls else 'http'}://{self.address}/v2/", timeout=1, context=context)
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


class PausingRelay:
    """A TCP relay in front of a real server that, once the bytes of a response to a request whose
    first line contains `marker` pass `pause_after`, stops relaying that response for `pause_seconds`:
    the way to catch a client mid-blob (and SIGKILL it) without faking the server.

        with PausingRelay(registry.address, marker="/blobs/sha256:", pause_after=1 << 20) as relay:
            relay.address   # talk to this instead of the registry
    """

    def __init__(self, upstream: str, *, marker: str, pause_after: int, pause_seconds: float = 60) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.marker, self.pause_after, self.pause_seconds = marker.encode(), pause_after, pause_seconds
        self.listener: socket.socket | None = None
        self.port = 0
        self.stopping = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "PausingRelay":
        import threading

        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping = True
        if self.listener is not None:
            self.listener.close()

    def _accept(self) -> None:
        import threading

        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            state = {"watch": False}
            threading.Thread(target=self._requests, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, client, state), daemon=True).start()

    def _requests(self, source: socket.socket, target: socket.socket, state: dict) -> None:
        try:
            while data := source.recv(65536):
                if data[:8].split(b" ")[0] in (b"GET", b"HEAD", b"PUT", b"POST", b"PATCH", b"DELETE"):
                    line = data.split(b"\r\n", 1)[0]
                    state["watch"] = line.startswith(b"GET ") and self.marker in line
                    state["sent"] = 0
                target.sendall(data)
        except OSError:
            pass
        finally:
            _quietly(lambda: source.shutdown(socket.SHUT_RDWR), lambda: target.shutdown(socket.SHUT_RDWR))

    def _responses(self, source: socket.socket, target: socket.socket, state: dict) -> None:
        try:
            while data := source.recv(65536):
                if state.get("watch"):
                    room = self.pause_after - state["sent"]
                    if 0 <= room < len(data):
                        target.sendall(data[:room])
                        state["sent"] += room
                        time.sleep(self.pause_seconds)
                        data = data[room:]
                        state["watch"] = False
                    state["sent"] = state.get("sent", 0) + len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            _quietly(source.close, target.close)


def _quietly(*actions) -> None:
    """Run each socket action; one that fails (the peer is gone) stops none of the others."""
    for action in actions:
        try:
            action()
        except OSError:
            pass


class RedirectingFront:
    """An HTTP front for a registry that answers every blob request with a 307 to the registry itself,
    as CDN-backed registries (GHCR, ECR, Docker Hub) send blobs to storage on another host; everything
    else (manifests, uploads) it relays.

        with RedirectingFront(registry.address) as front:
            front.address   # pull oci://FRONT/... --insecure
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.blob_requests: list[str] = []
        self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "RedirectingFront":
        import http.client
        import re
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _relay(self) -> None:
                if re.match(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$", self.path) and self.command in ("GET", "HEAD"):
                    front.blob_requests.append(f"{self.command} {self.path}")
                    self.send_response(307)
                    self.send_header("Location", f"http://{front.target}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(front.target, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value.replace(front.target, front.address))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
