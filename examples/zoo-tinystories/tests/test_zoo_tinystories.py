"""The example plugin's own tests, written with zoo's test kit (registry.api only)."""

from pathlib import Path

import pytest

import zoo_tinystories
from registry.api import BuildError, BuildOptions, assert_conforms


def test_the_plugin_conforms(plugin_catalog):
    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    assert_conforms(catalog, "tinystories")
    assert catalog.rows["tinystories-cpu-int8"]["recipe"]["converter"] == "litert-torch"


def test_the_architecture_module_is_found_beside_the_manifest(plugin_catalog):
    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    variant = catalog.variant("tinystories-cpu-int8")
    converter = catalog.component("converter", "litert-torch")
    converter.validate(variant, BuildOptions(dict(variant.recipe.params)))  # accepted: the module exists


def test_an_architecture_module_outside_the_package_is_refused(plugin_catalog):
    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    variant = catalog.variant("tinystories-cpu-int8")
    converter = catalog.component("converter", "litert-torch")
    params = dict(variant.recipe.params) | {"architecture_module": "../../../etc/passwd"}
    with pytest.raises(BuildError, match="is not a file inside"):
        converter.validate(variant, BuildOptions(params))
    assert (Path(zoo_tinystories.__file__).parent / "architecture.py").is_file()


def test_its_check_declares_a_toolchain_with_a_lock_for_this_platform(plugin_catalog):
    """The vocabulary check runs in its own toolchain, installed from the lock beside the manifest."""
    import sys

    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    check = catalog.component("verifier", "tinystories-vocabulary")
    assert check.toolchain.requirements == ("sentencepiece==0.2.3",)
    lock = check.toolchain.locks / f"{sys.platform}-x86_64-py3.11.txt"
    assert lock.is_file() and "sentencepiece==0.2.3 \\\n    --hash=sha256:" in lock.read_text()


def gguf_bytes(tensors=1, magic=b"GGUF"):
    import struct

    return struct.pack("<4sIQQ", magic, 3, tensors, 1) + b"\0" * 64


def test_its_own_format_is_checked_by_its_own_check(plugin_catalog, tmp_path):
    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    assert catalog.format_of("model.Q8_0.gguf") == "gguf"
    check = catalog.component("verifier", "gguf-header")
    good, junk = tmp_path / "good.gguf", tmp_path / "junk.gguf"
    good.write_bytes(gguf_bytes())
    junk.write_bytes(gguf_bytes(magic=b"GGML"))
    assert check.check(good, None, None) == []
    assert "GGUF magic" in check.check(junk, None, None)[0]


def test_zoo_import_takes_a_gguf_and_refuses_junk(zoo_cli, tmp_path):
    """zoo itself knows nothing of GGUF: the format and its check are this plugin's."""
    good, junk = tmp_path / "story.gguf", tmp_path / "broken.gguf"
    good.write_bytes(gguf_bytes())
    junk.write_bytes(gguf_bytes(tensors=10**9))
    mine = {"ZOO_LOAD_PLUGINS": "tinystories"}  # the test kit loads no third-party plugin unless asked
    imported = zoo_cli("import", str(good), "--as", "story", "--json", env=mine)
    assert '"format": "gguf"' in imported.stdout
    assert zoo_cli("verify", "story", env=mine).returncode == 0
    refused = zoo_cli("import", str(junk), env=mine, check=False)
    assert refused.returncode != 0 and "cannot hold" in refused.stderr
    assert "broken" not in zoo_cli("ls").stdout
