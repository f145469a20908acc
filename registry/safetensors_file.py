"""Read and rename the tensors of a .safetensors file without the safetensors package.

The format is an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
data_offsets) and the raw data. Renaming tensors rewrites the header and copies the data as is.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from .errors import ZooError


MAX_HEADER = 32 << 20
"""A model's header is a few hundred KB; a claim above this is refused before reading it."""


def read_header(path: Path) -> tuple[dict, int]:
    """(header without __metadata__, offset where the data starts); every tensor's span is checked."""
    def refuse(why: str) -> ZooError:
        return ZooError(f"{path} is not a safetensors file ({why}).", fix="Pass the adapter_model.safetensors file.")

    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        raw = fh.read(8)
        if len(raw) != 8:
            raise refuse("too short")
        (length,) = struct.unpack("<Q", raw)
        if length > min(MAX_HEADER, size - 8):
            raise refuse(f"a header of {length} bytes in a file of {size}")
        try:
            header = json.loads(fh.read(length))
        except (ValueError, RecursionError):
            raise refuse("unreadable header") from None
    if not isinstance(header, dict):
        raise refuse("its header is not a table of tensors")
    header.pop("__metadata__", None)
    data_size = size - 8 - length
    for name, spec in header.items():
        offsets = spec.get("data_offsets") if isinstance(spec, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size and isinstance(spec.get("dtype"), str)
                and isinstance(spec.get("shape"), list)):
            raise refuse(f"tensor '{str(name)[:80]}' has no valid dtype, shape and data offsets inside the file")
    return header, 8 + length


def write(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    """Write tensors given as name -> (dtype, shape, raw bytes)."""
    header, offset, blobs = {}, 0, []
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for data in blobs:
            fh.write(data)


def rename(source: Path, target: Path, new_names: dict[str, str]) -> None:
    header, data_start = read_header(source)
    renamed = {new_names.get(name, name): spec for name, spec in header.items()}
    text = json.dumps(renamed).encode()
    text += b" " * (-len(text) % 8)
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(struct.pack("<Q", len(text)) + text)
        src.seek(data_start)
        shutil.copyfileobj(src, dst, 16 << 20)
