"""Read the parts of a TFLite flatbuffer that verification needs, without TensorFlow.

MediaPipe's .bin files, LiteRT models and the TFLite model inside a .task are all TFLite
flatbuffers. Verifying them must not pull a 2 GB runtime into zoo's light process, and must not
read a multi-GB file into memory, so this walks the flatbuffer tables by hand over an mmap.
Field numbers follow tensorflow/lite/schema/schema.fbs (Model, SubGraph, Buffer, Metadata,
SignatureDef), which has only ever added fields.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

IDENTIFIER = b"TFL3"

# MediaPipe's odml.infra.proto.LlmModelType, as its native code numbers it (read from the
# descriptor embedded in mediapipe 0.10.35's libmediapipe.so). A .bin stores the value in the
# `buffer` field of its "odml.infra.LlmModelType" metadata entry itself, not in a buffer's bytes
# (seen in a real FALCON_RW_1B conversion: buffer index 5); "lora_rank" is stored the same way.
# MediaPipe's runtime reads both so: TfliteModelData::GetModelType / LoRARank return metadata->buffer().
LLM_MODEL_TYPES = {
    5: "FALCON_RW_1B",
    6: "GEMMA_2B",
    8: "STABLELM_4E1T_3B",
    10: "TINY_LLAMA_1B",
    11: "PHI_2",
    12: "GEMMA_7B",
    18: "GEMMA2_2B",
}


class NotTFLite(ValueError):
    """The bytes are not a TFLite flatbuffer (or are truncated or corrupt)."""


# What a hostile file may make the reader hold, whatever its tables claim. Real LLM files have a
# few thousand tensors with names under 200 bytes, and metadata values of a few MB (a tokenizer).
MAX_NAME_BYTES = 4096
MAX_NAMES_TOTAL = 16 << 20
"""All strings read from one file together (names repeated by pointing many tables at one)."""
MAX_TABLES = 1 << 20
"""Entries of one vector of tables."""
MAX_METADATA_VALUE = 32 << 20
"""A metadata value larger than this is recorded by size only (its bytes are never copied)."""
MAX_METADATA_TOTAL = 48 << 20


@dataclass
class TFLiteInfo:
    version: int
    subgraph_names: list[str] = field(default_factory=list)
    tensor_names: list[str] = field(default_factory=list)
    operator_count: int = 0
    signature_keys: list[str] = field(default_factory=list)
    metadata: dict[str, bytes] = field(default_factory=dict)
    """Metadata values up to MAX_METADATA_VALUE bytes (each distinct entry copied once)."""
    metadata_sizes: dict[str, int] = field(default_factory=dict)
    """Every metadata value's size, including those too large to copy."""
    metadata_buffer_index: dict[str, int] = field(default_factory=dict)
    """Each metadata entry's raw `buffer` field (MediaPipe keeps its model type there)."""
    weight_bytes: dict[str, int] = field(default_factory=dict)
    """The bytes of constant tensors (those with data in a buffer) by element type: what the
    weights were quantized to ({"int8": 131_000_000, "float32": 9_400_000})."""


TENSOR_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
                8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
                14: "variant", 15: "uint32", 16: "uint16", 17: "int4", 18: "bfloat16"}
"""schema.fbs TensorType."""


