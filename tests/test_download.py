"""registry.download against a server that frames the body each way HTTP/1.1 allows.

The hub servers always send Content-Length; a mirror or proxy may stream a chunked body or
close the connection at the end instead, and the downloader takes another path for each.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry.download import download

BODY = hashlib.sha256(b"zoo").digest() * 300_000  # 9.6 MB: more than two of the downloader's buffers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.gets += 1
        self.server.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        if self.server.gets > 1:  # one GET fetches the whole file; a downloader that asks again fails here
            self.send_error(404)
            return
        framing = self.server.framing
        self.send_response(200)
        if framing == "length":
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(BODY), 300_001):
                piece = BODY[start : start + 300_001]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:  # the body ends where the connection does
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    servers = []

    def start(framing: str) -> tuple[str, ThreadingHTTPServer]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.framing, server.gets, server.seen = framing, 0, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/model.bin", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
@pytest.mark.parametrize("size_known", [True, False])
def test_every_body_framing_arrives_whole_and_hashed(tmp_path, serve, framing, size_known):
    partial = tmp_path / "model.bin.part"
    seen = []
    url, server = serve(framing)
    result = download(url, partial, expected_size=len(BODY) if size_known else None, on_bytes=seen.append)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert result.size == len(BODY) and result.resumed_from == 0
    assert partial.read_bytes() == BODY
    assert sum(seen) == len(BODY)
    assert server.gets == 1


def test_a_server_that_ignores_range_gets_the_file_started_over(tmp_path, serve):
    """Appending its whole body to the partial would store the first megabyte twice."""
    partial = tmp_path / "model.bin.part"
    partial.write_bytes(BODY[:1_000_000])
    url, server = serve("length")
    result = download(url, partial, expected_size=len(BODY))
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert partial.read_bytes() == BODY and server.gets == 1


def test_the_proxy_the_environment_names_is_used_with_its_credentials(tmp_path, serve, monkeypatch):
    """As requests did before zoo moved to urllib3: HTTP_PROXY with user:password, and NO_PROXY."""
    url, origin = serve("length")
    _, proxy = serve("length")  # a forward proxy that answers for the origin itself
    proxy_port = proxy.server_address[1]
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://zoo%40user:s3cret@127.0.0.1:{proxy_port}")
    result = download(url, tmp_path / "via-proxy.part", expected_size=len(BODY))
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert origin.gets == 0 and proxy.gets == 1
    [(target, credentials)] = proxy.seen
    assert target == url  # the absolute form a proxy is asked for
    assert base64.b64decode(credentials.removeprefix("Basic ")) == b"zoo@user:s3cret"

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    download(url, tmp_path / "direct.part", expected_size=len(BODY))
    assert origin.gets == 1 and proxy.gets == 1
