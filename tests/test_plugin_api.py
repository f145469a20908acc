"""Plugin API v1: one public module, a typed build contract, and a core that knows no built-in by name."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def zoo_imports(path: Path) -> list[str]:
    """Every zoo module a Python file imports (registry.*, plugins.*, zoo_cli.*), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        found += [f"{path.name}:{node.lineno} {name}" for name in names
                  if name.split(".")[0] in ("registry", "plugins", "zoo_cli") and name != "registry.api"]
    return found


def test_the_example_plugin_imports_only_the_public_api():
    files = sorted((REPO / "examples").rglob("*.py"))
    assert len(files) >= 4
    assert [i for f in files for i in zoo_imports(f)] == []


def test_the_scaffold_writes_a_plugin_that_imports_only_the_public_api(tmp_path):
    from zoo_cli.root import main

    assert main(["plugin", "new", "acme-api", "--dir", str(tmp_path)]) == 0
    files = sorted((tmp_path / "zoo-acme-api").rglob("*.py"))
    assert len(files) == 3
    assert [i for f in files for i in zoo_imports(f)] == []


def test_the_public_module_lists_what_it_exports_and_stays_light():
    import subprocess

    import registry.api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    code = "import sys, registry.api; print(json.dumps(sorted(m for m in ('pydantic', 'flatbuffers', 'huggingface_hub', 'kagglehub') if m in sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded) == []
    with pytest.raises(AttributeError, match="the plugin API is"):
        api.partial_keys  # noqa: B018 - a typo names what exists


def builtin_names() -> dict[str, set[str]]:
    """The names the built-in plugins register, by kind (families and models included)."""
    from registry.catalog import Catalog

    catalog = Catalog.load()
    names: dict[str, set[str]] = {}
    for kind, registered in catalog.components.items():
        names[kind] = {n for n, owner in registered.items() if catalog.records[owner].builtin}
    names["family"] = {f.name for f in catalog.families.values() if catalog.records[f.plugin].builtin}
    names["model"] = {m for f in catalog.families.values() if catalog.records[f.plugin].builtin for m in f.models}
    return names


