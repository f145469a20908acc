"""Your own Hugging Face causal LM (fine-tuned or not) to a .litertlm, through litert-torch's export_hf."""

import manifests
from registry.api import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("hf.toml"))
