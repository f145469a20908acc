"""Read what a GGUF file (llama.cpp's and Ollama's format) says about itself, without loading it.

`zoo build hf --from model.gguf` names the architecture before any toolchain starts, so a file
transformers cannot load is refused in a moment rather than after minutes. The header is a list of
typed key-value pairs (the tokenizer's vocabulary among them, as arrays of tens of thousands of
strings): every length is checked against the file and a budget before it is skipped or read, since
the file is untrusted input. Layout: github.com/ggml-org/ggml docs/gguf.md (versions 2 and 3).
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"GGUF"
MAX_KEYS = 1 << 16
MAX_STRING = 1 << 20
"""A key or string value worth reading (names, architectures); longer ones are only skipped."""
MAX_HEADER = 256 << 20
"""Bytes of metadata walked to find the wanted keys (a 256k-token vocabulary is about 10 MB)."""
_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
"""GGUF value type -> size: uint8, int8, uint16, int16, uint32, int32, float32, bool, uint64, int64, float64."""
_STRING, _ARRAY = 8, 9


class NotGGUF(ValueError):
    """The bytes are not a GGUF file, or its header is damaged."""


class _Header:
    """Reads a header forward, refusing any length that would pass the end of the file or the budget."""

    def __init__(self, fh, size: int):
        self.fh, self.limit = fh, min(size, 24 + MAX_HEADER)

    def take(self, n: int) -> bytes:
        self._room(n)
        return self.fh.read(n)

    def skip(self, n: int) -> None:
        self._room(n)
        self.fh.seek(n, 1)

    def _room(self, n: int) -> None:
        if n < 0 or self.fh.tell() + n > self.limit:
            raise NotGGUF("its header runs past the end of the file (or past any real header's size)")

    def string(self) -> bytes | None:
        """A string's bytes, or None (skipped) when it is longer than any name."""
        (length,) = struct.unpack("<Q", self.take(8))
        if length > MAX_STRING:
            self.skip(length)
            return None
        return self.take(length)

    def skip_value(self, kind: int) -> None:
        if kind in _SCALARS:
            self.skip(_SCALARS[kind])
        elif kind == _STRING:
            (length,) = struct.unpack("<Q", self.take(8))
            self.skip(length)
        elif kind == _ARRAY:
            inner, length = struct.unpack("<IQ", self.take(12))
            if inner in _SCALARS:
                self.skip(_SCALARS[inner] * length)
            elif inner in (_STRING, _ARRAY):
                for _ in range(length):
                    self.skip_value(inner)
            else:
                raise NotGGUF(f"an array of unknown value type {inner}")
        else:
            raise NotGGUF(f"a value of unknown type {kind}")


def read_keys(path: Path, wanted: tuple[str, ...] = ("general.architecture", "general.name")) -> dict[str, str]:
    """The string values of `wanted` keys in the header (those present)."""
    found: dict[str, str] = {}
    with open(path, "rb") as fh:
        head = fh.read(24)
        if len(head) < 24 or head[:4] != MAGIC:
            raise NotGGUF("it does not begin with GGUF's magic bytes")
        version, _, count = struct.unpack_from("<IQQ", head, 4)
        if version not in (2, 3):
            raise NotGGUF(f"it is GGUF version {version}; zoo reads versions 2 and 3")
        if count > MAX_KEYS:
            raise NotGGUF(f"its header claims {count} keys")
        header = _Header(fh, fh.seek(0, 2))
        fh.seek(24)
        try:
            for _ in range(count):
                key = header.string()
                (kind,) = struct.unpack("<I", header.take(4))
                name = key.decode("utf-8", "replace") if key is not None else ""
                value = header.string() if name in wanted and kind == _STRING else header.skip_value(kind)
                if value is not None:
                    found[name] = value.decode("utf-8", "replace")[:200]
                if len(found) == len(wanted):
                    break
        except (struct.error, RecursionError) as exc:
            raise NotGGUF(f"its header is damaged ({type(exc).__name__})") from None
    return found


def architecture(path: Path) -> str:
    """`general.architecture` ("llama", "qwen2", ...); raises NotGGUF when the file has none."""
    keys = read_keys(path)
    if "general.architecture" not in keys:
        raise NotGGUF("its header names no general.architecture")
    return keys["general.architecture"]
