"""Local servers on 127.0.0.1 that speak the Hugging Face Hub's and Kaggle's download protocols.

They let huggingface_hub and kagglehub run for real in tests (zoo's and plugin authors'), with
no internet: the behaviour they imitate is written down in shared/research/hub-protocols.md.
Both servers log every request and can inject faults (a cut connection, a stall, a lying size,
extra bytes, a redirect to another host) so the clients' and zoo's error paths are exercised.

    with HuggingFaceHub() as hub:
        hub.add_repo("acme/tiny", {"model.safetensors": b"..."}, gated=True, tokens={"hf_good"})
        os.environ["HF_ENDPOINT"] = hub.endpoint   # before importing huggingface_hub
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import google_crc32c


@dataclass
class Fault:
    """What to do to the next matching body transfer; `times` counts down to 0 (-1: forever)."""

    cut_after: int | None = None
    """Close the connection after this many body bytes."""
    stall_seconds: float = 0.0
    """Sleep before sending the body (longer than the client's timeout: a stall)."""
    announce_size: int | None = None
    """Content-Length to announce instead of the real one (a lie)."""
    extra_bytes: int = 0
    """Send this many bytes more than announced."""
    redirect_to: str | None = None
    """Answer 302 to this URL instead of sending the body."""
    corrupt: bool = False
    """Flip one bit in the body (of its last byte, or of the byte at `corrupt_at` in the file)."""
    corrupt_at: int | None = None
    """The file offset whose byte `corrupt` flips; None flips the body's last byte."""
    no_length: bool = False
    """Send no Content-Length: the body ends when the server closes the connection."""
    pause_after: int | None = None
    """Send this many body bytes, then sleep `pause_seconds` before the rest (to kill a client mid-file)."""
    pause_seconds: float = 0.0
    """How long to sleep at `pause_after`."""
    times: int = 1
    """How many matching transfers the fault applies to (-1: every one)."""


@dataclass
class Blob:
    data: bytes | None = None
    path: Path | None = None
    """Big files are served from disk with sendfile, so the server is not the bottleneck."""
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def digest(self, name: str) -> str:
        if name not in self._digests:
            h = google_crc32c.Checksum() if name == "crc32c" else hashlib.new(name)
            if self.data is not None:
                h.update(self.data)
            else:
                with open(self.path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        h.update(block)
            self._digests[name] = h.digest().hex() if name == "crc32c" else h.hexdigest()
        return self._digests[name]

    def storage_hash(self, name: str) -> str:
        """The digest as Google Cloud Storage writes it in X-Goog-Hash: base64 of its bytes."""
        return base64.b64encode(bytes.fromhex(self.digest(name))).decode()


@dataclass
class RequestRecord:
    method: str
    path: str
    range: str | None
    authorized: bool
    origin: str
    connection: int = 0
    """The client's port: requests that share it came over one kept-alive connection."""
    if_range: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # a client that went away is not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: "_Hub"
    origin: str

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> None:
        self.hub.requests.append(
            RequestRecord(self.command, self.path, self.headers.get("Range"), bool(self.headers.get("Authorization")), self.origin,
                          self.client_address[1], self.headers.get("If-Range"))
        )

    def do_HEAD(self) -> None:
        self._record()
        self.hub.handle(self, head=True)

    def do_GET(self) -> None:
        self._record()
        self.hub.handle(self, head=False)

    def do_POST(self) -> None:
        self._record()
        self.hub.handle(self, head=False)

    # -- helpers used by the hubs

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    _PACE_BLOCK = 1 << 16

    def _allowance(self) -> int:
        """How many bytes this connection may send now: all of them unless the hub caps connections.

        A token bucket per connection (the handler lives as long as its connection) holding at
        most a tenth of a second of the rate, so a paused client gets no burst afterwards.
        """
        rate = self.hub.rate_per_connection
        if not rate:
            return 1 << 30
        if not hasattr(self, "_tokens"):
            self._tokens, self._filled_at = 0.0, time.monotonic()
        while True:  # a sleep that overran earns its tokens: the average stays the rate
            now = time.monotonic()
            self._tokens = min(max(rate / 10, self._PACE_BLOCK), self._tokens + (now - self._filled_at) * rate)
            self._filled_at = now
            if self._tokens >= self._PACE_BLOCK:
                break
            time.sleep((self._PACE_BLOCK - self._tokens) / rate)
        self._tokens -= self._PACE_BLOCK
        return self._PACE_BLOCK

    def _write_paced(self, body: bytes) -> None:
        view = memoryview(body)
        while view:
            step = self._allowance()
            self.wfile.write(view[:step])
            view = view[step:]

    def send_blob(self, blob: Blob, fault_key: str, extra_headers: dict[str, str] | None = None, head: bool = False) -> None:
        """A GET or HEAD of a blob as a CDN answers it (ranges, If-Range), with the fault set for it, if any."""
        headers = {"Accept-Ranges": "bytes" if self.hub.accept_ranges else "none", "ETag": f'"{blob.digest("md5")}"',
                   **(extra_headers or {})}
        wanted = self._wanted_range(blob.size, headers)
        if wanted is None:
            self.reply(416, headers={"Content-Range": f"bytes */{blob.size}"}, head=head)
            return
        start, stop, status = wanted
        fault = self.hub.take_fault(fault_key)
        if fault and fault.redirect_to:
            self.reply(302, headers={"Location": fault.redirect_to}, head=head)
            return
        count = stop - start
        announced = fault.announce_size - start if fault and fault.announce_size is not None else count
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if fault and fault.no_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(announced))
        self.end_headers()
        if head:
            return
        if fault and fault.stall_seconds:
            time.sleep(fault.stall_seconds)
        limit = count
        if fault and fault.cut_after is not None:
            limit = max(0, min(count, fault.cut_after - start if fault.cut_after > start else 0))
        try:
            self._send_body(blob, start, limit, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if (fault and fault.cut_after is not None) or limit < announced:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

    def _wanted_range(self, size: int, headers: dict[str, str]) -> tuple[int, int, int] | None:
        """(start, stop, status) the request asks for; None when its range cannot be served (416)."""
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "") or "")
        validator = self.headers.get("If-Range")
        if validator is not None and self.hub.honours_if_range and validator != headers["ETag"]:
            match = None  # RFC 9110: the range was of another object; the whole current one comes instead
        if not (match and self.hub.accept_ranges):
            return 0, size, 200
        start = int(match.group(1))
        stop = min(size, int(match.group(2)) + 1) if match.group(2) else size
        if start >= size or stop <= start:
            return None
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        return start, stop, 206

    def _send_body(self, blob: Blob, start: int, limit: int, fault) -> None:
        if blob.data is None:
            with open(blob.path, "rb") as fh:
                offset, left = start, limit
                while left > 0:
                    sent = os.sendfile(self.connection.fileno(), fh.fileno(), offset, min(left, self._allowance()))
                    if sent == 0:
                        break
                    offset += sent
                    left -= sent
        else:
            body = blob.data[start : start + limit]
            if fault and fault.corrupt and body:
                at = len(body) - 1 if fault.corrupt_at is None else fault.corrupt_at - start
                if 0 <= at < len(body):
                    body = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]
            if fault and fault.pause_after is not None and start < fault.pause_after < start + len(body):
                head_part = fault.pause_after - start
                self._write_paced(body[:head_part])
                time.sleep(fault.pause_seconds)
                body = body[head_part:]
            self._write_paced(body)
        if fault and fault.extra_bytes:
            self.wfile.write(b"\0" * fault.extra_bytes)

