"""Meta-tests: every hook is documented and exercised; every Python example in docs/ runs.

Each hook has a test named test_hook_<name> here, and a heading `## <name>(register)` in
docs/hooks.md whose example registers, through a fresh plugin manager, without a problem.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from registry import hookspecs

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
HOOKS = sorted(name for name, f in vars(hookspecs).items() if callable(f) and hasattr(f, "zoo_spec"))


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def hook_section(name: str) -> str:
    text = (DOCS / "hooks.md").read_text()
    match = re.search(rf"^## {name}\(register\)\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"docs/hooks.md has no section '## {name}(register)'"
    return match.group(1)


def load_example(code: str, name: str, directory: Path | None = None) -> types.ModuleType:
    """Run a docs example as a module whose file is `directory`/example.py (the current one by default)."""
    module = types.ModuleType(f"docs_example_{name}")
    module.__file__ = str((directory or Path.cwd()) / "example.py")
    exec(compile(code, f"<docs example {name}>", "exec"), module.__dict__)
    return module


def test_every_hook_is_documented_with_its_signature_and_tested():
    assert HOOKS == ["register_bundlers", "register_converters", "register_families", "register_formats",
                     "register_runtimes",
                     "register_sources", "register_verifiers"]
    tests = {name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)}
    for hook in HOOKS:
        assert list(inspect.signature(getattr(hookspecs, hook)).parameters) == ["register"]
        hook_section(hook)
        assert f"test_hook_{hook}" in tests, f"no test_hook_{hook} in tests/test_hooks.py"


def run_hook_example(hook: str, plugin_catalog):
    [code] = python_blocks_in(hook_section(hook))
    module = load_example(code, hook)
    catalog = plugin_catalog(module, f"docs-{hook}")
    record = catalog.records[f"docs-{hook}"]
    assert record.status == "loaded", record.error
    assert record.hooks == [hook] and record.provides, record
    return catalog


def python_blocks_in(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_hook_register_families(plugin_catalog):
    catalog = run_hook_example("register_families", plugin_catalog)
    assert catalog.rows["docs-lm-cpu-int8"]["source"]["kind"] == "https"


def test_hook_register_sources(plugin_catalog):
    from registry.components import FetchContext

    catalog = run_hook_example("register_sources", plugin_catalog)
    source = catalog.component("source", "docs-mirror")
    base = catalog.variant("phi-2-gpu-int8")
    variant = type(base).model_validate(
        base.model_dump() | {"source": {"kind": "docs-mirror", "url": "https://mirror.example/phi-2/"}})
    plan = source.prepare(FetchContext(variant, list(variant.files)))
    assert [t.url for t in plan.transfers][0] == "https://mirror.example/phi-2/tokenizer.json"


def test_hook_register_converters(plugin_catalog, tmp_path):
    from registry.api import BuildOptions, BuildRequest

    catalog = run_hook_example("register_converters", plugin_catalog)
    converter = catalog.component("converter", "docs-copy")
    options = BuildOptions({"input": "model.tflite"})
    job = converter.plan(BuildRequest(catalog.variant("phi-2-gpu-int8"), tmp_path / "in", tmp_path / "work", options))
    assert job.outputs == {"phi-2-gpu-int8.bin": tmp_path / "work" / "phi-2-gpu-int8.bin"}
    assert job.runner.name == "copy_runner.py"  # the end-to-end test below really runs it


def test_hook_register_bundlers(plugin_catalog):
    catalog = run_hook_example("register_bundlers", plugin_catalog)
    assert catalog.component("bundler", "docs-zip").produces == "zip"


def test_hook_register_formats(plugin_catalog):
    catalog = run_hook_example("register_formats", plugin_catalog)
    assert catalog.format_of("bundle.zip") == "zip" and catalog.formats["zip"]["suffix"] == ".zip"


def test_hook_register_verifiers(plugin_catalog, tmp_path):
    catalog = run_hook_example("register_verifiers", plugin_catalog)
    verifier = catalog.component("verifier", "docs-not-empty")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    variant = catalog.variant("gpt2-cpu-int8")
    assert verifier.check(empty, variant, variant.outputs[0]) == ["the file is empty"]


def test_hook_register_runtimes(plugin_catalog):
    catalog = run_hook_example("register_runtimes", plugin_catalog)
    assert catalog.component("runtime", "docs-echo").toolchain is None
    assert catalog.runtime_for("tflite").name == "tflite-text"  # built-ins stay first for their formats


DOCS_FAMILY = """
schema_version = 1
family = "docs-examples"
description = "A model built, bundled, checked and run by the docs/hooks.md examples."

[[models]]
name = "docs-copy-lm"
description = "A prebuilt .tflite copied by the example converter."
platforms = ["android"]
license = { name = "MIT", spdx = "MIT" }
source = { kind = "local", path = "inputs" }
files = [{ path = "model.tflite", role = "weights" }]
recipe = { converter = "docs-copy" }
bundle = { bundlers = ["docs-zip"], stop_tokens = ["</s>"] }

