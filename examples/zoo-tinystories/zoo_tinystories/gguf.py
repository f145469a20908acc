"""A file format of the plugin's own: GGUF, the single-file checkpoint llama.cpp writes.

zoo's formats are registered by plugins, as converters and checks are; this one makes `.gguf` a
format a variant's main artifact may have and `zoo import` takes, checked by the header check
below (no model stack needed: the check reads 24 bytes).
"""

import struct

from registry.api import Format, Verifier

HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, metadata key/value count
SMALLEST_TENSOR_INFO = 29  # a name's length (8) and one byte, dimension count (4), a dimension (8), type and offset (8)


class GgufFormat(Format):
    name = "gguf"
    description = "A GGUF checkpoint (llama.cpp's single-file format)."
    suffix = ".gguf"
    verifier = "gguf-header"
    platforms = ("android", "ios", "desktop")


class GgufHeader(Verifier):
    name = "gguf-header"
    description = "A GGUF file: the GGUF magic, version 2 or 3, and tensor and metadata counts the file's size can hold."
    formats = ("gguf",)

    def check(self, path, variant, output):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(HEADER.size)
        if len(head) < HEADER.size:
            return [f"it has {size} bytes, fewer than a GGUF header's {HEADER.size}"]
        magic, version, tensors, keys = HEADER.unpack(head)
        problems = []
        if magic != b"GGUF":
            problems.append(f"it starts with {magic!r}, not the GGUF magic")
        elif version not in (2, 3):
            problems.append(f"it is GGUF version {version}; versions 2 and 3 are known")
        elif tensors == 0 or tensors * SMALLEST_TENSOR_INFO > size or keys * 13 > size:
            problems.append(f"its header claims {tensors} tensors and {keys} metadata entries, "
                            f"which {size} bytes cannot hold")
        return problems