class FlatReader:
    """Reads flatbuffer tables by offset over bytes or an mmap; every offset and length is checked
    against the buffer, and strings against a budget, so no input can make it read or hold more."""

    def __init__(self, buf) -> None:
        self.buf = buf
        self.size = len(buf)
        self.string_budget = MAX_NAMES_TOTAL

    def _u(self, fmt: str, pos: int) -> int:
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > self.size:
            raise NotTFLite(f"offset {pos} is outside the file ({self.size} bytes): truncated or corrupt")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def field_pos(self, table: int, index: int) -> int | None:
        vtable = table - self._u("<i", table)
        vtable_size = self._u("<H", vtable)
        slot = 4 + 2 * index
        if slot >= vtable_size:
            return None
        offset = self._u("<H", vtable + slot)
        return table + offset if offset else None

    def deref(self, pos: int) -> int:
        return pos + self._u("<I", pos)

    def table(self, table: int, index: int) -> int | None:
        pos = self.field_pos(table, index)
        return None if pos is None else self.deref(pos)

    def scalar(self, table: int, index: int, fmt: str, default: int = 0) -> int:
        pos = self.field_pos(table, index)
        return default if pos is None else self._u(fmt, pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) when absent."""
        pos = self.field_pos(table, index)
        if pos is None:
            return 0, 0
        start = self.deref(pos)
        length = self._u("<I", start)
        if start + 4 + length > self.size:
            raise NotTFLite("a vector runs past the end of the file: truncated or corrupt")
        return start + 4, length

    def tables(self, table: int, index: int) -> list[int]:
        start, length = self.vector(table, index)
        if length > MAX_TABLES or start + 4 * length > self.size:
            raise NotTFLite(f"a vector claims {length} tables: more than the file holds, or any model has")
        return [self.deref(start + 4 * i) for i in range(length)]

    def string(self, table: int, index: int) -> str:
        pos = self.field_pos(table, index)
        if pos is None:
            return ""
        start = self.deref(pos)
        length = self._u("<I", start)
        if start + 4 + length > self.size:
            raise NotTFLite("a string runs past the end of the file: truncated or corrupt")
        if length > MAX_NAME_BYTES:
            raise NotTFLite(f"a name of {length} bytes: no model has one")
        self.string_budget -= length
        if self.string_budget < 0:
            raise NotTFLite(f"its names add up to more than {MAX_NAMES_TOTAL >> 20} MiB: no model has that many")
        return bytes(self.buf[start + 4 : start + 4 + length]).decode("utf-8", "replace")


def read_bytes(buf) -> TFLiteInfo:
    """Parse a TFLite flatbuffer held in `buf` (bytes, or an mmap)."""
    if len(buf) < 8 or bytes(buf[4:8]) != IDENTIFIER:
        raise NotTFLite("the file identifier at bytes 4..8 is not TFL3")
    r = FlatReader(buf)
    model = r.deref(0)
    info = TFLiteInfo(version=r.scalar(model, 0, "<I"))
    buffers = r.tables(model, 4)
    counted: set[int] = set()  # tensors may share a buffer: count its bytes once
    for subgraph in r.tables(model, 2):
        info.subgraph_names.append(r.string(subgraph, 4))
        for tensor in r.tables(subgraph, 0):
            info.tensor_names.append(r.string(tensor, 3))
            index = r.scalar(tensor, 2, "<I")
            if 0 < index < len(buffers) and index not in counted:
                counted.add(index)
                size = r.vector(buffers[index], 0)[1] or r.scalar(buffers[index], 2, "<Q")
                if size:
                    kind = TENSOR_TYPES.get(r.scalar(tensor, 1, "<b"), "unknown")
                    info.weight_bytes[kind] = info.weight_bytes.get(kind, 0) + size
        info.operator_count += r.vector(subgraph, 3)[1]
    copied: dict[tuple[int, int], bytes] = {}  # many entries may name one buffer: copy it once
    budget = MAX_METADATA_TOTAL
    for entry in r.tables(model, 6):
        name, index = r.string(entry, 0), r.scalar(entry, 1, "<I")
        info.metadata_buffer_index[name] = index
        if index >= len(buffers):
            continue  # not a buffer reference (see LLM_MODEL_TYPES)
        buffer = buffers[index]
        start, length = r.vector(buffer, 0)
        if not length:  # models over 2 GB keep buffer bytes after the flatbuffer, at offset/size
            start, length = r.scalar(buffer, 1, "<Q"), r.scalar(buffer, 2, "<Q")
            if start + length > len(buf):
                raise NotTFLite(f"metadata '{name[:80]}' lies past the end of the file: truncated")
        info.metadata_sizes[name] = length
        if length > MAX_METADATA_VALUE:
            continue
        if (start, length) not in copied:
            budget -= length
            if budget < 0:
                raise NotTFLite(f"its metadata adds up to more than {MAX_METADATA_TOTAL >> 20} MiB")
            copied[(start, length)] = bytes(buf[start : start + length])
        info.metadata[name] = copied[(start, length)]
    info.signature_keys = [r.string(sig, 2) for sig in r.tables(model, 7)]
    return info


def read(path: Path) -> TFLiteInfo:
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size < 8:
            raise NotTFLite(f"the file has only {size} bytes")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            try:
                return read_bytes(mm)
            except (struct.error, RecursionError, OverflowError, IndexError) as exc:
                raise NotTFLite(f"corrupt flatbuffer ({type(exc).__name__}: {exc})") from None


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise NotTFLite("truncated protobuf")
        if shift > 63:
            raise NotTFLite("a protobuf varint longer than 10 bytes")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def proto_fields(buf: bytes) -> dict[int, list]:
    """A protobuf message's fields by number (varints as ints, length-delimited as bytes), schema-free."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise NotTFLite("a protobuf field runs past the end of its message")
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = bytes(buf[pos : pos + 4]), pos + 4
        elif wire == 1:
            value, pos = bytes(buf[pos : pos + 8]), pos + 8
        else:
            raise NotTFLite(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


@dataclass(frozen=True)
class LlmShape:
    embedding_dim: int
    hidden_dim: int
    layers: int
    vocab_size: int


# What odml.infra.proto.LlmParameters must hold per model type: TransformerParameters (field 1)
# embedding_dim (3), hidden_dimension (4), num_stacks (7); vocab_size (2). Field numbers were read
# from a real FALCON_RW_1B conversion; the sizes are those of the published Hugging Face configs.
EXPECTED_SHAPES = {
    "FALCON_RW_1B": LlmShape(2048, 8192, 24, 50304),
    "PHI_2": LlmShape(2560, 10240, 32, 51200),
    "STABLELM_4E1T_3B": LlmShape(2560, 6912, 32, 50304),
    "GEMMA_2B": LlmShape(2048, 16384, 18, 256000),
    "GEMMA_7B": LlmShape(3072, 24576, 28, 256000),
    "GEMMA2_2B": LlmShape(2304, 9216, 26, 256000),
}


def llm_shape(parameters: bytes) -> LlmShape:
    top = proto_fields(parameters)
    transformer = proto_fields(top.get(1, [b""])[0])

    def first(fields: dict[int, list], number: int) -> int:
        values = fields.get(number) or [0]
        return values[0] if isinstance(values[0], int) else 0

    return LlmShape(first(transformer, 3), first(transformer, 4), first(transformer, 7), first(top, 2))
