"""StableLM-3B-4E1T, built with the MediaPipe converter."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("stablelm.toml"))