class _Hub:
    """Shared plumbing: servers on port 0, a request log, faults."""

    origins: tuple[str, ...] = ("api",)

    def __init__(self) -> None:
        self.accept_ranges = True
        """False: ignore Range and answer 200 with the whole file, as some servers and proxies do."""
        self.honours_if_range = True
        """False: answer a range even when If-Range names another version of the file (a broken server)."""
        self.rate_per_connection: int | None = None
        """Bytes per second each connection may send (a token bucket), as CDNs cap each connection."""
        self.requests: list[RequestRecord] = []
        self.faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self.servers: dict[str, _Server] = {}
        self.threads: list[threading.Thread] = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        for origin in self.origins:
            handler = type(f"{type(self).__name__}{origin.title()}Handler", (_Handler,), {"hub": self, "origin": origin})
            server = _Server(("127.0.0.1", 0), handler)
            self.servers[origin] = server
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def url(self, origin: str) -> str:
        host, port = self.servers[origin].server_address[:2]
        return f"http://{host}:{port}"

    def add_fault(self, key: str, fault: Fault) -> None:
        with self._lock:
            self.faults[key] = fault

    def take_fault(self, key: str) -> Fault | None:
        with self._lock:
            fault = self.faults.get(key)
            if fault is None:
                return None
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    del self.faults[key]
            return fault

    def body_requests(self, fragment: str = "") -> list[RequestRecord]:
        return [r for r in self.requests if r.method == "GET" and fragment in r.path]

    def handle(self, handler: _Handler, head: bool) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# ---------------------------------------------------------------------------- Hugging Face


