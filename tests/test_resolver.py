"""Resolving what a user typed to exactly one variant."""

from __future__ import annotations

import pytest

from registry.errors import AmbiguousVariantError, UnknownVariantError, VariantMismatchError
from registry.resolver import Filters, filter_rows, resolve


def test_exact_id_alias_and_model_with_options(catalog):
    assert resolve(catalog, "gemma-2b-it-gpu-int4")["id"] == "gemma-2b-it-gpu-int4"
    assert resolve(catalog, "gemma-2b")["id"] == "gemma-2b-it-gpu-int4"  # a variant alias
    assert resolve(catalog, "phi-2", Filters(backend="gpu", quant="int8"))["id"] == "phi-2-gpu-int8"
    assert resolve(catalog, "gpt2-base-en", Filters(quant="int8"))["id"] == "gpt2-cpu-int8"  # a model alias
    assert resolve(catalog, "demo")["id"] == "zoo-demo-cpu-int8"  # a family with one variant


def test_an_ambiguity_no_default_settles_names_the_choices_and_the_missing_flags(catalog):
    """A family spans models, and no model's default speaks for the others."""
    with pytest.raises(AmbiguousVariantError) as info:
        resolve(catalog, "gemma", Filters(backend="gpu", quant="int4"))
    assert info.value.candidates == ["gemma-2b-it-gpu-int4", "gemma-2b-it-hf-gpu-int4"]
    assert "--backend" not in info.value.fix


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


# ---------------------------------------------------------------------------- defaults: the commands as users type them


def test_every_built_in_model_has_one_default_and_each_backend_resolves(zoo):
    """`zoo pull|build MODEL [--backend cpu|gpu]` names exactly one variant for every model in the catalog."""
    import json

    from registry.catalog import Catalog
    from registry.resolver import Filters, resolve

    catalog = Catalog.load()
    models: dict[str, list[dict]] = {}
    for row in catalog.rows.values():
        models.setdefault(row["model"], []).append(row)
    for model, rows in models.items():
        if len(rows) > 1:
            assert [r["id"] for r in rows if r["default_rank"] == 0], f"{model} declares no default"
        chosen = resolve(catalog, model)
        assert chosen["id"] in {r["id"] for r in rows}
        for backend in {r["backend"] for r in rows}:
            assert resolve(catalog, model, Filters(backend=backend))["backend"] == backend
    assert resolve(catalog, "phi-2", Filters(backend="gpu"))["id"] == "phi-2-gpu-int4"
    assert resolve(catalog, "phi-2", Filters(backend="gpu", quant="int8"))["id"] == "phi-2-gpu-int8"  # options still pick
    assert resolve(catalog, "gemma-2b")["id"] == "gemma-2b-it-gpu-int4"  # an alias reaches the default too
    info = json.loads(zoo("info", "phi-2", "--json").stdout)
    assert [v["id"] for v in info["variants"] if v["default"]] == ["phi-2-gpu-int4"]


TWO_VARIANTS = """
schema_version = 1
family = "twotest"
description = "One model, two ready-made variants in a folder."

[[models]]
name = "two"
description = "Two variants."
platforms = ["android"]
source = { kind = "local", path = "files" }
license = { name = "MIT" }
defaults = ["two-cpu-int8", "two-cpu-fp32"]

[[models.variants]]
id = "two-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
files = [{ path = "fp32.tflite", role = "weights" }]

[[models.variants]]
id = "two-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
files = [{ path = "int8.tflite", role = "weights" }]
"""


def test_a_default_choice_is_said_on_stderr_and_in_json(tmp_path, zoo):
    import json

    from registry.testing.plugins import write_plugin_distribution
    from registry.testing.tflite_builder import build_tflite

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-twotest", "zoo_twotest", manifest=TWO_VARIANTS)
    (site / "zoo_twotest" / "files").mkdir()
    for name in ("fp32", "int8"):
        (site / "zoo_twotest" / "files" / f"{name}.tflite").write_bytes(build_tflite(tensor_names=[name]))
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_twotest"}
    said = zoo("pull", "two", env=env)
    assert said.returncode == 0, said.stderr
    assert "two: using its default variant two-cpu-int8 (also two-cpu-fp32" in said.stderr
    [pulled] = json.loads(zoo("pull", "two", "--json", env=env).stdout)
    assert pulled["id"] == "two-cpu-int8" and pulled["chosen_by_default"] and pulled["other_variants"] == ["two-cpu-fp32"]
    exact = json.loads(zoo("pull", "two-cpu-fp32", "--json", env=env).stdout)[0]
    assert "chosen_by_default" not in exact  # an exact id is no choice
    built = zoo("build", "phi-2", "--backend", "gpu", "--from", str(tmp_path / "no-checkpoint-here"))
    assert "using its default variant phi-2-gpu-int4" in built.stderr and "phi-2-gpu-int8" in built.stderr


def test_defaults_are_validated_like_every_key():
    import copy

    import pytest

    from registry.errors import ManifestError
    from registry.manifest import parse_manifest
    from helpers import FUZZ_MANIFEST as BASE

    data = copy.deepcopy(BASE)
    data["models"][0]["variants"].append({"id": "fuzz-lm-gpu-int4", "backend": "gpu", "quantization": "int4", "format": "tflite"})
    for defaults, problem in [(["nope"], "is not a variant"), (["fuzz-lm-cpu-int8", "fuzz-lm-cpu-int8"], "listed twice"),
                              (["fuzz-lm-cpu-int8"], "no gpu variant is listed")]:
        data["models"][0]["defaults"] = defaults
        with pytest.raises(ManifestError, match=problem):
            parse_manifest(data, "x.toml")
    data["models"][0]["defaults"] = ["fuzz-lm-gpu-int4", "fuzz-lm-cpu-int8"]
    assert parse_manifest(data, "x.toml")
