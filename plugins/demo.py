"""zoo's tiny built-in demo model, for running the whole pipeline offline."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("demo.toml"))
