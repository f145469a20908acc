"""Read a .litertlm container's header without LiteRT-LM, bounded, for its structural check.

The layout (schema/core/litertlm_header_schema.fbs in google-ai-edge/LiteRT-LM): 8 bytes of magic
`LITERTLM`, a version as three little-endian u32 (major, minor, patch), the header's end offset as
a u64 at byte 24, and from byte 32 a FlatBuffer `LiteRTLMMetaData` (system metadata, section
objects with begin/end offsets and data types), read with the classes litert-lm-builder generates
from that schema. The header carries no checksum, and LiteRT-LM's own reader (and litert-lm-builder's
`read_litertlm_header`) trusts every offset in it, so each is checked here against the file and a
cap before anything is read. The LLM metadata section (a protobuf) is decoded with litert-lm-builder's
`llm_metadata_pb2`, bounded too: start and stop tokens, chat template, context.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path


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
    items: dict = field(default_factory=dict, hash=False, compare=False)
    """The section's string metadata (model_type, backend_constraint, a chip name), bounded."""

    @property
    def kind(self) -> str:
        return SECTION_TYPES.get(self.data_type, f"unknown type {self.data_type}")


MAX_LLM_METADATA = 8 << 20
"""A real LlmMetadata section is a few KB, a chat template included."""
TOKENIZERS = (4, 6)  # SP_Tokenizer, HF_Tokenizer_Zlib
LLM_METADATA = 5


@dataclass
class LiteRTLMInfo:
    version: tuple[int, int, int]
    header_end: int
    size: int
    sections: list[Section] = field(default_factory=list)
    system: dict[str, str] = field(default_factory=dict)
    """The header's system metadata (string values; e.g. the builder that wrote it)."""


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
    from litert_lm_builder import litertlm_header_schema_py_generated as schema

    try:
        if len(metadata) < 8:
            raise IndexError("shorter than a FlatBuffer")
        root = schema.LiteRTLMMetaData.GetRootAs(metadata, 0)
        sections = root.SectionMetadata()
        count = sections.ObjectsLength() if sections is not None else 0
        if count > MAX_SECTIONS:
            raise NotLiteRTLM(f"it lists {count} sections")
        for i in range(count):
            obj = sections.Objects(i)
            items = _strings(schema, [obj.Items(j) for j in range(min(obj.ItemsLength(), MAX_SECTIONS))])
            info.sections.append(Section(obj.BeginOffset(), obj.EndOffset(), obj.DataType(), items))
        system = root.SystemMetadata()
        if system is not None:
            info.system = _strings(schema, [system.Entries(i) for i in range(min(system.EntriesLength(), MAX_SECTIONS))])
    except NotLiteRTLM:
        raise
    except (struct.error, RecursionError, OverflowError, IndexError, ValueError, TypeError, AttributeError) as exc:
        raise NotLiteRTLM(f"its header is not a readable LiteRTLMMetaData flatbuffer ({type(exc).__name__})") from None
    return info


def _strings(schema, entries) -> dict[str, str]:
    """The string-valued key/value pairs among `entries`, keys and values cut at 200 characters."""
    found = {}
    for entry in entries:
        key, value = entry.Key(), entry.Value()
        if key and value is not None and entry.ValueType() == schema.VData.StringValue:
            text = schema.StringValue()
            text.Init(value.Bytes, value.Pos)
            found[key.decode("utf-8", "replace")[:200]] = (text.Value() or b"").decode("utf-8", "replace")[:200]
    return found


