"""The plugin host: real installed packages, broken plugins, duplicates, allowlists."""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import pytest

from helpers import ACME_MANIFEST, HOOKS_WITH_MANIFEST, install_plugin_package
from registry.catalog import Catalog
from registry.components import Converter, SourceKind, Toolchain
from registry.hookspecs import hookimpl
from registry.plugins import PluginHost


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin-packages")
    return {
        "acme": install_plugin_package(root, "zoo-acme", "zoo_acme", HOOKS_WITH_MANIFEST, manifest=ACME_MANIFEST, version="1.2.3"),
        "broken": install_plugin_package(root, "zoo-broken", "zoo_broken", "raise RuntimeError('the acme GPU driver is missing')\n"),
        "dupe": install_plugin_package(
            root, "zoo-dupe", "zoo_dupe", HOOKS_WITH_MANIFEST,
            manifest=ACME_MANIFEST.replace('family = "acme"', 'family = "dupe"').replace('name = "acme-lm"', 'name = "dupe-lm"')
            .replace("acme-lm-cpu-int8", "phi-2-cpu-int8"),
        ),
        "typo": install_plugin_package(
            root, "zoo-typo", "zoo_typo",
            "from registry.hookspecs import hookimpl\n\n@hookimpl\ndef register_familes(register):\n    pass\n",
        ),
    }


def env_with(*targets, **extra):
    env = {"PYTHONPATH": os.pathsep.join(str(t) for t in targets), "ZOO_DISABLE_PLUGIN_AUTOLOAD": ""}
    env.update(extra)
    return env


def test_an_installed_third_party_plugin_shows_up_in_plugins_and_list(packages, zoo):
    env = env_with(packages["acme"])
    plugins = json.loads(zoo("plugins", "--json", env=env, check=True).stdout)
    acme = next(p for p in plugins if p["name"] == "zoo_acme")
    assert acme == acme | {"distribution": "zoo-acme", "version": "1.2.3", "builtin": False, "status": "loaded"}
    assert acme["hooks"] == ["register_families"] and acme["provides"] == ["family:acme"]
    assert any(p["name"] == "phi" and p["builtin"] for p in plugins)
    listed = json.loads(zoo("list", "--family", "acme", "--json", env=env, check=True).stdout)
    assert [row["id"] for row in listed] == ["acme-lm-cpu-int8"]
    info = zoo("info", "acme-lm", env=env, check=True)
    assert "acme-lm-cpu-int8" in info.stdout and "https" in info.stdout


def test_a_plugin_that_raises_on_import_is_reported_and_skipped(packages, zoo):
    env = env_with(packages["broken"], packages["acme"])
    listed = zoo("list", "--json", env=env)
    assert listed.returncode == 0
    ids = [row["id"] for row in json.loads(listed.stdout)]
    assert "acme-lm-cpu-int8" in ids and "phi-2-gpu-int8" in ids
    assert "plugin 'zoo_broken'" in listed.stderr and "RuntimeError: the acme GPU driver is missing" in listed.stderr
    assert "Traceback" not in listed.stderr
    plugins = json.loads(zoo("plugins", "--json", env=env, check=True).stdout)
    broken = next(p for p in plugins if p["name"] == "zoo_broken")
    assert broken["status"] == "failed" and "RuntimeError: the acme GPU driver is missing" in broken["error"]
    table = zoo("plugins", env=env, check=True)
    assert "failed" in table.stdout and "ZOO_LOAD_PLUGINS" in table.stderr


def test_duplicate_ids_are_refused_naming_both_plugins(packages, zoo):
    env = env_with(packages["dupe"])
    plugins = json.loads(zoo("plugins", "--json", env=env, check=True).stdout)
    dupe = next(p for p in plugins if p["name"] == "zoo_dupe")
    assert dupe["status"] == "failed"
    assert "'phi-2-cpu-int8'" in dupe["error"] and "'phi'" in dupe["error"] and "'zoo_dupe'" in dupe["error"]
    listed = zoo("list", "--json", env=env, check=True)
    rows = [r for r in json.loads(listed.stdout) if r["id"] == "phi-2-cpu-int8"]
    assert [r["plugin"] for r in rows] == ["phi"]  # the built-in keeps its id
    assert "registered by two plugins" in listed.stderr


def test_a_misspelled_hook_fails_loudly_with_a_suggestion(packages, zoo):
    plugins = json.loads(zoo("plugins", "--json", env=env_with(packages["typo"]), check=True).stdout)
    typo = next(p for p in plugins if p["name"] == "zoo_typo")
    assert typo["status"] == "failed"
    assert "'register_familes'" in typo["error"] and "did you mean 'register_families'" in typo["error"]


