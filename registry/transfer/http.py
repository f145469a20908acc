"""The bottom of the transfer layer: HTTP and the local disk, as every download uses them.

Addresses and origins (credentials and redirects follow the origin rule), the connection pool, a
GET that follows redirects within its origin only, the statuses that end a download or call for
another try, a body read straight into zoo's buffers, and writes to the partial file whose
failures are the disk's, not the network's. Everything above (registry/transfer/stream.py,
pieces.py, registry/download.py) imports these names; nothing here imports upward.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from ..errors import NetworkError

CHUNK = 1 << 20  # 1 MiB file reads: big enough that Python overhead disappears next to the copy


@dataclass
class DownloadResult:
    sha256: str
    size: int
    resumed_from: int
    """Bytes that were already on disk when this run started."""
    crc32c: str | None = None
    """The bytes' crc32c (base64, as storage services write it)."""
    storage_checked: bool = False
    """The storage server sent a checksum of the object, and these bytes match it."""


class LocalWriteFailed(Exception):
    """Writing to the local disk failed (ENOSPC, EACCES)."""


def write_all(fd: int, block: bytes) -> None:
    view = memoryview(block)
    while view:
        view = view[local_write(os.write, fd, view):]


def local_write(operation, *args):
    """Run one file operation of a download, telling the disk's failures apart from the network's.

    The socket's errors are OSErrors too, so the two must be separated where the call is made.
    """
    try:
        return operation(*args)
    except OSError as exc:
        raise LocalWriteFailed(exc) from exc


class RetryLater(Exception):
    """A failure worth retrying that no library raised: a 5xx or 429, or a body cut short."""


class ServerMisbehaved(Exception):
    """A protocol violation: not worth retrying blindly, but the partial may be kept or dropped."""


class StorageChecksumDiffers(NetworkError):
    """The bytes that arrived do not hash to the checksum the storage server sent for the object."""

    def __init__(self, message: str, *, announced: str, got: str | None, fix: str):
        super().__init__(message, fix=fix)
        self.announced, self.got = announced, got


class SizeDiffers(NetworkError):
    """The server announces a size other than the one expected: the file there is not the one pinned."""

    def __init__(self, message: str, *, announced: int, expected: int):
        super().__init__(message, fix="Check that the manifest pins the file the hub now serves.")
        self.announced, self.expected = announced, expected


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) as urllib3, the library that connects, reads the URL.

    Python's urlsplit and urllib3 disagree on some strings (`http://a:1\\@b:2/` is b:2 to one and
    a:1 to the other), so a check made with one parser and a connection made with the other
    can be fooled into sending a token to another port or host. Every origin zoo compares comes
    from here, and a URL with userinfo, a backslash, whitespace or a control character is refused
    outright (ValueError): no hub has a reason to send one.
    """
    import urllib3

    if any(ch == "\\" or ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValueError("it holds a backslash, whitespace or a control character")
    parsed = urllib3.util.parse_url(url)
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("its scheme is not http or https")
    if parsed.auth is not None or "@" in (parsed.netloc or ""):
        raise ValueError("it carries a user name or password")
    if not parsed.host:
        raise ValueError("it names no host")
    return scheme, parsed.host.lower().strip("[]"), parsed.port or _DEFAULT_PORTS[scheme]


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs reach the same server; False when either is refused by `origin`."""
    try:
        return origin(a) == origin(b)
    except ValueError:
        return False


def pool_for(url: str, ca_certs: str | None = None, connections: int = 1):
    """A urllib3 pool for `url`, through the proxy the environment names for it (HTTPS_PROXY, NO_PROXY).

    urllib3 is the layer requests wraps, and the download needs none of requests' extras, while
    importing requests cost every Hugging Face pull 23 ms (its charset detection tables; the hub
    client itself talks through httpx). What requests did for the download is kept: proxies from
    the environment, with their credentials, and certifi's CA bundle unless REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE names another.
    """
    from urllib.parse import unquote
    from urllib.request import getproxies, proxy_bypass

    import certifi
    import urllib3

    ca_certs = ca_certs or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(parts.hostname or ""):
        auth = urllib3.util.parse_url(proxy).auth
        proxy_headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
        return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, ca_certs=ca_certs, maxsize=connections)
    return urllib3.PoolManager(ca_certs=ca_certs, maxsize=connections)


def refuse_status(response, url: str, what: str) -> None:
    """Statuses that end a download (NetworkError) or call for another try (RetryLater)."""
    if response.status in (401, 403, 404):
        raise NetworkError(
            f"The server answered {response.status} for {what} ({safe_url(url)}).",
            fix="Check that the file still exists and that your credentials can read it.",
        )
    if response.status >= 500 or response.status == 429:
        raise RetryLater(f"the server answered {response.status}")


def body_reader(response) -> Callable[[memoryview], int]:
    """A function that reads what the socket has of the body into a buffer: 0 at the end.

    urllib3 only offers read(), which allocates each block and copies it once more.
    urllib3 keeps the standard library's response as `_fp`, and its buffered socket file reads
    straight into zoo's buffer, one recv at a time, so bytes reach the disk (and a resume) as
    they arrive. Chunked bodies, and any change in urllib3, take the slower, general path.
    """
    message = getattr(response, "_fp", None)
    stream = getattr(message, "fp", None)
    if stream is not None and hasattr(stream, "readinto1") and getattr(message, "chunked", True) is False:
        remaining = getattr(message, "length", None)  # None: the body ends when the server closes

        def read_some(buffer: memoryview) -> int:
            nonlocal remaining
            if remaining is not None:
                if remaining <= 0:
                    return 0
                buffer = buffer[:remaining]
            received = stream.readinto1(buffer)
            if remaining is not None:
                remaining -= received
            return received

        return read_some
    read = getattr(response, "read1", None) or response.read

    def read_some(buffer: memoryview) -> int:
        block = read(len(buffer), decode_content=False)
        buffer[: len(block)] = block
        return len(block)

    return read_some


def get_following_same_origin(pool, url: str, headers, timeout: float):
    """GET, following redirects only within the origin: the hub client already resolved the file's
    host, and a server that moves the download to another host midway is refused, not followed."""
    import urllib3

    for _ in range(5):
        response = pool.request(
            "GET", url, headers=headers, preload_content=False, decode_content=False, redirect=False, retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )
        if response.status not in (301, 302, 303, 307, 308):
            return response
        location = response.headers.get("Location", "")
        response.close()
        target = resolve_location(url, location)
        try:
            origin(target)
        except ValueError as exc:
            raise ServerMisbehaved(f"it redirected the download to an address zoo refuses ({exc})") from None
        if not same_origin(target, url):
            raise ServerMisbehaved(f"it redirected the download to another host ({safe_url(target)})")
        url = target
    raise ServerMisbehaved("too many redirects")


def resolve_location(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location)


def reason(exc: BaseException) -> str:
    """The last error in one line: its text alone when zoo raised it, the library's name for it otherwise."""
    text = str(exc).strip()
    text = text.splitlines()[0][:200] if text else ""
    return text if isinstance(exc, RetryLater) else f"{type(exc).__name__}: {text}"


def safe_url(url: str) -> str:
    """The URL without its query string, which may carry signed credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
