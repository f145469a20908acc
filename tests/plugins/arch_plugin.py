"""A third-party plugin adding a PyTorch architecture through zoo's litert-torch machinery (tests)."""

from pathlib import Path

from plugins.converter_litert_torch import LiteRTTorchConverter  # the machinery a plugin author reuses
from registry.hookspecs import hookimpl


class TinyStoriesConverter(LiteRTTorchConverter):
    name = "tinystories-litert"
    description = "A Llama variant whose architecture module ships with this plugin."
    architectures = {"tinystories": ("Llama with the plugin's own config mapping", Path(__file__).with_name("tinystories_arch.py"))}


@hookimpl
def register_converters(register):
    register(TinyStoriesConverter())


@hookimpl
def register_families(register):
    register(Path(__file__).with_name("family.toml"))
