"""The example plugin's own tests, written with zoo's test kit."""

import zoo_tinystories
from registry.testing.pytest_plugin import assert_conforms


def test_the_plugin_conforms(plugin_catalog):
    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    assert_conforms(catalog, "tinystories")
    assert catalog.rows["tinystories-cpu-int8"]["recipe"]["converter"] == "tinystories-litert"


def test_an_unknown_architecture_is_refused_before_any_work(plugin_catalog):
    import pytest

    from registry.errors import BuildError

    catalog = plugin_catalog(zoo_tinystories, "tinystories")
    converter = catalog.component("converter", "tinystories-litert")
    with pytest.raises(BuildError, match="no architecture 'llama'"):
        converter.validate(catalog.variant("tinystories-cpu-int8"), {"params": {"arch": "llama"}})
