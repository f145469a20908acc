"""Ready-made LiteRT-LM models (.litertlm, .task) from Google and litert-community on Hugging Face."""

import manifests
from registry.api import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("litert_lm.toml"))