def llm_metadata(path: Path, info: LiteRTLMInfo) -> dict:
    """The LlmMetadata section decoded: start and stop tokens, chat template, context; {} when absent.

    Raises NotLiteRTLM when the section is too big or not the protobuf it claims to be."""
    section = next((s for s in info.sections if s.data_type == LLM_METADATA), None)
    if section is None:
        return {}
    length = section.end - section.begin
    if not 0 < length <= MAX_LLM_METADATA or not info.header_end <= section.begin <= section.end <= info.size:
        raise NotLiteRTLM(f"its LlmMetadata section claims {length} bytes at {section.begin}")
    from google.protobuf.message import DecodeError
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    with open(path, "rb") as fh:
        fh.seek(section.begin)
        data = fh.read(length)
    message = llm_metadata_pb2.LlmMetadata()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise NotLiteRTLM(f"its LlmMetadata section is not an LlmMetadata protobuf ({type(exc).__name__})") from None

    def token(union) -> str | list[int] | None:
        kind = union.WhichOneof("token_union") if union.ByteSize() else None
        if kind == "token_str":
            return union.token_str[:100]
        return list(union.token_ids.ids)[:16] if kind == "token_ids" else None

    return {
        "start_token": token(message.start_token) if message.HasField("start_token") else None,
        "stop_tokens": [token(t) for t in message.stop_tokens[:32]],
        "chat_template": len(message.jinja_prompt_template) or None,
        "max_num_tokens": message.max_num_tokens or None,
        "model_type": message.llm_model_type.WhichOneof("model_type") if message.HasField("llm_model_type") else None,
    }


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
    from litert_lm_builder.litertlm_core import BLOCK_SIZE

    for section in spans:
        if not info.header_end <= section.begin <= section.end <= info.size:
            found.append(f"a {section.kind} section spans bytes {section.begin}-{section.end}, outside the body "
                         f"({info.header_end}-{info.size})")
        elif section.begin % BLOCK_SIZE:
            found.append(f"a {section.kind} section begins at byte {section.begin}, not on a {BLOCK_SIZE}-byte block "
                         "as the format lays sections out (LiteRT-LM maps them in place)")
    for before, after in zip(spans, spans[1:]):
        if after.begin < before.end:
            found.append(f"sections overlap ({before.kind} {before.begin}-{before.end} and {after.kind} {after.begin}-{after.end})")
            break
    models = [s for s in info.sections if s.data_type == 3]
    if not models:
        found.append("it holds no TFLiteModel section")
    if not any(s.data_type in TOKENIZERS for s in info.sections):
        found.append("it holds no tokenizer section (SP_Tokenizer or HF_Tokenizer_Zlib), which LiteRT-LM needs")
    if not any(s.data_type == LLM_METADATA for s in info.sections):
        found.append("it holds no LlmMetadataProto section (start and stop tokens), which LiteRT-LM needs")
    if not found:
        try:
            llm_metadata(path, info)
        except NotLiteRTLM as exc:
            found.append(str(exc))
    if not found:
        with open(path, "rb") as fh:
            for model in models:
                fh.seek(model.begin)
                if fh.read(8)[4:8] != b"TFL3":
                    found.append(f"the TFLiteModel section at byte {model.begin} is not a TFLite flatbuffer")
    return found


def model_weights(path: Path) -> dict[str, int]:
    """The bytes of the constant tensors of the .litertlm's (first) TFLiteModel section, by element type.

    Raises NotLiteRTLM when the file or that model cannot be read."""
    from . import tflite

    info = read(path)
    model = next((s for s in info.sections if s.data_type == 3), None)
    if model is None or not info.header_end <= model.begin < model.end <= info.size:
        raise NotLiteRTLM("it holds no readable TFLiteModel section")
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm, memoryview(mm) as whole:
        with whole[model.begin:model.end] as section:
            try:
                return tflite.read_bytes(section).weight_bytes
            except tflite.NotTFLite as exc:
                raise NotLiteRTLM(f"its TFLiteModel section: {exc}") from None
            except (struct.error, RecursionError, OverflowError, IndexError) as exc:
                raise NotLiteRTLM(f"its TFLiteModel section is a corrupt flatbuffer ({type(exc).__name__})") from None


MAIN_MODEL_TYPES = ("tf_lite_prefill_decode", "tf_lite_prefill_decode_hw", "tf_lite_prefill", "tf_lite_decode",
                    "tf_lite_artisan_text_decoder")
"""The sections that generate text, as LiteRT-LM's model_info.cc classifies them."""
CHIP_KEYS = ("soc_name", "soc_model", "target_soc", "soc", "chipset", "target_device")
"""Keys that name the chip an NPU file is compiled for (model_info.cc's IsSocNameKey)."""
BACKEND_TOKENS = {"cpu": "cpu", "cpu_artisan": "cpu", "gpu": "gpu", "gpu_artisan": "gpu", "npu": "npu",
                  "google_tensor_artisan": "npu"}


@dataclass(frozen=True)
class Accelerators:
    """What a .litertlm says its text model runs on: LiteRT-LM's own reading (schema/model_info/model_info.cc)
    of the main model section's backend_constraint (none: cpu and gpu) and of the chip an NPU file names, in
    its section or system metadata or in the model's LiteRtStamp (125 bytes of maker, then 125 of chip)."""

    backends: tuple[str, ...]
    chip: str | None


