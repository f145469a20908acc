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


def read_header(path: Path) -> tuple[dict, int]:
    """(header without __metadata__, offset where the data starts)."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ZooError(f"{path} is not a safetensors file (too short).", fix="Pass the adapter_model.safetensors file.")
        (length,) = struct.unpack("<Q", raw)
        if length > 100_000_000:
            raise ZooError(f"{path} is not a safetensors file (header of {length} bytes).", fix="Pass the adapter_model.safetensors file.")
        try:
            header = json.loads(fh.read(length))
        except ValueError:
            raise ZooError(f"{path} is not a safetensors file (unreadable header).", fix="Pass the adapter_model.safetensors file.") from None
    header.pop("__metadata__", None)
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
