"""Build small .litertlm containers for tests, laid out as LiteRT-LM's builder lays them out.

Magic `LITERTLM`, version (1, 7, 0), the header's end offset at byte 24, a `LiteRTLMMetaData`
FlatBuffer from byte 32 (field 1: SectionMetadata, whose field 0 lists SectionObject tables with
begin/end offsets and a data type), then each section's bytes at an aligned offset. The layout
was checked against litert-lm-builder 0.18.1's own output. Needs `flatbuffers` (a test dependency).
"""

from __future__ import annotations

import struct

TFLITE_MODEL = 3
SP_TOKENIZER = 4
LLM_METADATA = 5
HF_TOKENIZER = 6


def llm_metadata(stop_token_ids: tuple[int, ...] = (2,), start_token: str | None = None, chat_template: str | None = None,
                 max_num_tokens: int | None = None) -> bytes:
    """An LlmMetadata section (litert-lm-builder's protobuf): the stop tokens LiteRT-LM needs, and optionally
    a start token, a chat template and the context length."""
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    message = llm_metadata_pb2.LlmMetadata()
    message.stop_tokens.add().token_ids.ids.extend(stop_token_ids)
    if start_token is not None:
        message.start_token.token_str = start_token
    if chat_template is not None:
        message.jinja_prompt_template = chat_template
    if max_num_tokens is not None:
        message.max_num_tokens = max_num_tokens
    return message.SerializeToString()


def build_litertlm(sections: list[tuple[int, bytes]], *, align: int = 16384, spans: list[tuple[int, int]] | None = None) -> bytes:
    """A .litertlm holding `sections` (data type, bytes); `spans` overrides the offsets the header claims."""
    import flatbuffers

    def header(offsets: list[tuple[int, int]]) -> bytes:
        b = flatbuffers.Builder(1024)
        objects = []
        for (data_type, _), (begin, end) in zip(sections, offsets):
            b.StartObject(4)
            b.PrependUint64Slot(1, begin, 0)
            b.PrependUint64Slot(2, end, 0)
            b.PrependUint8Slot(3, data_type, 0)
            objects.append(b.EndObject())
        b.StartVector(4, len(objects), 4)
        for obj in reversed(objects):
            b.PrependUOffsetTRelative(obj)
        vector = b.EndVector()
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, vector, 0)
        section_metadata = b.EndObject()
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(1, section_metadata, 0)
        b.Finish(b.EndObject())
        return bytes(b.Output())

    def up(n: int) -> int:
        return -(-n // align) * align

    # Lay the header out once with non-zero placeholders (a zero would be left out as the default) to
    # learn where the body starts, then with the real offsets: the same size either way.
    body_start = up(32 + len(header([(1 << 40, 1 << 40)] * len(sections))))
    offsets, position = [], body_start
    for _, data in sections:
        offsets.append((position, position + len(data)))
        position = up(position + len(data))
    meta = header(spans or offsets)
    out = bytearray(b"LITERTLM" + struct.pack("<3I", 1, 7, 0) + b"\0" * 4 + struct.pack("<Q", 32 + len(meta)) + meta)
    assert len(out) <= body_start, "the header outgrew its placeholder layout"
    out += b"\0" * (body_start - len(out))
    for (_, data), (begin, _) in zip(sections, offsets):
        out += b"\0" * (begin - len(out)) + data
    return bytes(out)


def build_valid_litertlm(model: bytes | None = None, tokenizer: bytes = b"\x0a\x05spm", metadata: bytes | None = None) -> bytes:
    """A small .litertlm that passes the `.litertlm` structural check: a TFLite model section (by
    default a one-tensor flatbuffer), a sentencepiece tokenizer section and an LlmMetadata section."""
    if model is None:
        from registry.testing.tflite_builder import build_tflite

        model = build_tflite(tensor_names=["w"])
    return build_litertlm([(TFLITE_MODEL, model), (SP_TOKENIZER, tokenizer),
                           (LLM_METADATA, metadata if metadata is not None else llm_metadata())])


def write_sized_litertlm(path, size: int, metadata: bytes | None = None) -> None:
    """A valid .litertlm of exactly `size` bytes, sparse on disk: a model, a tokenizer and LLM metadata, then
    one generic section filling the rest. For a file pinned at a publisher's size (584,417,280 bytes for
    gemma3-1b-it-int4.litertlm) and for timing checks on multi-GB files without writing them."""
    import tempfile
    from pathlib import Path

    from registry import litertlm
    from registry.testing.tflite_builder import build_tflite

    sections = [(TFLITE_MODEL, build_tflite(tensor_names=["w"])), (SP_TOKENIZER, b"spm" * 30),
                (LLM_METADATA, metadata if metadata is not None else llm_metadata(max_num_tokens=4096)), (1, b"x")]
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.litertlm"
        probe.write_bytes(build_litertlm(sections))
        spans = [(s.begin, s.end) for s in litertlm.read(probe).sections]
    spans[-1] = (spans[-1][0], size)
    with open(path, "wb") as fh:
        fh.write(build_litertlm(sections, spans=spans))
        fh.truncate(size)
