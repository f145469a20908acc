"""The built-in source kinds: Kaggle, Hugging Face, https URLs and local directories."""

from registry.components import SourceKind
from registry.hookspecs import hookimpl


class KaggleSource(SourceKind):
    name = "kaggle"
    description = "Kaggle Models through kagglehub (owner/model/framework/variation[/version])."


class HuggingFaceSource(SourceKind):
    name = "huggingface"
    description = "The Hugging Face Hub through huggingface_hub (repo, pinned revision); HF_ENDPOINT mirrors work."


class HttpsSource(SourceKind):
    name = "https"
    description = "Plain https URLs."


class LocalSource(SourceKind):
    name = "local"
    description = "A directory on this machine: beside the manifest, or given with --from DIR."


@hookimpl
def register_sources(register):
    for source in (KaggleSource(), HuggingFaceSource(), HttpsSource(), LocalSource()):
        register(source)
