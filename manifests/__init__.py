"""The built-in manifests. Family plugins name their file here; the core never lists them."""

from pathlib import Path

DIRECTORY = Path(__file__).parent


def path(name: str) -> Path:
    return DIRECTORY / name