def string_constants(path: Path) -> list[tuple[int, str]]:
    """String literals of a module that are code, not documentation (docstrings left out)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_the_core_names_no_built_in_component_family_or_model():
    """registry/ works only through what plugins register: no built-in converter, bundler, verifier,
    runtime, family or model name appears in its code (the test kit, which builds the built-in
    formats' files and hubs for plugin authors, aside). Format names are the core's vocabulary."""
    from registry.manifest import ArtifactFormat
    from typing import get_args

    names = builtin_names()
    formats = set(get_args(ArtifactFormat))
    components = (names["converter"] | names["bundler"] | names["verifier"] | names["runtime"]) - formats
    exact = components | names["family"] | names["model"] - formats
    assert {"mediapipe", "litert-torch", "tflite-flatbuffer", "task-bundle", "gemma", "phi-2"} <= exact
    found = []
    for path in sorted((REPO / "registry").rglob("*.py")):
        if "testing" in path.relative_to(REPO / "registry").parts:
            continue
        for line, text in string_constants(path):
            quoted = [n for n in components if f"'{n}'" in text or f'"{n}"' in text or f"`{n}`" in text]
            if text in exact or quoted:
                found.append(f"registry/{path.relative_to(REPO / 'registry')}:{line} {text[:80]!r}")
    assert found == []


# ---------------------------------------------------------------------------- the typed build contract


def test_declared_options_are_typed_merged_and_unknown_ones_refused():
    from registry.api import BuildError, Param
    from registry.params import merge

    declared = {"kv_cache_max_len": Param("context", type=int, default=64), "prefill_seq_len": Param("lengths", type=list[int]),
                "arch": Param("architecture", default="llama"), "fast": Param("a flag", type=bool, default=False)}
    merged = merge("x", declared, {"prefill_seq_len": [8, 32]}, {"kv_cache_max_len": "128", "fast": "yes"}, variant="v")
    assert dict(merged) == {"kv_cache_max_len": 128, "arch": "llama", "fast": True, "prefill_seq_len": [8, 32]}
    with pytest.raises(TypeError):
        merged["arch"] = "qwen2"  # read-only: every step sees the same values
    with pytest.raises(BuildError) as unknown:
        merge("x", declared, {}, {"kv_cache": "128"}, variant="v")
    assert "no option 'kv_cache'" in unknown.value.message and "kv_cache_max_len (context)" in unknown.value.fix
    with pytest.raises(BuildError, match="is not a whole number"):
        merge("x", declared, {}, {"kv_cache_max_len": "lots"}, variant="v")
    with pytest.raises(BuildError, match="comma-separated list of whole numbers"):
        merge("x", declared, {}, {"prefill_seq_len": "8,,32"}, variant="v")
    with pytest.raises(BuildError, match="takes no --param"):
        merge("x", {}, {"mode": "ok"}, {"mode": "fast"}, variant="v")
    assert dict(merge("x", {}, {"mode": "ok"}, {}, variant="v")) == {"mode": "ok"}  # undeclared recipe keys pass


def test_an_unknown_param_is_refused_before_any_work_naming_the_options(zoo, tmp_path):
    result = zoo("build", "pytorch", "--from", str(tmp_path), "--param", "kv_cache=128")
    assert result.returncode != 0 and "internal error" not in result.stderr
    assert "has no option 'kv_cache'" in result.stderr and "kv_cache_max_len" in result.stderr


def test_lora_is_refused_clearly_for_a_converter_that_does_not_declare_it(tmp_path, zoo):
    """Before, any converter but MediaPipe's given --lora hit an internal error (no prepare_lora)."""
    from registry.api import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-nolora", "zoo_nolora", source='''
from registry.api import Converter, Toolchain, hookimpl

class NoLora(Converter):
    name = "nolora"
    description = "Takes no adapters."
    toolchain = Toolchain("nolora", ())

@hookimpl
def register_converters(register):
    register(NoLora())

@hookimpl
def register_families(register):
    register({"schema_version": 1, "family": "nolora", "description": "d", "models": [{
        "name": "nolora-lm", "description": "d", "platforms": ["android"], "license": {"name": "MIT"},
        "source": {"kind": "local"}, "recipe": {"converter": "nolora"}, "lora": {"max_rank": 8},
        "variants": [{"id": "nolora-lm-gpu-int8", "backend": "gpu", "quantization": "int8", "format": "tflite"}]}]})
''')
    adapter = tmp_path / "adapter_model.safetensors"
    adapter.write_bytes(b"\0" * 16)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_nolora"}
    result = zoo("build", "nolora-lm", "--from", str(tmp_path), "--lora", str(adapter), "--lora-rank", "4", env=env)
    assert result.returncode != 0 and "internal error" not in result.stderr
    assert "does not take LoRA adapters (nolora-lm takes none)" in result.stderr


def test_plugins_check_runs_each_recipe_past_its_converter(tmp_path, zoo):
    """Per-part bit widths are a MediaPipe option: the litert-torch converter refuses them, and
    `zoo plugins check` says so (the manifest schema no longer names any converter)."""
    from registry.api import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-bits", "zoo_bits", manifest='''
schema_version = 1
family = "bits"
description = "d"
[[models]]
name = "bits-lm"
description = "d"
platforms = ["android"]
license = { name = "MIT" }
source = { kind = "local" }
recipe = { converter = "litert-torch" }
[[models.variants]]
id = "bits-lm-cpu-mixed"
backend = "cpu"
quantization = { attention = 8, feedforward = 4, embedding = 8 }
format = "tflite"
''')
    result = zoo("plugins", "check", "zoo_bits", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_bits"})
    assert result.returncode != 0
    assert "bits-lm-cpu-mixed: its converter 'litert-torch' refuses the recipe: litert-torch quantizes to" in " ".join(result.stdout.split())


def test_a_source_kind_declares_its_keys_and_a_wrong_one_names_the_fix(tmp_path, zoo):
    from registry.api import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-typo", "zoo_typo", manifest='''
schema_version = 1
family = "typo"
description = "d"
[[models]]
name = "typo-lm"
description = "d"
platforms = ["android"]
license = { name = "MIT" }
source = { kind = "huggingface", repo = "acme/typo-lm", revison = "main" }
files = [{ path = "typo.tflite", role = "weights" }]
[[models.variants]]
id = "typo-lm-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
''')
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_typo"}
    checked = zoo("plugins", "check", "zoo_typo", env=env)
    assert checked.returncode != 0
    assert "models[0].source.revison: unknown key 'revison' (did you mean 'revision'?)" in " ".join(checked.stdout.split())
    validated = zoo("manifest", "validate", str(site / "zoo_typo" / "family.toml"))
    assert validated.returncode != 0 and "did you mean 'revision'?" in validated.stdout


# ---------------------------------------------------------------------------- errors a plugin author meets


def _records(zoo, env: dict, debug: bool = False):
    result = zoo("plugins", "--json", env=env | ({"ZOO_DEBUG": "1"} if debug else {}))
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_a_plugin_that_fails_to_import_is_reported_with_file_and_line(tmp_path, zoo):
    from registry.api import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-broken", "zoo_broken", source="import os\n\nCONFIG = os.environ['ZOO_NO_SUCH_SETTING']\n")
    write_plugin_distribution(site, "zoo-typo", "zoo_typo", source="def broken(:\n    pass\n")
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_broken,zoo_typo"}
    records = _records(zoo, env)
    assert records["zoo_broken"]["status"] == "failed"
    assert f"KeyError: 'ZOO_NO_SUCH_SETTING' (at {site / 'zoo_broken' / '__init__.py'}:3)" in records["zoo_broken"]["error"]
    assert f"(at {site / 'zoo_typo' / '__init__.py'}:1)" in records["zoo_typo"]["error"]
    listed = zoo("plugins", env=env | {"ZOO_DEBUG": "1"})
    assert "Traceback (most recent call last)" in listed.stderr and "CONFIG = os.environ" in listed.stderr
    assert "Traceback" not in zoo("plugins", env=env).stderr


def test_an_id_clash_names_the_manifest_file_and_the_fix(tmp_path, zoo):
    from registry.api import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-clash", "zoo_clash", manifest='''
schema_version = 1
family = "clash"
description = "d"
[[models]]
name = "clash-lm"
description = "d"
platforms = ["android"]
license = { name = "MIT" }
source = { kind = "https", url = "https://models.example.com" }
files = [{ path = "m.tflite", role = "weights" }]
[[models.variants]]
id = "phi-2-cpu-int8"
backend = "cpu"
quantization = "int8"
format = "tflite"
''')
    error = " ".join(_records(zoo, {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_clash"})["zoo_clash"]["error"].split())
    manifest = site / "zoo_clash" / "family.toml"
    assert f"'phi-2-cpu-int8' is registered by two plugins: 'phi' and 'zoo_clash' (in {manifest})" in error
    assert f"If you maintain 'zoo_clash', rename it in {manifest}" in error


def test_a_hook_argument_with_another_name_gets_the_hooks_signature(tmp_path, zoo):
    from registry.api import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-argname", "zoo_argname", source='''
from registry.api import hookimpl

@hookimpl
def register_families(reg):
    reg({})
''')
    error = _records(zoo, {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_argname"})["zoo_argname"]["error"]
    assert error == ("its register_families takes argument(s) {'reg'} that the hook does not have; "
                     "the hook's signature is register_families(register) (name the argument `register`)")


def test_zoo_plugins_describes_each_check_and_where_it_runs(zoo):
    listed = " ".join(zoo("plugins", check=True).stdout.split())
    assert "CHECK PLUGIN RUNS ON WHAT IT PROVES" in listed
    assert "task-bundle verifiers every .task A .task is a zip holding TF_LITE_PREFILL_DECODE" in listed
    assert "tflite-signatures verifiers outputs listing it The LiteRT model exposes prefill_*" in listed


def test_inference_defaults_accept_top_p():
    from registry.manifest import Inference

    assert Inference.model_validate({"top_k": 40, "top_p": 0.95}).top_p == 0.95
    with pytest.raises(Exception, match="less than or equal to 1"):
        Inference.model_validate({"top_p": 1.5})


def test_no_test_module_imports_another():
    """Shared test code lives in tests/helpers.py (and the reliability scenarios the benchmark runs too)."""
    found = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.startswith("test_") or n == "conftest"]
    assert found == []


# ---------------------------------------------------------------------------- the test kit


@pytest.mark.parametrize("fmt", ["tflite", "bin", "task", "litertlm"])
def test_the_kit_builds_a_valid_file_of_every_built_in_format(fmt, tmp_path):
    """An author never hand-crafts bytes to pass a check: each builder's file passes every check the
    loaded verifiers run on its format by default (and a damaged copy does not)."""
    import registry.api as api
    from registry.catalog import Catalog
    from registry.fetch import run_structural_checks

    catalog = Catalog.load()
    variant = catalog.variant({"tflite": "gpt2-cpu-int8", "bin": "phi-2-gpu-int8", "task": "pytorch-cpu-int8",
                               "litertlm": "pytorch-cpu-int8"}[fmt])
    data = {"tflite": lambda: api.build_tflite(tensor_names=["w"]),
            "bin": lambda: api.build_mediapipe_bin("PHI_2", "gpu"),
            "task": api.build_task, "litertlm": api.build_litertlm}[fmt]()
    output = next((o for o in variant.outputs if o.path.endswith(f".{fmt}")), variant.outputs[0])
    output = output.model_copy(update={"checks": []})  # only the format's default checks
    path = tmp_path / f"artifact.{fmt}"
    path.write_bytes(data)
    assert catalog.checks_for(variant, output), fmt
    assert run_structural_checks(catalog, variant, output, path) == []
    path.write_bytes(data[: len(data) // 2])
    assert run_structural_checks(catalog, variant, output, path) != []


def test_every_fixture_and_builder_is_documented():
    import inspect

    import registry.testing.pytest_plugin as kit

    text = (REPO / "docs" / "testing.md").read_text()
    fixtures = [name for name, f in vars(kit).items() if hasattr(f, "_fixture_function_marker") or
                type(f).__name__ == "FixtureFunctionDefinition"]
    assert set(fixtures) == {"zoo_home", "plugin_catalog", "hf_hub", "kaggle_hub", "zoo_cli"}
    for name in fixtures:
        function = getattr(vars(kit)[name], "_get_wrapped_function", lambda: vars(kit)[name].__wrapped__)()
        assert inspect.getdoc(function), f"fixture {name} has no docstring"
        assert f"`{name}`" in text
    for name in ("build_tflite", "build_mediapipe_bin", "build_task", "build_litertlm", "write_plugin_distribution",
                 "assert_conforms", "hf_hub.add_repo", "kaggle_hub.add_model", ".litertlm"):
        assert name in text, name


def test_plugins_check_refuses_an_option_type_the_command_line_cannot_give():
    """`Param(type=dict)` passed `zoo plugins check` and delivered the user's text as a string (issue 30)."""
    from registry.api import Converter, Param, Toolchain
    from registry.conformance import _component_problems

    def problems(**params):
        converter = type("C", (Converter,), {"name": "c", "description": "d", "toolchain": Toolchain("t", ("x==1",)),
                                             "parameters": params})()
        return _component_problems("converter", "c", converter)

    assert problems(n=Param("a count", int), sizes=Param("sizes", list[int]), name=Param("a name")) == []
    [refused] = problems(mapping=Param("a mapping", dict))
    assert "option 'mapping'" in refused and "'dict' is none zoo converts --param text to" in refused


def test_zoo_plugin_new_refuses_a_name_zoo_already_knows(tmp_path, zoo):
    """`zoo plugin new gemma` scaffolded a package whose tests failed on the built-in family's name."""
    for taken in ("gemma", "phi", "hf"):
        result = zoo("plugin", "new", taken, "--dir", str(tmp_path))
        message = " ".join(result.stderr.split())
        assert result.returncode != 0 and "zoo knows" in message and f"my-{taken}" in message, message
        assert not (tmp_path / f"zoo-{taken}").exists()
    assert zoo("plugin", "new", "my-gemma", "--dir", str(tmp_path)).returncode == 0


def test_what_plugin_authors_read_names_only_the_public_api():
    """Hook docstrings and conformance messages named internal modules (registry.components) that a plugin
    must not import; they name registry.api, the one module a plugin imports."""
    import inspect

    from registry import conformance, hookspecs
    from registry.catalog import registration

    for module in (hookspecs, conformance, registration):
        text = inspect.getsource(module)
        assert "registry.components." not in text and "{base.__module__}" not in text, module.__name__


def test_the_test_kit_example_in_the_docs_passes_against_the_scaffolded_package(tmp_path):
    """docs/testing.md's example is a test module for the package `zoo plugin new acme` writes; it never ran."""
    import re
    import subprocess

    from zoo_cli.root import main

    assert main(["plugin", "new", "acme", "--dir", str(tmp_path)]) == 0
    package, site = tmp_path / "zoo-acme", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
                    str(package)], check=True, capture_output=True)
    text = (REPO / "docs" / "testing.md").read_text().split("## An example", 1)[1]
    [example] = re.findall(r"```python\n(.*?)```", text, re.S)
    (package / "tests" / "test_docs_example.py").write_text(example)
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
                         capture_output=True, text=True, cwd=tmp_path,
                         env=os.environ | {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])})
    assert ran.returncode == 0 and "passed" in ran.stdout, ran.stdout[-3000:] + ran.stderr[-2000:]


def test_the_api_reference_documents_every_name_and_is_up_to_date():
    """docs/api.md is generated from registry.api; an undocumented name, field or method fails here."""
    from registry.api_reference import render, undocumented

    assert undocumented() == []
    committed = (REPO / "docs" / "api.md").read_text()
    assert committed == render(), "docs/api.md is out of date: run `python -m registry.api_reference > docs/api.md`"
    for name in ("Format", "Variant", "produces", "register_formats", "hookimpl"):
        assert f"`{name}" in committed or f"`{name}`" in committed
