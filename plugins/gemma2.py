"""Gemma 2: Kaggle prebuilt MediaPipe models and Hugging Face builds."""

import manifests
from registry.hookspecs import hookimpl


@hookimpl
def register_families(register):
    register(manifests.path("gemma2.toml"))
