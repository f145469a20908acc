"""zoo plugin: TinyStories-style decoders (a Llama layout), built with zoo's litert-torch converter.

It adds one family (family.toml) whose recipe names zoo's `litert-torch` converter with this
package's own architecture module (architecture.py, beside the manifest), which the converter runs
inside its toolchain. Everything else, the export settings LiteRT-LM can run, the .task and
.litertlm bundles and the generation check, is zoo's; it adds one check of its own, which runs in a
toolchain installed from the lock the package ships (vocabulary.py), and one file format, GGUF
(gguf.py), which `zoo import` then takes and a variant may name. It imports nothing from zoo but
registry.api.
"""

from pathlib import Path

from registry.api import hookimpl

from zoo_tinystories.gguf import GgufFormat, GgufHeader
from zoo_tinystories.vocabulary import TokenizerVocabulary

HERE = Path(__file__).parent


@hookimpl
def register_families(register):
    register(HERE / "family.toml")


@hookimpl
def register_formats(register):
    register(GgufFormat())


@hookimpl
def register_verifiers(register):
    register(TokenizerVocabulary())
    register(GgufHeader())
