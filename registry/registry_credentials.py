"""Credentials for an OCI registry, found where docker finds them.

In order: ZOO_REGISTRY_USER / ZOO_REGISTRY_PASSWORD; the docker config's `credHelpers` entry for the
registry, else its `credsStore`, each asked through `docker-credential-<name> get` as docker asks it
(the registry on stdin, `{"Username", "Secret"}` on stdout); else an inline `auths` entry, whose key
may carry a scheme or a path (`https://host/v1/`), as `docker login` writes some. Secrets are never
printed, logged or recorded: what zoo says names only where they came from. A helper's name comes
from a file and is refused unless it is a plain name; the helper's answer is bounded and timed out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MAX_CONFIG = 4 << 20
MAX_HELPER_ANSWER = 64 << 10
HELPER_SECONDS = 30
HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = ""
    source: str = ""
    """Where they came from, for messages: never the secret itself."""

    def __repr__(self) -> str:  # a stray log line must not carry the secret
        return f"Credentials(user={self.user!r}, source={self.source!r})"


def credentials_for(registry: str) -> Credentials | None:
    """The credentials docker would send to `registry` (host[:port]), or None."""
    user, password = os.environ.get("ZOO_REGISTRY_USER"), os.environ.get("ZOO_REGISTRY_PASSWORD")
    if user and password:
        return Credentials(user, password, "ZOO_REGISTRY_USER / ZOO_REGISTRY_PASSWORD")
    config = _docker_config()
    helpers = config.get("credHelpers") if isinstance(config.get("credHelpers"), dict) else {}
    helper = next((name for key, name in helpers.items() if _host(key) == registry), None) or config.get("credsStore")
    if isinstance(helper, str) and helper:
        return _from_helper(helper, registry)
    auths = config.get("auths") if isinstance(config.get("auths"), dict) else {}
    entry = next((value for key, value in auths.items() if _host(key) == registry), None)
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return Credentials(user, password, "the docker config's auths") if user and password else None


def _docker_config() -> dict:
    path = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_CONFIG))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _host(key: str) -> str:
    """An auths or credHelpers key as the registry it names: 'https://ghcr.io/v2/' -> 'ghcr.io'."""
    if not isinstance(key, str):
        return ""
    return (urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]).lower()


def _from_helper(name: str, registry: str) -> Credentials | None:
    """`docker-credential-<name> get`; None when it has nothing for this registry."""
    from .errors import AccessDeniedError

    program = shutil.which(f"docker-credential-{name}") if HELPER_NAME.fullmatch(name) else None
    if program is None:
        raise AccessDeniedError(
            f"The docker config names the credential helper '{name[:64]}' for {registry}, and no "
            f"docker-credential-{name[:64]} program is on PATH.",
            fix="Install that helper (as `docker login` expects), or set ZOO_REGISTRY_USER and ZOO_REGISTRY_PASSWORD.",
            hub="oci", resource=registry)
    try:
        done = subprocess.run([program, "get"], input=registry, capture_output=True, text=True, timeout=HELPER_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or len(done.stdout) > MAX_HELPER_ANSWER:
        return None  # "credentials not found in native keychain": no credentials, not an error
    try:
        answer = json.loads(done.stdout)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(user, str) and isinstance(secret, str) and user and secret):
        return None
    return Credentials(user, secret, f"the credential helper docker-credential-{name}")
