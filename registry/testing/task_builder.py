"""Build small MediaPipe .task bundles for tests: a zip with the members MediaPipe's bundler writes.

TF_LITE_PREFILL_DECODE (a TFLite flatbuffer), TOKENIZER_MODEL (a sentencepiece model) and METADATA
(the LlmParameters-style proto bytes), stored uncompressed as the bundler stores them.
"""

from __future__ import annotations

import io
import zipfile


def build_task(model: bytes | None = None, tokenizer: bytes = b"\x0a\x05spm", metadata: bytes = b"") -> bytes:
    """A .task that passes the `.task` structural check; `model` defaults to a one-tensor flatbuffer."""
    if model is None:
        from registry.testing.tflite_builder import build_tflite

        model = build_tflite(tensor_names=["w"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as bundle:
        bundle.writestr("TF_LITE_PREFILL_DECODE", model)
        bundle.writestr("TOKENIZER_MODEL", tokenizer)
        bundle.writestr("METADATA", metadata)
    return out.getvalue()
