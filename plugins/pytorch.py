"""Custom PyTorch decoder LLMs converted with litert-torch (AI Edge Torch)."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("pytorch.toml"))
