"""Trust, class by class (issue 14): what zoo calls verified is verified, and nothing outside the store is touched.

Each test here failed before its fix; the figures behind them are in benchmarks/reliability.py.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry.download import download, same_origin
from registry.errors import NetworkError

# ---------------------------------------------------------------------------- 9. URL confusion on redirects


class _Recorder(BaseHTTPRequestHandler):
    """Answers GET with a redirect (when told to) or a small body, and records what credentials it saw."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.body
        self.send_response(200)
        if self.server.send_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    started = []

    def start(redirect_to: str | None = None, body: bytes = b"x" * 1000, send_length: bool = True) -> ThreadingHTTPServer:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        srv.redirect_to, srv.body, srv.send_length, srv.seen = redirect_to, body, send_length, []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def _port(srv) -> int:
    return srv.server_address[1]


CONFUSIONS = [
    "http://127.0.0.1:{evil}\\@127.0.0.1:{hub}/x",  # urlsplit: the hub; urllib3: evil
    "http://127.0.0.1:{hub}@127.0.0.1:{evil}/x",  # userinfo that looks like the hub
    "http://127.0.0.1:{evil}#@127.0.0.1:{hub}/x",
    "http://127.0.0.1:{evil}?@127.0.0.1:{hub}/x",
    "http://127.0.0.1:{evil}\t@127.0.0.1:{hub}/x",
    "http://user:pw@127.0.0.1:{hub}/x",  # credentials in a redirect target: refused even to the same origin
    "//127.0.0.1:{evil}/x",  # scheme-relative
    "file:///etc/passwd",
]


@pytest.mark.parametrize("form", CONFUSIONS)
def test_a_redirect_never_carries_the_token_to_another_origin(tmp_path, server, form):
    evil = server()
    hub = server()
    hub.redirect_to = form.format(evil=_port(evil), hub=_port(hub))
    with pytest.raises(NetworkError) as failure:
        download(f"http://127.0.0.1:{_port(hub)}/file", tmp_path / "f.part", expected_size=1000,
                 headers={"Authorization": "Bearer hf_SECRET"}, retries=1)
    assert "redirected" in failure.value.message
    assert evil.seen == []  # never contacted, so no token either
    assert not (tmp_path / "f.part").exists()


def test_same_origin_reads_urls_as_the_connecting_library_does():
    assert same_origin("http://127.0.0.1:5/a", "HTTP://127.0.0.1:5/b")
    assert same_origin("https://hub.example/a", "https://hub.example:443/b")
    assert not same_origin("http://127.0.0.1:5\\@127.0.0.1:6/a", "http://127.0.0.1:6/")
    assert not same_origin("http://u@127.0.0.1:6/a", "http://127.0.0.1:6/")


# ---------------------------------------------------------------------------- 10. unbounded downloads


def test_a_body_of_unknown_size_stops_at_the_ceiling_and_leaves_nothing(tmp_path, server):
    srv = server(body=b"z" * (3 << 20), send_length=False)
    partial = tmp_path / "f.part"
    with pytest.raises(NetworkError) as failure:
        download(f"http://127.0.0.1:{_port(srv)}/f", partial, expected_size=None, max_bytes=1 << 20, retries=1)
    assert "ZOO_MAX_DOWNLOAD_BYTES" in failure.value.message
    assert not partial.exists()


def test_an_announced_size_above_the_ceiling_is_refused_before_the_body(tmp_path, server):
    srv = server(body=b"z" * (3 << 20))
    with pytest.raises(NetworkError, match="more than the"):
        download(f"http://127.0.0.1:{_port(srv)}/f", tmp_path / "f.part", expected_size=None, max_bytes=1 << 20, retries=1)
    assert not (tmp_path / "f.part").exists()
