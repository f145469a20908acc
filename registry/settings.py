"""Every environment variable zoo reads, read in one place, once.

Tests patch this module (`settings.reload()` after changing the environment) rather than
scattering `os.environ` lookups through the code, as huggingface_hub's constants.py does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .home import zoo_home

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _size(name: str, default: int) -> int:
    """A byte count from the environment; one that is not a positive whole number is a clear error."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        from .errors import ZooError

        raise ZooError(f"{name} is '{text}', which is not a number of bytes.", fix=f"Set {name} to a positive whole number, or unset it.")
    return int(text)


def _count(name: str, default: int, *, most: int | None = None) -> int:
    """A count from the environment (1 or more, at most `most`); anything else is a clear error."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        from .errors import ZooError

        raise ZooError(f"{name} is '{text}', which is not a whole number of 1 or more.", fix=f"Set {name} to one, or unset it.")
    return min(int(text), most) if most else int(text)


@dataclass(frozen=True)
class Settings:
    home: Path
    """ZOO_HOME: the store, caches, locks and toolchains live below it."""
    offline: bool
    """ZOO_OFFLINE (or HF_HUB_OFFLINE): use only what is already in the store."""
    debug: bool
    """ZOO_DEBUG: show full tracebacks instead of one-paragraph errors."""
    load_plugins: tuple[str, ...] | None
    """ZOO_LOAD_PLUGINS: comma-separated allowlist of third-party plugins; None means all."""
    disable_plugin_autoload: bool
    """ZOO_DISABLE_PLUGIN_AUTOLOAD: load no third-party plugin unless ZOO_LOAD_PLUGINS names it."""
    no_cache: bool
    """ZOO_NO_CACHE: re-read manifests and entry points instead of using the startup cache."""
    http_timeout: float
    """ZOO_HTTP_TIMEOUT: seconds to wait for a connection or for the next bytes (default 30)."""
    http_retries: int
    """ZOO_HTTP_RETRIES: attempts per file on transient errors, resuming each time (default 5)."""
    download_workers: int
    """ZOO_DOWNLOAD_WORKERS: files fetched in parallel (default 4)."""
    download_connections: int
    """ZOO_DOWNLOAD_CONNECTIONS: connections a big file's pieces share when one stream is slow (default 16, as Ollama; 1: one stream)."""
    piece_bytes: int
    """ZOO_DOWNLOAD_PIECE_BYTES: the pieces a big file is fetched in; a file under two pieces comes over one stream (default 16 MiB)."""
    max_download_bytes: int
    """ZOO_MAX_DOWNLOAD_BYTES: the most a download whose size nobody announced may bring, and the
    most an archive member may unpack to (default 64 GiB, above the largest on-device model)."""
    toolchains_dir: Path
    """ZOO_TOOLCHAINS: where converter toolchains live (default ZOO_HOME/toolchains); safe to share."""
    kaggle_endpoint: str | None
    """ZOO_KAGGLE_ENDPOINT: a Kaggle-compatible API server (a mirror, or the test servers).
    kagglehub >= 0.4 ignores KAGGLE_API_ENDPOINT, so zoo offers its own switch."""
    registry_ca: Path | None = None
    """ZOO_REGISTRY_CA: a PEM certificate (or CA) to trust for OCI registries, e.g. a team's self-signed one."""
    build_cache: str | None = None
    """ZOO_BUILD_CACHE: the team's build cache, oci://REGISTRY/REPOSITORY, asked by every `zoo build` (and by
    `zoo pull` of a variant that must be built) before anything converts."""
    source_date_epoch: int = 315532800
    """SOURCE_DATE_EPOCH (reproducible-builds.org): the time a build writes into its artifacts (a .litertlm's
    creation_timestamp, a .task's zip entries), so the same inputs give the same bytes; default 1980-01-01, the
    earliest a zip can record."""

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def lock_file(self) -> Path:
        """Trust-on-first-use digests of files whose manifest pins none."""
        return self.home / "zoo.lock"


def debug() -> bool:
    """ZOO_DEBUG alone, for the error handler: it must answer even when another setting is the error."""
    return _flag("ZOO_DEBUG")


@lru_cache(maxsize=1)
def get() -> Settings:
    home = Path(zoo_home())
    allow = os.environ.get("ZOO_LOAD_PLUGINS")
    return Settings(
        home=home,
        offline=_flag("ZOO_OFFLINE") or _flag("HF_HUB_OFFLINE"),
        debug=debug(),
        load_plugins=None if allow is None else tuple(p.strip() for p in allow.split(",") if p.strip()),
        disable_plugin_autoload=_flag("ZOO_DISABLE_PLUGIN_AUTOLOAD"),
        no_cache=_flag("ZOO_NO_CACHE"),
        http_timeout=float(os.environ.get("ZOO_HTTP_TIMEOUT") or 30),
        http_retries=_count("ZOO_HTTP_RETRIES", 5),
        download_workers=_count("ZOO_DOWNLOAD_WORKERS", 4),
        download_connections=_count("ZOO_DOWNLOAD_CONNECTIONS", 16, most=32),
        piece_bytes=_size("ZOO_DOWNLOAD_PIECE_BYTES", 16 << 20),
        max_download_bytes=_size("ZOO_MAX_DOWNLOAD_BYTES", 64 << 30),
        kaggle_endpoint=os.environ.get("ZOO_KAGGLE_ENDPOINT") or None,
        registry_ca=Path(os.environ["ZOO_REGISTRY_CA"]).expanduser() if os.environ.get("ZOO_REGISTRY_CA") else None,
        toolchains_dir=Path(os.environ["ZOO_TOOLCHAINS"]).expanduser() if os.environ.get("ZOO_TOOLCHAINS")
        else home / "toolchains",
        build_cache=os.environ.get("ZOO_BUILD_CACHE") or None,
        source_date_epoch=max(315532800, _count("SOURCE_DATE_EPOCH", 315532800)),
    )


def reload() -> Settings:
    """Forget the settings read so far; the next `get()` reads the environment again."""
    get.cache_clear()
    return get()
