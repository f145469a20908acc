"""zoo plugin: TinyStories-style decoders (a Llama layout), through zoo's litert-torch machinery.

It adds one family (family.toml) and one converter: zoo's LiteRTTorchConverter with this package's
own architecture module, which runs inside zoo's litert-torch toolchain. Everything else, the
export settings LiteRT-LM can run, the .task and .litertlm bundles and the generation check, is
zoo's.
"""

from pathlib import Path

from plugins.converter_litert_torch import LiteRTTorchConverter
from registry.hookspecs import hookimpl

HERE = Path(__file__).parent


class TinyStoriesConverter(LiteRTTorchConverter):
    name = "tinystories-litert"
    description = "TinyStories-style Llama decoders to LiteRT, with this plugin's architecture mapping."
    architectures = {"tinystories": ("TinyStories-style Llama decoders (untied head, grouped-query attention)",
                                     HERE / "architecture.py")}


@hookimpl
def register_converters(register):
    register(TinyStoriesConverter())


@hookimpl
def register_families(register):
    register(HERE / "family.toml")
