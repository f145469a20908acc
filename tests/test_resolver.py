"""Resolving what a user typed to exactly one variant."""

from __future__ import annotations

import pytest

from registry.catalog import get_catalog
from registry.errors import AmbiguousVariantError, UnknownVariantError, VariantMismatchError
from registry.resolver import Filters, filter_rows, resolve


@pytest.fixture
def catalog():
    return get_catalog()


def test_exact_id_alias_and_model_with_options(catalog):
    assert resolve(catalog, "gemma-2b-it-gpu-int4")["id"] == "gemma-2b-it-gpu-int4"
    assert resolve(catalog, "gemma-2b")["id"] == "gemma-2b-it-gpu-int4"  # a variant alias
    assert resolve(catalog, "phi-2", Filters(backend="gpu", quant="int8"))["id"] == "phi-2-gpu-int8"
    assert resolve(catalog, "gpt2-base-en", Filters(quant="int8"))["id"] == "gpt2-cpu-int8"  # a model alias
    assert resolve(catalog, "demo")["id"] == "zoo-demo-cpu-int8"  # a family with one variant


def test_a_model_without_enough_options_is_ambiguous_and_names_the_missing_flags(catalog):
    with pytest.raises(AmbiguousVariantError) as info:
        resolve(catalog, "phi-2", Filters(backend="gpu"))
    assert info.value.candidates == ["phi-2-gpu-int4", "phi-2-gpu-int8"]
    assert "--quant" in info.value.fix and "--backend" not in info.value.fix


def test_typos_get_the_closest_ids(catalog):
    with pytest.raises(UnknownVariantError) as info:
        resolve(catalog, "gemma-2b-it-gpu-in4")
    assert info.value.suggestions[0] == "gemma-2b-it-gpu-int4"
    assert "zoo list" in info.value.fix
    with pytest.raises(UnknownVariantError) as info:
        resolve(catalog, "phi2")
    assert "phi-2" in info.value.suggestions


def test_options_that_no_variant_has_are_explained(catalog):
    with pytest.raises(UnknownVariantError, match=r"phi-2-cpu-int4 \(cpu, int4\)"):
        resolve(catalog, "phi-2", Filters(quant="fp16"))
    with pytest.raises(VariantMismatchError, match="its backend is gpu, not cpu"):
        resolve(catalog, "gemma-2b-it-gpu-int4", Filters(backend="cpu"))
    with pytest.raises(VariantMismatchError, match="does not run on web"):
        resolve(catalog, "gemma-2b-it-cpu-int4", Filters(platform="web"))


def test_filters(catalog):
    web = filter_rows(catalog, Filters(platform="web"))
    assert web and all(r["backend"] == "gpu" for r in web)
    assert {r["id"] for r in filter_rows(catalog, Filters(family="gemma2", backend="cpu"))} == {
        "gemma2-2b-it-cpu-int8", "gemma2-2b-it-hf-cpu-int8", "gemma2-2b-it-hf-cpu-int4"}
    assert {r["format"] for r in filter_rows(catalog, Filters(format="task"))} == {"task"}
    assert filter_rows(catalog, Filters(family="gpt2", quant="fp16")) and not filter_rows(catalog, Filters(family="gemma", quant="fp16"))
