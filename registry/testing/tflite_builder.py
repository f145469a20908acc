"""Build small TFLite flatbuffers shaped like MediaPipe's .bin files and LiteRT models, for tests.

The layout follows tensorflow/lite/schema/schema.fbs (Model, SubGraph, Tensor, Buffer, Metadata,
SignatureDef); MediaPipe's LLM files are such a Model with metadata entries `backend`,
`odml.infra.LlmModelType` (one byte), `spm_vocab_model` and `odml.infra.proto.LlmParameters`.
Needs the `flatbuffers` package (a test dependency).
"""

from __future__ import annotations

from pathlib import Path

from registry.tflite import EXPECTED_SHAPES, LLM_MODEL_TYPES, LlmShape


def build_tflite(
    *, metadata: dict[str, bytes] | None = None, tensor_names: list[str] | None = None, subgraph_name: str = "",
    signature_keys: list[str] | None = None, index_metadata: dict[str, int] | None = None,
    weights: list[tuple[str, int, bytes]] | None = None,
) -> bytes:
    """`index_metadata` entries carry a bare number in their buffer field, as MediaPipe's model type does;
    `weights` are constant tensors (name, TensorType code such as 0 float32 or 9 int8, their bytes)."""
    import flatbuffers

    metadata = metadata or {}
    weights = weights or []
    w = _Writer(flatbuffers.Builder(4096))
    buffers = [w.buffer(b"")] + [w.buffer(data) for data in metadata.values()] + [w.buffer(data) for _, _, data in weights]
    slots = [(name, index) for index, name in enumerate(metadata, start=1)] + list((index_metadata or {}).items())
    entries = [w.metadata_entry(name, index) for name, index in slots]
    tensors = [w.tensor(name) for name in tensor_names or []]
    tensors += [w.tensor(name, tensor_type, index)
                for index, (name, tensor_type, _) in enumerate(weights, start=1 + len(metadata))]
    subgraph = w.subgraph(w.table_vector(tensors), subgraph_name)
    signatures = [w.signature(key) for key in signature_keys or []]
    subgraphs_vec, buffers_vec, metadata_vec, signatures_vec = (
        w.table_vector([subgraph]), w.table_vector(buffers), w.table_vector(entries), w.table_vector(signatures),
    )
    b = w.b
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers_vec, 0)
    b.PrependUOffsetTRelativeSlot(6, metadata_vec, 0)
    b.PrependUOffsetTRelativeSlot(7, signatures_vec, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


class _Writer:
    """The schema's tables, each written with its field slots as schema.fbs numbers them."""

    def __init__(self, builder) -> None:
        self.b = builder

    def table_vector(self, offsets: list[int]) -> int:
        b = self.b
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def buffer(self, data: bytes) -> int:
        b = self.b
        vec = b.CreateByteVector(data) if data else None
        b.StartObject(3)
        if vec is not None:
            b.PrependUOffsetTRelativeSlot(0, vec, 0)
        return b.EndObject()

    def metadata_entry(self, name: str, index: int) -> int:
        b = self.b
        n = b.CreateString(name)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, n, 0)
        b.PrependUint32Slot(1, index, 0)
        return b.EndObject()

    def tensor(self, name: str, tensor_type: int | None = None, buffer_index: int | None = None) -> int:
        b = self.b
        n = b.CreateString(name)
        b.StartObject(4)
        b.PrependUOffsetTRelativeSlot(3, n, 0)
        if buffer_index is not None:
            b.PrependUint32Slot(2, buffer_index, 0)
            b.PrependInt8Slot(1, tensor_type, 0)
        return b.EndObject()

    def subgraph(self, tensor_vec: int, name: str) -> int:
        b = self.b
        sg_name = b.CreateString(name)
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, tensor_vec, 0)
        b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
        return b.EndObject()

    def signature(self, key: str) -> int:
        b = self.b
        k = b.CreateString(key)
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(2, k, 0)
        return b.EndObject()

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def llm_parameters(shape: LlmShape) -> bytes:
    """odml.infra.proto.LlmParameters with the fields zoo checks (numbers as in real MediaPipe output)."""
    transformer = b"".join(_varint(field << 3) + _varint(value) for field, value in
                           ((3, shape.embedding_dim), (4, shape.hidden_dim), (7, shape.layers)))
    return _varint(1 << 3 | 2) + _varint(len(transformer)) + transformer + _varint(2 << 3) + _varint(shape.vocab_size)


def mediapipe_tensor_names(layers: int) -> list[str]:
    """The tensors of a MediaPipe LLM file, as a real FALCON_RW_1B conversion names them."""
    names = ["params.lm.final_ln.scale", "params.lm.softmax.logits_ffn.w", "params.lm.token_embedding.w"]
    for i in range(layers):
        p = f"params.lm.transformer.x_layers_{i}."
        names += [p + "pre_layer_norm.scale", p + "ff_layer.pre_layer_norm.scale",
                  p + "ff_layer.ffn_layer1.linear.w", p + "ff_layer.ffn_layer2.linear.w"]
        names += [p + f"self_attention.{x}.linear.w" for x in ("q", "k", "v", "post")]
    return names


def mediapipe_like_bin(
    model_type: str, backend: str, *, padding: int = 0, tokenizer: bytes = b"\x0a\x05spm",
    shape: LlmShape | None = None, layers: int | None = None, extra_metadata: dict[str, bytes] | None = None,
) -> bytes:
    """A flatbuffer carrying MediaPipe's LLM metadata and tensor names; `padding` stands in for weights."""
    code = {name: number for number, name in LLM_MODEL_TYPES.items()}[model_type]
    shape = shape or EXPECTED_SHAPES[model_type]
    data = build_tflite(
        metadata={"backend": backend.encode(), "spm_vocab_model": tokenizer,
                  "odml.infra.proto.LlmParameters": llm_parameters(shape), **(extra_metadata or {})},
        index_metadata={"odml.infra.LlmModelType": code},
        tensor_names=mediapipe_tensor_names(shape.layers if layers is None else layers),
        subgraph_name=model_type,
    )
    return data + b"\0" * padding


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
