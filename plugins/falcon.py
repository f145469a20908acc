"""Falcon-RW-1B, built with the MediaPipe converter from its PyTorch checkpoint."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("falcon.toml"))
