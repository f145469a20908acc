"""What the built-in runners share besides zoo's runner protocol: the vocabulary check, and the build's own
time and identity in what they write (reproducible builds).

Runners are run as scripts, so their own directory is on sys.path and `from protocol import ...` works.
"""

from zoo_runner import fail


def require_tokens_in_vocabulary(tokenizer_path, tokens):
    """MediaPipe's bundler accepts tokens its tokenizer does not know; a model bundled so never stops."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(tokenizer_path))
    pieces = {processor.id_to_piece(i) for i in range(processor.get_piece_size())}
    missing = [t for t in tokens if t and t not in pieces]
    if missing:
        fail(
            f"the tokenizer's vocabulary has no {', '.join(repr(t) for t in missing)} "
            f"(its special pieces are {', '.join(repr(processor.id_to_piece(i)) for i in range(min(4, processor.get_piece_size())))})",
            "Set start_token and stop_tokens in the manifest's bundle to pieces the tokenizer has.",
        )


REPRODUCIBLE_EPOCH = 315532800
"""1980-01-01T00:00:00Z, the earliest time a zip can record: what a build writes when zoo gives no other."""


def build_time():
    """The time a build writes into its artifacts: SOURCE_DATE_EPOCH, which zoo sets for every build step."""
    import os

    text = os.environ.get("SOURCE_DATE_EPOCH", "")
    return max(REPRODUCIBLE_EPOCH, int(text)) if text.isdigit() else REPRODUCIBLE_EPOCH


def reproducible_litertlm():
    """litert-lm-builder stamps every .litertlm with a random uuid and the current time (its system metadata),
    so two builds of the same inputs differed in 124 bytes of the header. Make them the build's own: a
    uuid derived from the build key zoo passes (ZOO_BUILD_KEY) and the build time."""
    import datetime
    import os
    import uuid

    from litert_lm_builder import litertlm_builder

    key = os.environ.get("ZOO_BUILD_KEY", "")
    identity = str(uuid.uuid5(uuid.NAMESPACE_URL, f"zoo-build:{key}")) if key else str(uuid.UUID(int=0))
    stamp = datetime.datetime.fromtimestamp(build_time(), datetime.timezone.utc).isoformat()

    def populate_system_metadata(system_metadata):
        kept = [m for m in system_metadata if m.key not in ("uuid", "creation_timestamp")]
        return kept + [litertlm_builder.Metadata(key="uuid", value=identity, dtype=litertlm_builder.DType.STRING),
                       litertlm_builder.Metadata(key="creation_timestamp", value=stamp,
                                                 dtype=litertlm_builder.DType.STRING)]

    litertlm_builder.populate_system_metadata = populate_system_metadata


def reproducible_zip_times():
    """Zip entries written by name (ZipFile.writestr, as MediaPipe's .task bundler writes them) carry the
    current local time; give them the build time instead."""
    import time
    import zipfile

    original = zipfile.ZipFile.writestr
    fixed = time.gmtime(build_time())[:6]

    def writestr(self, zinfo_or_arcname, data, *args, **kwargs):
        if isinstance(zinfo_or_arcname, str) and not zinfo_or_arcname.endswith("/"):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=fixed)
            info.compress_type = kwargs.pop("compress_type", None) or self.compression
            info._compresslevel = self.compresslevel  # what writestr itself sets for a name (CPython 3.11)
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        return original(self, zinfo_or_arcname, data, *args, **kwargs)

    zipfile.ZipFile.writestr = writestr


def reproducible_flex_ops(model):
    """A TFLite model (bytes) whose Flex ops carry their TensorFlow NodeDef in one canonical byte order.

    A Flex op (a TensorFlow op the model keeps, SELECT_TF_OPS) stores its NodeDef serialized in the
    op's custom options, and TensorFlow serializes the NodeDef's attribute map in hash order, which
    changes from process to process: two conversions of the same Keras GPT-2 differed in 2.5 KB, all in
    those maps (PYTHONHASHSEED does not fix it; the order is C++'s). Protobuf's deterministic
    serialization sorts map keys and has the same length, so each NodeDef is rewritten in place and no
    offset in the model moves. The ops are the same messages; only their byte order is fixed.
    """
    from flatbuffers import flexbuffers
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.lite.python import schema_py_generated as schema

    data = bytearray(model)
    root = schema.Model.GetRootAs(data, 0)
    for s in range(root.SubgraphsLength()):
        graph = root.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            code = root.OperatorCodes(op.OpcodeIndex()).CustomCode() or b""
            field = op._tab.Offset(14)  # Operator.custom_options (the generated CustomOptions reads the same slot)
            if not code.startswith(b"Flex") or field == 0:
                continue
            start, length = op._tab.Vector(field), op._tab.VectorLen(field)
            options = bytes(data[start:start + length])
            serialized = flexbuffers.GetRoot(options).AsVector[1].AsStringBytes
            node = node_def_pb2.NodeDef.FromString(serialized)
            canonical = node.SerializeToString(deterministic=True)
            at = options.find(serialized)
            if len(canonical) == len(serialized) and at >= 0:
                data[start + at:start + at + len(canonical)] = canonical
    return bytes(data)


def canonical_buffer_order(path):
    """Rewrite a TFLite file whose weights live outside its flatbuffer (MediaPipe's `.bin`) with those
    weights in buffer order; return whether it was rewritten.

    MediaPipe's converter writes every tensor's bytes identically from run to run but places them in
    the file in an order that changes per process (its native writer's table order), so two
    conversions of one checkpoint differed in nearly every byte. The flatbuffer says where each
    buffer is (Buffer.offset, Buffer.size); here each buffer goes, in index order, to the next
    position aligned as the converter aligns them, and only those offset fields change. A file this
    does not recognize (overlapping buffers, bytes after the last one, an offset field among the
    weights) is left as the converter wrote it.
    """
    import mmap
    import os
    import struct
    from math import gcd

    with open(path, "rb") as source, mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ) as data:
        buffers = _tflite_buffers(data)
        external = [b for b in buffers if b[1] > 1]  # TFLite: an offset of 0 or 1 is no outside data
        if not external:
            return False
        start = min(offset for _, offset, _ in external)
        regions = sorted((offset, offset + size) for _, offset, size in external)
        if any(a[1] > b[0] for a, b in zip(regions, regions[1:])) or regions[-1][1] != len(data):
            return False
        if any(field is None or field + 8 > start for field, _, _ in external):  # a field among the weights
            return False
        shared = 0
        for _, offset, _ in external:
            shared = gcd(shared, offset)
        align = min(shared & -shared, 4096)  # the largest power of two every offset is a multiple of
        head = bytearray(data[:start])
        placed, cursor = [], start
        for field, offset, size in external:  # in buffer order
            cursor = -(-cursor // align) * align
            struct.pack_into("<Q", head, field, cursor)
            placed.append((cursor, offset, size))
            cursor += size
        partial = f"{path}.ordering"
        with open(partial, "wb") as target:
            target.write(head)
            for position, offset, size in placed:
                target.write(b"\0" * (position - target.tell()))
                for chunk in range(offset, offset + size, 64 << 20):
                    target.write(data[chunk:min(chunk + (64 << 20), offset + size)])
    os.replace(partial, path)
    return True


def _tflite_buffers(data):
    """(position of the Buffer's offset field, offset, size) for each buffer of a TFLite flatbuffer, in
    buffer order; fields the file omits are (None, 0, 0)."""
    import struct

    def table_field(table, index):
        vtable = table - struct.unpack_from("<i", data, table)[0]
        length = struct.unpack_from("<H", data, vtable)[0]
        if 4 + 2 * index >= length:
            return None
        relative = struct.unpack_from("<H", data, vtable + 4 + 2 * index)[0]
        return table + relative if relative else None

    root = struct.unpack_from("<I", data, 0)[0]
    vector_field = table_field(root, 4)  # Model.buffers
    if vector_field is None:
        return []
    vector = vector_field + struct.unpack_from("<I", data, vector_field)[0]
    found = []
    for i in range(struct.unpack_from("<I", data, vector)[0]):
        element = vector + 4 + 4 * i
        table = element + struct.unpack_from("<I", data, element)[0]
        offset_field, size_field = table_field(table, 1), table_field(table, 2)  # Buffer.offset, Buffer.size
        offset = struct.unpack_from("<Q", data, offset_field)[0] if offset_field else 0
        size = struct.unpack_from("<Q", data, size_field)[0] if size_field else 0
        found.append((offset_field, offset, size))
    return found
