"""The OCI distribution protocol, as much of it as sharing artifacts needs: references, the
registry's token and basic auth, blobs (exists, upload, where to download) and manifests.

Everything a registry says is untrusted: manifests and configs are read bounded and checked
against their digests, and blob bytes go through zoo's downloader, which hashes them as they
arrive (registry.download). Credentials come from ZOO_REGISTRY_USER / ZOO_REGISTRY_PASSWORD or
the docker config (its credential helpers too: registry/registry_credentials.py); they are sent to the registry (or its token service) over https only
(plain http only for a loopback registry the user marked --insecure), never printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from . import settings
from .errors import AccessDeniedError, NetworkError, SourceNotFoundError, ZooError
from .registry_credentials import Credentials, credentials_for

MAX_MANIFEST = 4 << 20
MAX_TOKEN_ANSWER = 64 << 10
"""A token service's JSON answer: a token is a few KiB; more is no token service's."""
MAX_OTHER_ANSWER = 64 << 10
"""What zoo reads of an answer it only needs the status and headers of; the rest is dropped with the connection."""
MAX_REDIRECTS = 5
"""Hops a blob request may take (a CDN-backed registry uses one)."""
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",)
_REFERENCE = re.compile(
    r"(?:oci://)?(?P<registry>[A-Za-z0-9.-]+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)/"
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Reference":
        match = _REFERENCE.fullmatch(text.strip())
        if not match:
            raise ZooError(f"'{text[:200]}' is not an OCI reference.",
                           fix="Write it as REGISTRY/REPOSITORY[:TAG] or REGISTRY/REPOSITORY@sha256:DIGEST, e.g. "
                           "registry.example.com/team/phi-2:gpu-int4 (repository names are lowercase).")
        return cls(match["registry"], match["repository"], match["tag"], match["digest"])

    @property
    def ref(self) -> str:
        """What the manifest is asked for by: the digest when there is one, else the tag (default latest)."""
        return self.digest or self.tag or "latest"

    @property
    def loopback(self) -> bool:
        return self.registry.rsplit(":", 1)[0] in LOOPBACK or self.registry.startswith("[::1]")

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _basic(credentials: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()


def bounded_body(response, limit: int, what: str) -> bytes:
    """An answer's body as sent, at most `limit` bytes: never decoded (zoo asks for identity, and a gzip
    answer could inflate a thousandfold) and never read past the limit. NetworkError otherwise."""
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise NetworkError(f"The registry sent {what} compressed ({encoding[:40]}) although zoo asked for it plain.",
                           fix="Check the registry or the proxy in between; zoo reads registry answers uncompressed.")
    raw = response.read(limit + 1, decode_content=False)
    if len(raw) > limit:
        raise NetworkError(f"The registry sent more than {limit} bytes for {what}; zoo read no further.",
                           fix="Check the reference; if it persists the registry is broken or hostile.")
    return raw


def _drop_body(response) -> None:
    """Read a little of an answer zoo needs only the status and headers of; a longer one goes with its connection."""
    try:
        rest = response.read(MAX_OTHER_ANSWER + 1, decode_content=False)
    except Exception:  # noqa: BLE001 - a body that breaks off is no body zoo wanted
        rest = b"x" * (MAX_OTHER_ANSWER + 1)
    if len(rest) > MAX_OTHER_ANSWER:
        response.close()
    else:
        response.release_conn()


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Registry:
    """One registry, one repository's access (pull, or pull and push)."""

    def __init__(self, reference: Reference, *, insecure: bool = False, push: bool = False, timeout: float = 30.0):
        import urllib3

        if insecure and not (reference.loopback or reference.registry in os.environ.get("ZOO_INSECURE_REGISTRIES", "").split(",")):
            raise ZooError(f"--insecure (plain http) is allowed for a registry on this machine only, not {reference.registry}.",
                           fix="Serve the registry over https, or list it in ZOO_INSECURE_REGISTRIES if it is on a network you trust.")
        self.reference = reference
        self.base = f"{'http' if insecure else 'https'}://{reference.registry}"
        self.scope = f"repository:{reference.repository}:{'pull,push' if push else 'pull'}"
        self.timeout = timeout
        self.credentials = credentials_for(reference.registry)
        self.authorization: str | None = None
        import certifi

        ca = settings.get().registry_ca
        if ca is not None and not ca.is_file():  # else urllib3 reports every registry's certificate as untrusted
            raise ZooError(f"ZOO_REGISTRY_CA names {ca}, which is not a file.",
                           fix="Set ZOO_REGISTRY_CA to the registry's certificate (or its CA) in PEM, or unset it.")
        self.ca_certs = str(ca) if ca is not None else None
        """The registry's own CA (PEM), for a self-signed one; blob downloads trust it too."""
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=8, cert_reqs="CERT_REQUIRED", ca_certs=self.ca_certs or certifi.where())

    # ------------------------------------------------------------------ http and auth

    def request(self, method: str, url: str, *, headers: dict | None = None, body: Any = None, preload: bool = True):
        """One request, authenticating once when the registry answers 401 with a challenge; a redirect is
        returned, never followed (`_follow` does that for blobs)."""
        import urllib3

        url = url if url.startswith(("http://", "https://")) else self.base + url
        for attempt in (0, 1):
            sent = {"Accept-Encoding": "identity"} | dict(headers or {})  # a compressed answer could be a bomb
            if self.authorization and self._same_origin(url):
                sent["Authorization"] = self.authorization
            if hasattr(body, "seek"):
                body.seek(0)
            try:
                response = self.pool.request(method, url, headers=sent, body=body, preload_content=False,
                                             redirect=False, retries=False, timeout=self.timeout)
                if preload:
                    _drop_body(response)
            except urllib3.exceptions.SSLError:
                raise NetworkError(f"The registry {self.reference.registry}'s TLS certificate is not one this machine trusts.",
                                   fix="Set ZOO_REGISTRY_CA to the certificate (or its CA) in PEM, or install it in the "
                                   "system's trust store.") from None
            except urllib3.exceptions.HTTPError as exc:
                raise NetworkError(f"Could not reach the registry {self.reference.registry} ({type(exc).__name__}).",
                                   fix="Check the address, that the registry runs, and https (or --insecure for a local one).") from None
            if response.status != 401 or attempt:
                return response
            self._authenticate(response.headers.get("WWW-Authenticate", ""))
        return response

    def _same_origin(self, url: str) -> bool:
        from .download import same_origin

        return same_origin(url, self.base)

    def _authenticate(self, header: str) -> None:
        scheme, params = _challenge(header)
        if scheme == "basic":
            if not self.credentials:
                raise self._denied("asks for a user name and password, and none were found")
            self.authorization = _basic(self.credentials)
            return
        if scheme != "bearer" or not params.get("realm"):
            raise self._denied("asks for credentials in a way zoo does not speak")
        realm = params["realm"]
        # Credentials go to a token service over https (as docker sends Docker Hub's to auth.docker.io), or to the
        # registry's own origin over the plain http the user allowed for it; never in clear text to another host.
        if urlsplit(realm).scheme != "https" and not (urlsplit(realm).scheme == "http" and self._same_origin(realm)):
            raise self._denied(f"sent zoo to a token service over plain http on another host ({realm[:100]}), "
                               "where credentials would travel in clear text")
        query = {"scope": self.scope} | ({"service": params["service"]} if params.get("service") else {})
        headers = {}
        if self.credentials:
            headers["Authorization"] = _basic(self.credentials)
        headers["Accept-Encoding"] = "identity"
        try:
            response = self.pool.request("GET", realm + ("&" if "?" in realm else "?") + urlencode(query), headers=headers,
                                         redirect=False, retries=False, timeout=self.timeout, preload_content=False)
        except Exception as exc:  # urllib3's errors: the token service is part of the registry as far as users go
            raise NetworkError(f"Could not reach the registry's token service ({type(exc).__name__}).",
                               fix="Check the connection and the registry's address, then run the command again.") from None
        try:
            if response.status in (401, 403):
                raise self._denied("refused the credentials zoo sent" if self.credentials
                                   else "needs credentials, and none were found")
            token = json.loads(bounded_body(response, MAX_TOKEN_ANSWER, "its token"))
            token = token.get("token") or token.get("access_token")
        except (ValueError, AttributeError, RecursionError):
            token = None
        finally:
            response.release_conn()
        if not isinstance(token, str) or not token:
            raise NetworkError(f"The registry's token service answered HTTP {response.status} without a token.",
                               fix="Check the registry's address; if it persists, its token service is broken.")
        self.authorization = f"Bearer {token}"

    def _denied(self, why: str) -> AccessDeniedError:
        may = "may " + ("push to" if "push" in self.scope else "pull from") + " that repository"
        if self.credentials:  # rejected credentials are not missing ones
            fix = (f"zoo sent the credentials from {self.credentials.source}: check that they are right and belong to an account that "
                   f"{may} (never printed here).")
        else:
            fix = (f"Set ZOO_REGISTRY_USER and ZOO_REGISTRY_PASSWORD (or `docker login` the registry), with an account that "
                   f"{may}.")
        return AccessDeniedError(f"The registry {self.reference.registry} {why} for {self.reference.repository}.",
                                 fix=fix, hub="oci", resource=str(self.reference))

    def _check(self, response, what: str) -> None:
        if response.status in (401, 403):
            raise self._denied(f"refused access ({response.status}) when zoo {what}")
        if response.status == 400 and self.base.startswith("http://"):  # what a TLS-only server says to plain http
            raise NetworkError(f"The registry {self.reference.registry} refused plain http (HTTP 400) when zoo {what}: "
                               "it serves https.", fix="Drop --insecure; zoo then talks https to it.")
        if response.status >= 500:
            raise NetworkError(f"The registry {self.reference.registry} failed (HTTP {response.status}) when zoo {what}.",
                               fix="Try again later; if it keeps failing, tell whoever runs the registry.")
        if response.status >= 300:
            raise NetworkError(f"The registry {self.reference.registry} answered HTTP {response.status} when zoo {what}.",
                               fix="Check the reference (REGISTRY/REPOSITORY[:TAG] or @sha256:DIGEST) and that it was pushed.")

    # ------------------------------------------------------------------ blobs and manifests

    def _path(self, kind: str, ref: str) -> str:
        return f"/v2/{self.reference.repository}/{kind}/{ref}"

    def _follow(self, method: str, path: str, *, preload: bool = True):
        """A blob request whose redirects zoo follows itself: CDN-backed registries send blobs to storage
        on another host with a 307. urllib3 never followed them here (retries are off, so redirects are
        returned), and following them ourselves keeps the rules: http(s) only, no step down from https,
        the registry's credentials only to the registry's own origin (`request` adds them per URL)."""
        url = self.base + path
        for _ in range(MAX_REDIRECTS + 1):
            response = self.request(method, url, preload=preload)
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            response.drain_conn()
            response.release_conn()
            url = urljoin(url, location)
            scheme = urlsplit(url).scheme
            if scheme not in ("http", "https") or (scheme == "http" and self.base.startswith("https://")):
                raise NetworkError(f"The registry {self.reference.registry} sent a blob to {scheme}:, where zoo will not "
                                   "fetch from.", fix="Check the registry (or its storage) configuration.")
        raise NetworkError(f"The registry {self.reference.registry} redirected a blob more than {MAX_REDIRECTS} times.",
                           fix="Check the registry (or its storage) configuration.")

    def has_blob(self, digest: str) -> bool:
        response = self._follow("HEAD", self._path("blobs", digest))
        if response.status == 404:
            return False
        self._check(response, f"asked for blob {digest[:19]}")
        return True

    def upload_blob(self, digest: str, path: Path | None = None, data: bytes | None = None) -> None:
        """POST an upload session, then PUT the bytes with their digest (the registry checks it)."""
        started = self.request("POST", self._path("blobs", "uploads/"), headers={"Content-Length": "0"})
        self._check(started, "started an upload")
        location = started.headers.get("Location")
        if not location:
            raise NetworkError("The registry started an upload without saying where to send it.", fix="Try another registry.")
        url = urljoin(self.base + "/", location)
        if not self._same_origin(url):
            raise NetworkError("The registry sent zoo's upload to another host.", fix="Check the registry's address.")
        url += ("&" if "?" in url else "?") + urlencode({"digest": digest})
        # O_NOFOLLOW: a link planted in an artifact folder never sends another file's bytes.
        body_file = os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") if path is not None else None
        size = os.fstat(body_file.fileno()).st_size if body_file is not None else len(data)
        with (body_file if body_file is not None else nullcontext(data)) as body:
            done = self.request("PUT", url, body=body, headers={"Content-Type": "application/octet-stream",
                                                                "Content-Length": str(size)})
        self._check(done, f"uploaded blob {digest[:19]}")

    def put_manifest(self, ref: str, manifest: bytes, media_type: str) -> str:
        response = self.request("PUT", self._path("manifests", ref), body=manifest, headers={"Content-Type": media_type})
        self._check(response, "wrote the manifest")
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    def get_manifest(self, ref: str | None = None, *, missing_ok: bool = False) -> tuple[dict, str] | None:
        """The manifest the reference (or `ref`, a tag) names, bounded, and its digest (checked when the
        reference pins one); None for a tag that does not exist when `missing_ok`."""
        response = self.request("GET", self._path("manifests", ref or self.reference.ref), preload=False,
                                headers={"Accept": ", ".join(MANIFEST_TYPES)})
        try:
            if response.status == 404 and missing_ok:
                return None
            if response.status == 404:
                raise SourceNotFoundError(f"The registry {self.reference.registry} has no {self.reference.repository}:{self.reference.ref}.",
                               fix="Check the repository and tag (`zoo push` prints the reference it wrote).")
            self._check(response, "asked for the manifest")
            raw = bounded_body(response, MAX_MANIFEST, "the manifest")
        finally:
            response.release_conn()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if len(raw) > MAX_MANIFEST:
            raise NetworkError("The registry sent a manifest over 4 MiB; zoo refused it.", fix="Check the reference.")
        if ref is None and self.reference.digest and digest != self.reference.digest:
            raise NetworkError(f"The registry sent a manifest whose digest is {digest}, not the {self.reference.digest} asked for.",
                               fix="The registry is broken or tampered with; nothing was stored.")
        try:
            manifest = json.loads(raw)
        except (ValueError, RecursionError):
            manifest = None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), list):
            raise NetworkError("The registry's manifest is not an OCI image manifest.", fix="Check the reference.")
        return manifest, digest

    def get_small_blob(self, digest: str, limit: int = MAX_MANIFEST) -> bytes:
        """A small blob (a config), read bounded and checked against its digest."""
        response = self._follow("GET", self._path("blobs", digest), preload=False)
        try:
            self._check(response, f"asked for blob {digest[:19]}")
            raw = bounded_body(response, limit, f"blob {digest[:19]}")
        finally:
            response.release_conn()
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise NetworkError(f"The registry sent bytes for {digest[:19]}... that are not that blob; nothing was stored.",
                               fix="The registry is broken or tampered with; report it to whoever runs it.")
        return raw

    def blob_source(self, digest: str) -> tuple[str, dict[str, str]]:
        """Where the blob's bytes are, and the headers to send there (no credential to another host)."""
        url = self.base + self._path("blobs", digest)
        response = self.request("HEAD", url)
        headers = {"Authorization": self.authorization} if self.authorization else {}
        if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
            url = urljoin(url, response.headers["Location"])
            if not self._same_origin(url):
                headers = {}
            if urlsplit(url).scheme not in ("http", "https"):
                raise NetworkError("The registry sent a blob to an address zoo will not fetch from.", fix="Check the registry.")
        else:
            self._check(response, f"asked for blob {digest[:19]}")
        return url, headers

