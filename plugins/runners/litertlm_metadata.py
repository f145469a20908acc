"""The LLM metadata a .litertlm carries (chat template, sampler defaults, start and stop tokens),
read with the format's own reader and schema from litert-lm-builder, in the litert-torch toolchain.

Runners are run as scripts, so their own directory is on sys.path and `from litertlm_metadata import ...` works.
"""

import io

MAX_METADATA = 8 << 20
"""A real LlmMetadata section is a few KB (a chat template included); a larger one is refused unread."""


def llm_metadata(path):
    """The LlmMetadata proto of the .litertlm at `path` as a dict (proto field names); {} when it has none."""
    from google.protobuf import json_format
    from litert_lm_builder import litertlm_header_schema_py_generated as schema
    from litert_lm_builder import litertlm_peek
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    header = litertlm_peek.read_litertlm_header(str(path), io.StringIO())
    sections = header.SectionMetadata()
    for i in range(sections.ObjectsLength() if sections is not None else 0):
        section = sections.Objects(i)
        if section.DataType() != schema.AnySectionDataType.LlmMetadataProto:
            continue
        length = section.EndOffset() - section.BeginOffset()
        if not 0 < length <= MAX_METADATA:
            raise ValueError(f"an LlmMetadata section of {length} bytes")
        with open(path, "rb") as fh:
            fh.seek(section.BeginOffset())
            data = fh.read(length)
        metadata = llm_metadata_pb2.LlmMetadata()
        metadata.ParseFromString(data)
        return json_format.MessageToDict(metadata, preserving_proto_field_name=True)
    return {}


def summary(metadata):
    """What users want to know of it: chat template, sampler defaults, tokens, context, model type."""
    def token(union):
        if not union:
            return None
        return union.get("token_str") if "token_str" in union else union.get("token_ids", {}).get("ids")

    sampler = metadata.get("sampler_params") or {}
    return {
        "chat_template": metadata.get("jinja_prompt_template") or None,
        "sampler": {key: sampler[field] for key, field in (("type", "type"), ("top_k", "k"), ("top_p", "p"),
                                                           ("temperature", "temperature")) if field in sampler},
        "start_token": token(metadata.get("start_token")),
        "stop_tokens": [token(t) for t in metadata.get("stop_tokens", [])],
        "max_num_tokens": metadata.get("max_num_tokens"),
        "model_type": next(iter(metadata.get("llm_model_type") or {}), None),
    }