def accelerators(path: Path) -> Accelerators:
    """Raises NotLiteRTLM when the header or the model section cannot be read."""
    info = read(path)
    models = [s for s in info.sections if s.data_type == 3]
    main = next((s for s in models if s.items.get("model_type") in MAIN_MODEL_TYPES), models[0] if models else None)
    if main is None:
        raise NotLiteRTLM("it holds no TFLiteModel section")
    constraint = main.items.get("backend_constraint", "")
    backends = tuple(dict.fromkeys(BACKEND_TOKENS[t] for t in (p.strip().lower() for p in constraint.split(","))
                                   if t in BACKEND_TOKENS)) or ("cpu", "gpu")
    chip = next((main.items[k] for k in CHIP_KEYS if main.items.get(k)), None)
    chip = chip or next((info.system[k] for k in CHIP_KEYS if info.system.get(k)), None)
    if chip is None and "npu" in backends:
        chip = _stamped_chip(path, main, info)
    return Accelerators(backends, chip)


def _stamped_chip(path: Path, main: Section, info: LiteRTLMInfo) -> str | None:
    """The chip in the model's LiteRtStamp metadata, when it has one."""
    from . import tflite

    if not info.header_end <= main.begin < main.end <= info.size:
        raise NotLiteRTLM("its TFLiteModel section lies outside the file")
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm, memoryview(mm) as whole:
        with whole[main.begin:main.end] as section:
            try:
                stamp = tflite.read_bytes(section).metadata.get("LiteRtStamp", b"")
            except (tflite.NotTFLite, struct.error, RecursionError, OverflowError, IndexError) as exc:
                raise NotLiteRTLM(f"its TFLiteModel section cannot be read ({type(exc).__name__})") from None
    if len(stamp) < 250:
        return None
    return stamp[125:250].split(b"\0", 1)[0].decode("utf-8", "replace") or None


def accelerator_problems(path: Path, accelerator: str, backend: str) -> list[str]:
    """Where the file contradicts what its manifest says it is compiled for: an NPU file for another chip, a
    file for another accelerator, a cpu or gpu variant whose model does not run there."""
    try:
        facts = accelerators(path)
    except NotLiteRTLM as exc:
        return [str(exc)]
    runs_on = ", ".join(facts.backends)
    if accelerator.startswith("npu"):
        if "npu" not in facts.backends:
            return [f"the manifest says it is compiled for {accelerator}, but its model runs on {runs_on}, no NPU"]
        wanted = accelerator.partition(":")[2]
        if wanted and facts.chip and not _same_chip(wanted, facts.chip):
            return [f"it is compiled for the {facts.chip} chip, but the manifest says {accelerator}: it would not load "
                    "on the devices this variant is for"]
        return []
    if backend not in facts.backends:
        return [f"its model runs on {runs_on}" + (f" ({facts.chip})" if facts.chip else "")
                + f", but the manifest says it is a {backend} file"]
    return []


def _same_chip(wanted: str, chip: str) -> bool:
    """'qualcomm-sm8750' (a manifest's npu:<soc>) names the chip 'SM8750' (what the file says)."""
    norm = "".join(c for c in chip.lower() if c.isalnum())
    return norm == "".join(c for c in wanted.lower() if c.isalnum()) or norm in (
        "".join(c for c in part if c.isalnum()) for part in wanted.lower().split("-"))


QUANTIZED_TYPES = ("int8", "uint8", "int4", "int16")
"""Element types a quantization recipe stores weights in; a float32 model has none of them."""


def describe_weights(weights: dict[str, int]) -> str:
    """"int8 134.5 MB, float32 0.1 MB": the largest first."""
    return ", ".join(f"{kind} {size / 1e6:.1f} MB" for kind, size in sorted(weights.items(), key=lambda kv: -kv[1]))


def quantization_problems(weights: dict[str, int], label: str) -> list[str]:
    """Whether a model's weights are what its variant's quantization label says: only floats for
    fp32, mostly int8 for int8, int4 weights for int4. Other labels are not checked."""
    total = sum(weights.values()) or 1
    shown = describe_weights(weights)
    quantized = {kind: weights[kind] for kind in QUANTIZED_TYPES if weights.get(kind)}
    if label == "fp32" and quantized:
        return [f"it is labelled fp32, but its weights are {shown}: the converter quantized it"]
    if label == "int8" and weights.get("int8", 0) * 2 < total:
        return [f"it is labelled int8, but its weights are {shown or 'none'}"]
    if label == "int4" and not weights.get("int4"):
        return [f"it is labelled int4, but its weights are {shown or 'none'} (no int4 tensors)"]
    return []
