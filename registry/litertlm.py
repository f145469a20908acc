"""Read a .litertlm container's header without LiteRT-LM, bounded, for its structural check.

The layout (schema/core/litertlm_header_schema.fbs in google-ai-edge/LiteRT-LM): 8 bytes of magic
`LITERTLM`, a version as three little-endian u32 (major, minor, patch), the header's end offset as
a u64 at byte 24, and from byte 32 a FlatBuffer `LiteRTLMMetaData`: field 0 system metadata,
field 1 `SectionMetadata` whose field 0 is a vector of `SectionObject` (items, begin offset u64,
end offset u64, data type u8). The header carries no checksum, and LiteRT-LM's own reader trusts
every offset in it, so each is checked here against the file and a cap before anything is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .tflite import FlatReader, NotTFLite

MAGIC = b"LITERTLM"
MAX_HEADER = 16 << 20
"""Real headers are a few KB; a header claimed larger is refused before it is read."""
MAX_SECTIONS = 4096
SECTION_TYPES = {
    0: "NONE", 1: "GenericBinaryData", 2: "Deprecated", 3: "TFLiteModel", 4: "SP_Tokenizer", 5: "LlmMetadataProto",
    6: "HF_Tokenizer_Zlib", 7: "TFLiteWeights", 8: "EmbeddingMetadataProto", 9: "ExecutorMetadataProto",
    10: "TtsMetadataProto", 11: "AsrMetadataProto",
}


class NotLiteRTLM(ValueError):
    """The file is not a well-formed .litertlm container; the message says what is wrong."""


@dataclass(frozen=True)
class Section:
    begin: int
    end: int
    data_type: int

    @property
    def kind(self) -> str:
        return SECTION_TYPES.get(self.data_type, f"unknown type {self.data_type}")


@dataclass
class LiteRTLMInfo:
    version: tuple[int, int, int]
    header_end: int
    size: int
    sections: list[Section] = field(default_factory=list)


def read(path: Path) -> LiteRTLMInfo:
    """The header of the .litertlm at `path`; raises NotLiteRTLM for anything malformed."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        head = fh.read(32)
        if len(head) < 32 or head[:8] != MAGIC:
            raise NotLiteRTLM("not a .litertlm file (no LITERTLM magic in a 32-byte header)")
        version = struct.unpack_from("<3I", head, 8)
        (header_end,) = struct.unpack_from("<Q", head, 24)
        if version[0] != 1:
            raise NotLiteRTLM(f"unknown .litertlm major version {version[0]}")
        if not 32 < header_end <= size:
            raise NotLiteRTLM(f"its header claims to end at byte {header_end}, outside the file's {size} bytes")
        if header_end - 32 > MAX_HEADER:
            raise NotLiteRTLM(f"its header claims {header_end - 32} bytes, more than the {MAX_HEADER >> 20} MiB any real one needs")
        metadata = fh.read(header_end - 32)
    info = LiteRTLMInfo(version, header_end, size)
    try:
        r = FlatReader(metadata)
        root = r.deref(0)
        section_metadata = r.table(root, 1)
        objects = r.tables(section_metadata, 0) if section_metadata is not None else []
        if len(objects) > MAX_SECTIONS:
            raise NotLiteRTLM(f"it lists {len(objects)} sections")
        for obj in objects:
            info.sections.append(Section(r.scalar(obj, 1, "<Q"), r.scalar(obj, 2, "<Q"), r.scalar(obj, 3, "<B")))
    except (NotTFLite, struct.error, RecursionError, OverflowError, IndexError) as exc:
        raise NotLiteRTLM(f"its header is not a readable LiteRTLMMetaData flatbuffer ({exc})") from None
    return info


def problems(path: Path) -> list[str]:
    """What is structurally wrong with a .litertlm: sections outside the file, overlapping, or no model."""
    try:
        info = read(path)
    except NotLiteRTLM as exc:
        return [str(exc)]
    except OSError as exc:
        return [f"cannot be read: {exc.strerror or exc}"]
    found = []
    if not info.sections:
        return ["the .litertlm file has no sections"]
    spans = sorted(info.sections, key=lambda s: (s.begin, s.end))
    for section in spans:
        if not info.header_end <= section.begin <= section.end <= info.size:
            found.append(f"a {section.kind} section spans bytes {section.begin}-{section.end}, outside the body "
                         f"({info.header_end}-{info.size})")
    for before, after in zip(spans, spans[1:]):
        if after.begin < before.end:
            found.append(f"sections overlap ({before.kind} {before.begin}-{before.end} and {after.kind} {after.begin}-{after.end})")
            break
    models = [s for s in info.sections if s.data_type == 3]
    if not models:
        found.append("it holds no TFLiteModel section")
    elif not found:
        with open(path, "rb") as fh:
            for model in models:
                fh.seek(model.begin)
                if fh.read(8)[4:8] != b"TFL3":
                    found.append(f"the TFLiteModel section at byte {model.begin} is not a TFLite flatbuffer")
    return found