[[models.variants]]
id = "docs-copy-lm-cpu-fp32"
backend = "cpu"
quantization = "fp32"
format = "tflite"
outputs = [{ path = "docs-copy-lm-cpu-fp32.tflite", checks = ["docs-not-empty"] }, { path = "docs-copy-lm-cpu-fp32.zip" }]
"""


def test_the_hook_examples_build_check_and_run_a_model_through_the_real_cli(tmp_path, zoo):
    """Every example of docs/hooks.md, installed as one plugin package importing only registry.api,
    with the runners the docs show: `zoo build` runs the converter's and the bundler's runners and
    the example check; `zoo run --runtime` runs the example runtime, which has no toolchain."""
    import json
    import zipfile

    from registry.api import build_tflite, write_plugin_distribution

    text = (DOCS / "hooks.md").read_text()
    blocks = [python_blocks_in(hook_section(hook))[0] for hook in HOOKS if hook != "register_families"]
    family = 'from pathlib import Path\n\n@hookimpl\ndef register_families(register):\n    register(Path(__file__).with_name("family.toml"))\n'
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-docs-examples", "zoo_docs_examples", manifest=DOCS_FAMILY,
                              source="\n\n".join(blocks + [family]))
    package = site / "zoo_docs_examples"
    for name, code in re.findall(r"```py (\w+\.py)\n(.*?)```", text, flags=re.S):
        (package / name).write_text(code)
    (package / "inputs").mkdir()
    model = build_tflite(tensor_names=["w"])
    (package / "inputs" / "model.tflite").write_bytes(model)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_docs_examples"}
    assert zoo("plugins", "check", "zoo_docs_examples", env=env).returncode == 0
    built = json.loads(zoo("build", "docs-copy-lm", "--json", env=env, check=True).stdout)
    stored = Path(built["path"]).parent
    assert (stored / "docs-copy-lm-cpu-fp32.tflite").read_bytes() == model
    assert zipfile.ZipFile(stored / "docs-copy-lm-cpu-fp32.zip").namelist() == ["docs-copy-lm-cpu-fp32.tflite"]
    checks = {(c["output"], c["check"]) for c in built["provenance"]["checks"]}
    assert ("docs-copy-lm-cpu-fp32.tflite", "docs-not-empty") in checks
    assert ("docs-copy-lm-cpu-fp32.tflite", "tflite-flatbuffer") in checks  # the format's default check
    assert [s["what"] for s in built["provenance"]["steps"]] == ["copying", "zipping"]
    ran = zoo("run", "docs-copy-lm-cpu-fp32", "--prompt", "abc", "--runtime", "docs-echo", env=env, check=True)
    assert ran.stdout == "cba\n"


@pytest.mark.parametrize("doc", ["tutorial.md", "hooks.md"])
def test_every_python_example_in_the_docs_runs(doc, plugin_catalog, tmp_path, monkeypatch):
    """Each block runs; one that implements hooks must also load and register through a fresh manager.

    They run beside the example plugin's family.toml, which the tutorial's examples register.
    (docs/testing.md's example is a test module: tests/test_plugin_api.py runs it as one.)"""
    import shutil

    shutil.copy(REPO / "examples" / "zoo-tinystories" / "zoo_tinystories" / "family.toml", tmp_path)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOCS / doc)
    assert blocks, f"{doc} has no Python example, so this test would pass over it"
    for number, code in enumerate(blocks):
        module = load_example(code, f"{doc}-{number}")
        if any(callable(f) and hasattr(f, "zoo_impl") for f in vars(module).values()):
            catalog = plugin_catalog(module, f"docs-{number}")
            record = catalog.records[f"docs-{number}"]
            assert record.status == "loaded" and record.provides, f"{doc} example {number}: {record.error}"


def test_the_manifest_reference_is_generated_from_the_models():
    from registry.manifest.reference import render

    assert (DOCS / "manifest.md").read_text() == render() + "\n", "run `zoo manifest schema --markdown > docs/manifest.md`"


def test_a_scaffolded_plugin_passes_its_own_tests(tmp_path):
    import subprocess

    from zoo_cli.root import main

    assert main(["plugin", "new", "acme-lm", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "zoo-acme-lm"
    assert (project / "zoo_acme_lm" / "family.toml").is_file()
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
                    str(project)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(site), "PATH": __import__("os").environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    checked = subprocess.run([sys.executable, "-m", "zoo_cli", "plugins", "check", "acme-lm"], capture_output=True, text=True,
                             env=env | {"ZOO_HOME": str(tmp_path / "home")})
    assert checked.returncode == 0 and checked.stdout.startswith("ok"), checked.stderr


def test_zoo_plugins_check_reports_problems(tmp_path, zoo):
    from registry.testing.plugins import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-sloppy", "zoo_sloppy", source='''
from registry.components import Converter, Toolchain, Verifier
from registry.hookspecs import hookimpl

class Sloppy(Converter):
    name = "sloppy"
    toolchain = Toolchain("sloppy", ("not a requirement !!",))

@hookimpl
def register_converters(register):
    register(Sloppy())

@hookimpl
def register_families(register):
    register({"schema_version": 1, "family": "sloppy", "description": "d", "models": [{
        "name": "sloppy-lm", "description": "d", "platforms": ["android"], "license": {"name": "MIT"},
        "source": {"kind": "nowhere"}, "recipe": {"converter": "sloppy"},
        "variants": [{"id": "sloppy-lm-cpu-int8", "backend": "cpu", "quantization": "int8", "format": "tflite",
                      "outputs": [{"path": "sloppy-lm-cpu-int8.tflite", "checks": ["task-bundle", "no-such-check"]}]}]}]})
''')
    result = zoo("plugins", "check", "zoo_sloppy", "--json", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_sloppy"})
    assert result.returncode != 0
    problems = " | ".join(__import__("json").loads(result.stdout)["problems"])
    for expected in ["has no description", "not a requirement !!", "source 'nowhere'", "verifier 'no-such-check'",
                     "'task-bundle' reads task files"]:
        assert expected in problems, problems
