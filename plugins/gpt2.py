"""GPT-2 from the keras-hub presets, converted to TFLite as the TensorFlow guide intends."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("gpt2.toml"))
