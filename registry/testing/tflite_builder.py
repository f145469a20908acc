"""Build small TFLite flatbuffers shaped like MediaPipe's .bin files and LiteRT models, for tests.

The layout follows tensorflow/lite/schema/schema.fbs (Model, SubGraph, Tensor, Buffer, Metadata,
SignatureDef); MediaPipe's LLM files are such a Model with metadata entries `backend`,
`odml.infra.LlmModelType` (one byte), `spm_vocab_model` and `odml.infra.proto.LlmParameters`.
Needs the `flatbuffers` package (a test dependency).
"""

from __future__ import annotations

from pathlib import Path

from registry.tflite import LLM_MODEL_TYPES


def build_tflite(
    *, metadata: dict[str, bytes] | None = None, tensor_names: list[str] | None = None, subgraph_name: str = "",
    signature_keys: list[str] | None = None,
) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(4096)

    def table_vector(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def buffer(data: bytes) -> int:
        vec = b.CreateByteVector(data) if data else None
        b.StartObject(3)
        if vec is not None:
            b.PrependUOffsetTRelativeSlot(0, vec, 0)
        return b.EndObject()

    metadata = metadata or {}
    buffers = [buffer(b"")] + [buffer(data) for data in metadata.values()]
    entries = []
    for index, name in enumerate(metadata, start=1):
        n = b.CreateString(name)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, n, 0)
        b.PrependUint32Slot(1, index, 0)
        entries.append(b.EndObject())
    tensors = []
    for name in tensor_names or []:
        n = b.CreateString(name)
        b.StartObject(4)
        b.PrependUOffsetTRelativeSlot(3, n, 0)
        tensors.append(b.EndObject())
    tensor_vec = table_vector(tensors)
    sg_name = b.CreateString(subgraph_name)
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensor_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
    subgraph = b.EndObject()
    signatures = []
    for key in signature_keys or []:
        k = b.CreateString(key)
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(2, k, 0)
        signatures.append(b.EndObject())
    subgraphs_vec, buffers_vec, metadata_vec, signatures_vec = (
        table_vector([subgraph]), table_vector(buffers), table_vector(entries), table_vector(signatures),
    )
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers_vec, 0)
    b.PrependUOffsetTRelativeSlot(6, metadata_vec, 0)
    b.PrependUOffsetTRelativeSlot(7, signatures_vec, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def mediapipe_like_bin(model_type: str, backend: str, *, padding: int = 0, tokenizer: bytes = b"\x0a\x05spm") -> bytes:
    """A flatbuffer carrying MediaPipe's LLM metadata; `padding` appends bytes (weights stand-in)."""
    code = {name: number for number, name in LLM_MODEL_TYPES.items()}[model_type]
    data = build_tflite(
        metadata={"backend": backend.encode(), "odml.infra.LlmModelType": bytes([code]), "spm_vocab_model": tokenizer},
        tensor_names=["params.lm.softmax.logits_ffn.w"],
        subgraph_name=model_type,
    )
    return data + b"\0" * padding


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