def test_allowlist_and_autoload_switches(packages, zoo):
    both = (packages["acme"], packages["broken"])
    allow = json.loads(zoo("plugins", "--json", env=env_with(*both, ZOO_LOAD_PLUGINS="zoo_acme"), check=True).stdout)
    status = {p["name"]: p["status"] for p in allow}
    assert status["zoo_acme"] == "loaded" and status["zoo_broken"] == "disabled" and status["gemma"] == "loaded"
    by_dist = json.loads(zoo("plugins", "--json", env=env_with(*both, ZOO_LOAD_PLUGINS="zoo-broken"), check=True).stdout)
    assert {p["name"]: p["status"] for p in by_dist}["zoo_broken"] == "failed"
    off = json.loads(zoo("plugins", "--json", env=env_with(*both, ZOO_DISABLE_PLUGIN_AUTOLOAD="1"), check=True).stdout)
    status = {p["name"]: p["status"] for p in off}
    assert status["zoo_acme"] == "disabled" and status["zoo_broken"] == "disabled"
    assert all(p["status"] == "loaded" for p in off if p["builtin"])


def test_installing_a_plugin_invalidates_the_startup_snapshot(packages, tmp_path, zoo):
    home = {"ZOO_HOME": str(tmp_path / "home")}
    before = json.loads(zoo("list", "--json", env=env_with(**home), check=True).stdout)
    assert (tmp_path / "home" / "cache" / "catalog-snapshot.json").exists()
    after = json.loads(zoo("list", "--json", env=env_with(packages["acme"], **home), check=True).stdout)
    assert len(after) == len(before) + 1


def test_a_snapshot_catalog_imports_only_the_plugin_a_component_comes_from(zoo):
    """`zoo pull` needs one source: importing every plugin and manifest for it cost 11 ms."""
    import subprocess
    import sys

    zoo("list", check=True)  # writes the snapshot
    script = """
import sys
from registry.catalog import get_catalog
catalog = get_catalog()
assert catalog._objects is None, "the catalog should come from the snapshot"
loaded = lambda: sorted(m for m in sys.modules if m.startswith("plugins."))
source = catalog.component("source", "huggingface")
print(source.name, loaded())
catalog.component("converter", "")  # a name nobody registered: every plugin loads
print(len(loaded()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    first, second = result.stdout.splitlines()
    assert first == "huggingface ['plugins.source_huggingface']"
    assert int(second) > 10


# ------------------------------------------------------------------ in-process, with a fresh host


def fresh_catalog(*plugins: tuple[str, object]) -> Catalog:
    host = PluginHost()
    for name, plugin in plugins:
        host.register(plugin, name)
    return Catalog.load(host)


def test_components_are_validated_and_duplicates_name_both_plugins():
    class Mirror(SourceKind):
        name = "mirror"

    class Bad(SourceKind):
        name = "Not An Id"

    def plugin(*items):
        ns = types.SimpleNamespace()

        @hookimpl
        def register_sources(register):
            for item in items:
                register(item)

        ns.register_sources = register_sources
        return ns

    catalog = fresh_catalog(("one", plugin(Mirror())), ("two", plugin(Mirror())), ("bad", plugin(Bad())), ("wrong", plugin(object())))
    assert catalog.components["source"] == {"mirror": "one"}
    records = catalog.records
    assert records["two"].status == "failed" and "'one' and 'two'" in records["two"].error
    assert records["bad"].status == "failed" and "not a valid id" in records["bad"].error
    assert records["wrong"].status == "failed" and "SourceKind instance" in records["wrong"].error


def test_a_hook_that_raises_drops_only_that_plugins_registrations():
    class Good(Converter):
        name = "good"
        toolchain = Toolchain("t", ("x==1",))

    class Half(Converter):
        name = "half"
        toolchain = Toolchain("t", ("x==1",))

    class GoodPlugin:
        @hookimpl
        def register_converters(self, register):
            register(Good())

    class FlakyPlugin:
        @hookimpl
        def register_converters(self, register):
            register(Half())
            raise KeyError("boom")

    catalog = fresh_catalog(("good", GoodPlugin()), ("flaky", FlakyPlugin()))
    assert set(catalog.components["converter"]) == {"good"}
    assert "register_converters failed: KeyError" in catalog.records["flaky"].error


def test_a_family_can_be_registered_as_a_dict():
    import copy

    from helpers import VALID_MANIFEST as VALID

    class DictPlugin:
        @hookimpl
        def register_families(self, register):
            register(copy.deepcopy(VALID))

    catalog = fresh_catalog(("dicts", DictPlugin()))
    assert set(catalog.rows) == {"tiny-lm-gpu-int8", "tiny-lm-cpu-int8"}
    assert catalog.variant("tiny-lm-cpu-int8").platforms == ["android"]