@dataclass
class HFRepo:
    files: dict[str, Blob]
    commit: str
    gated: bool = False
    tokens: set[str] = field(default_factory=set)
    lfs: set[str] = field(default_factory=set)


def _git_blob_sha1(blob: Blob) -> str:
    h = hashlib.sha1()
    h.update(f"blob {blob.size}\0".encode())
    h.update(blob.data if blob.data is not None else blob.path.read_bytes())
    return h.hexdigest()  # only small (non-LFS) files get here


class HuggingFaceHub(_Hub):
    """Two origins, as the real hub: `api` (HF_ENDPOINT) resolves, `cdn` serves LFS bytes."""

    origins = ("api", "cdn")

    def __init__(self) -> None:
        super().__init__()
        self.repos: dict[str, HFRepo] = {}
        self.lfs_blobs: dict[str, Blob] = {}

    @property
    def endpoint(self) -> str:
        return self.url("api")

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes | Path],
        *,
        gated: bool = False,
        tokens: set[str] | None = None,
        lfs_suffixes: tuple[str, ...] = (".safetensors", ".bin", ".h5", ".tflite", ".task", ".litertlm", ".model"),
    ) -> HFRepo:
        """Serve `files` (path in the repo -> bytes, or a Path served from disk) as the repo `repo_id`.

        Files ending in `lfs_suffixes` are LFS files, as on the real hub: resolved with their
        sha256 as ETag and a redirect to the `cdn` origin; others are small git files (ETag: the git
        blob id). `gated` answers 401/403 unless a request carries one of `tokens` as a bearer token.
        """
        blobs = {p: Blob(data=v) if isinstance(v, bytes) else Blob(path=Path(v)) for p, v in files.items()}
        commit = hashlib.sha1(repo_id.encode() + b"".join(sorted(b.digest("sha256").encode() for b in blobs.values()))).hexdigest()
        repo = HFRepo(blobs, commit, gated, set(tokens or ()))
        for path, blob in blobs.items():
            if path.endswith(lfs_suffixes):
                repo.lfs.add(path)
                self.lfs_blobs[blob.digest("sha256")] = blob
        self.repos[repo_id] = repo
        return repo

    def _error(self, handler: _Handler, status: int, code: str, head: bool) -> None:
        body = json.dumps({"error": code}).encode()
        handler.reply(status, body, {"X-Error-Code": code, "Content-Type": "application/json"}, head=head)

    def handle(self, handler: _Handler, head: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        if handler.origin == "cdn":
            digest = path.strip("/").split("/")[-1]
            blob = self.lfs_blobs.get(digest)
            if blob is None:
                handler.reply(404, b"not found", head=head)
                return
            handler.send_blob(blob, digest, head=head)
            return
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)", path)
        repo_id = (match or api).group(1) if (match or api) else None
        repo = self.repos.get(repo_id) if repo_id else None
        if repo is None:
            self._error(handler, 404 if repo_id else 404, "RepoNotFound", head)
            return
        auth = handler.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if repo.gated and token not in repo.tokens:
            self._error(handler, 401 if token is None else 403, "GatedRepo", head)
            return
        revision = match.group(2) if match else api.group(3)
        if revision not in ("main", repo.commit):
            self._error(handler, 404, "RevisionNotFound", head)
            return
        if api and api.group(2) == "revision":
            handler.reply(200, json.dumps({"id": repo_id, "sha": repo.commit}).encode(), {"Content-Type": "application/json"}, head=head)
            return
        if api:  # the tree listing, in one page
            entries = []
            for file_path, blob in sorted(repo.files.items()):
                entry = {"type": "file", "path": file_path, "size": blob.size, "oid": _git_blob_sha1(blob) if file_path not in repo.lfs else blob.digest("sha1")}
                if file_path in repo.lfs:
                    entry["lfs"] = {"oid": blob.digest("sha256"), "size": blob.size, "pointerSize": 134}
                entries.append(entry)
            handler.reply(200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, head=head)
            return
        file_path = match.group(3)
        blob = repo.files.get(file_path)
        if blob is None:
            self._error(handler, 404, "EntryNotFound", head)
            return
        common = {"X-Repo-Commit": repo.commit}
        if file_path in repo.lfs:
            sha = blob.digest("sha256")
            fault = self.take_fault(f"resolve:{file_path}")
            location = fault.redirect_to if fault and fault.redirect_to else f"{self.url('cdn')}/lfs/{sha}"
            handler.reply(
                302,
                headers={**common, "Location": location, "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(blob.size), "ETag": f'"{sha}"'},
                head=head,
            )
            return
        handler.send_blob(blob, file_path, {**common, "ETag": f'"{_git_blob_sha1(blob)}"'}, head=head)


# ---------------------------------------------------------------------------- Kaggle


@dataclass
class KaggleInstance:
    files: dict[str, Blob]
    version: int
    gated: bool = False
    tokens: set[str] = field(default_factory=set)
    zipped: dict[str, Blob] = field(default_factory=dict)
    """Files Kaggle serves as a zip holding them: the download redirects to `<name>.zip`."""


class KaggleHub(_Hub):
    """The ModelApiService RPCs kagglehub calls, with downloads redirected to a Range-capable GET."""

    def __init__(self) -> None:
        super().__init__()
        self.instances: dict[str, KaggleInstance] = {}
        self.hub_version: str | None = None
        """Sent as X-Kaggle-HubVersion on every API answer, as Kaggle does to tell clients a newer kagglehub exists."""
        self.listed_sizes: dict[str, object] = {}
        self.storage_hashes: tuple[str, ...] = ("crc32c", "md5")
        """What X-Goog-Hash carries, as Google Cloud Storage sends it (md5 only on non-composite objects)."""
        """File name -> the size ListModelInstanceVersionFiles claims instead of the real one (a hostile listing)."""

    @property
    def endpoint(self) -> str:
        return self.url("api")

    def add_model(self, handle: str, files: dict[str, bytes | Path], *, version: int = 1, gated: bool = False,
                  tokens: set[str] | None = None, zipped: dict[str, bytes] | None = None) -> KaggleInstance:
        """`handle` is owner/model/framework/variation (framework as in the URL, e.g. tfLite).

        `zipped` maps a file's name to the zip served in its place (listed with the file's own size).
        """
        blobs = {p: Blob(data=v) if isinstance(v, bytes) else Blob(path=Path(v)) for p, v in files.items()}
        instance = KaggleInstance(blobs, version, gated, set(tokens or ()), {p: Blob(data=v) for p, v in (zipped or {}).items()})
        self.instances[handle.lower()] = instance
        return instance

    def _find(self, body: dict) -> tuple[str, KaggleInstance | None]:
        framework = str(body.get("framework", "")).removeprefix("MODEL_FRAMEWORK_").replace("_", "").lower()
        for handle, instance in self.instances.items():
            owner, model, fw, variation = handle.split("/")
            if (owner, model, variation) == (str(body.get("ownerSlug", "")).lower(), str(body.get("modelSlug", "")).lower(),
                                              str(body.get("instanceSlug", "")).lower()) and fw.replace("_", "") == framework:
                return handle, instance
        return "", None

    def _authorized(self, handler: _Handler, instance: KaggleInstance) -> int | None:
        auth = handler.headers.get("Authorization", "")
        if not instance.gated:
            return None
        if not auth:
            return 401
        token = auth.split(" ", 1)[-1]
        if auth.startswith("Basic "):
            token = base64.b64decode(token).decode().split(":", 1)[-1]
        return None if token in instance.tokens else 403

    def handle(self, handler: _Handler, head: bool) -> None:
        path = urlsplit(handler.path).path
        if handler.command == "GET" and path.startswith("/download/"):
            _, _, handle_key, version, file_path = path.split("/", 4)
            instance = self.instances.get(unquote(handle_key).lower())
            name = unquote(file_path)
            blob = None
            if instance and name.endswith(".zip") and name[:-4] in instance.zipped:
                blob = instance.zipped[name[:-4]]
            elif instance:
                blob = instance.files.get(name)
            if blob is None:
                handler.reply(404, b"not found", head=head)
                return
            hashes = ",".join(f"{name}={blob.storage_hash(name)}" for name in self.storage_hashes)
            storage = {"X-Goog-Hash": hashes} if hashes else {}
            handler.send_blob(blob, unquote(file_path), {**storage, "Content-Type": "application/octet-stream"}, head=head)
            return
        rpc = path.rsplit("/", 1)[-1]
        api_headers = {"Content-Type": "application/json", **({"X-Kaggle-HubVersion": self.hub_version} if self.hub_version else {})}
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}") if length else {}
        handle, instance = self._find(body)
        if instance is None:
            handler.reply(404, json.dumps({"code": 404, "message": "Resource not found"}).encode(), api_headers)
            return
        status = self._authorized(handler, instance)
        if status:
            message = "You must accept the model's licence (consent)" if status == 403 else "Unauthenticated"
            handler.reply(status, json.dumps({"code": status, "message": message}).encode(), api_headers)
            return
        if rpc == "GetModelInstance":
            handler.reply(200, json.dumps({"versionNumber": instance.version}).encode(), api_headers)
        elif rpc == "ListModelInstanceVersionFiles":
            files = [{"name": name, "size": self.listed_sizes.get(name, blob.size)} for name, blob in sorted(instance.files.items())]
            handler.reply(200, json.dumps({"files": files, "nextPageToken": ""}).encode(), api_headers)
        elif rpc == "DownloadModelInstanceVersion":
            file_path = body.get("path") or ""
            if file_path not in instance.files:
                handler.reply(404, json.dumps({"code": 404, "message": "Resource not found"}).encode(), api_headers)
                return
            from urllib.parse import quote

            served = file_path + ".zip" if file_path in instance.zipped else file_path
            location = f"{self.endpoint}/download/{quote(handle, safe='')}/{instance.version}/{quote(served)}"
            handler.reply(302, headers={**{k: v for k, v in api_headers.items() if k != "Content-Type"}, "Location": location})
        else:
            handler.reply(404, json.dumps({"code": 404, "message": f"unknown RPC {rpc}"}).encode(), {"Content-Type": "application/json"})
