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
