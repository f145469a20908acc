"""Microsoft Phi-2, built with the MediaPipe converter."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("phi.toml"))
