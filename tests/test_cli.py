"""The command line as a user meets it: output, JSON, errors, exit codes and what it imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry.errors import ExitCode
from zoo_cli.root import main

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "torch", "jax", "mediapipe", "keras", "litert_torch", "keras_hub", "tensorflow_text")


def test_list_shows_every_seed_variant(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for vid in ["gemma-2b-it-gpu-int4", "gemma2-2b-it-cpu-int8", "gemma-1.1-7b-it-gpu-int8", "phi-2-gpu-int8",
                "falcon-rw-1b-cpu-int4", "stablelm-3b-4e1t-gpu-int4", "gpt2-cpu-fp16", "pytorch-cpu-int8", "zoo-demo-cpu-int8"]:
        assert vid in out


def test_json_outputs_parse(capsys):
    for args in (["list", "--json"], ["list", "--family", "phi", "--json"], ["info", "phi-2-gpu-int8", "--json"],
                 ["info", "phi-2", "--json"], ["plugins", "--json"], ["manifest", "schema"]):
        assert main(args) == 0, args
        json.loads(capsys.readouterr().out)
    assert main(["info", "gemma-2b-it-gpu-int4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["license"]["gated"] is True and info["source"]["handle"] == "google/gemma/tfLite/gemma-2b-it-gpu-int4"
    assert info["next_step"] == "zoo pull gemma-2b-it-gpu-int4"
    assert main(["info", "pytorch-cpu-int8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["next_step"] == "zoo build pytorch --backend cpu --quant int8 --from DIR"


def test_stdout_carries_zoo_s_data_alone_whatever_a_plugin_prints(tmp_path, zoo):
    """A plugin (or a library it calls) that prints to stdout while a command runs must not corrupt
    --json or the path a script reads: its text goes to stderr. Help still goes to stdout."""
    from registry.testing.plugins import write_plugin_distribution

    noisy = '''
from registry.api import hookimpl
print("noise at import")

@hookimpl
def register_families(register):
    print("noise in a hook")
'''
    site = write_plugin_distribution(tmp_path / "site", "zoo-noisy", "zoo_noisy", source=noisy)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_noisy"}
    listed = zoo("list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    json.loads(listed.stdout)  # stdout is the JSON alone
    assert "noise" in listed.stderr
    assert zoo("--help", env=env).stdout.startswith("Usage: zoo")


def test_list_filters(capsys):
    assert main(["list", "--platform", "web", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all("web" in r["platforms"] and r["backend"] == "gpu" for r in rows)
    assert main(["list", "--family", "nope"]) == 0
    assert "No variant matches" in capsys.readouterr().err


def test_an_unknown_id_is_one_paragraph_with_the_fix_and_a_nonzero_exit(zoo):
    result = zoo("info", "gemma-2b-it-gpu-in4")
    assert result.returncode == ExitCode.NOT_FOUND
    assert "Did you mean: gemma-2b-it-gpu-int4" in result.stderr and "zoo list" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 4  # one wrapped paragraph


def test_zoo_debug_shows_the_traceback_and_keeps_the_exit_code(zoo):
    result = zoo("info", "no-such-model", env={"ZOO_DEBUG": "1"})
    assert result.returncode == ExitCode.NOT_FOUND  # scripts see the same code with or without ZOO_DEBUG
    assert "Traceback" in result.stderr and "UnknownVariantError" in result.stderr


def test_usage_errors_exit_2(zoo):
    result = zoo("list", "--backend", "tpu")
    assert result.returncode == ExitCode.USAGE and "tpu" in result.stderr


def test_manifest_validate(tmp_path, capsys):
    shipped = sorted((REPO / "manifests").glob("*.toml"))
    assert main(["manifest", "validate", *map(str, shipped)]) == 0
    assert capsys.readouterr().out.count("ok ") == len(shipped) >= 9
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO / "manifests" / "phi.toml").read_text().replace('backend = "gpu"', 'backend = "tpu"', 1)
                   .replace('role = "tokenizer"', 'role = "tokenizer", sha256 = "abc"', 1))
    assert main(["manifest", "validate", str(bad), "--json"]) == ExitCode.INVALID_MANIFEST
    [result] = json.loads(capsys.readouterr().out)
    keys = {p["key_path"] for p in result["problems"]}
    assert keys == {"models[0].variants[2].backend", "models[0].files[0].sha256"}


@pytest.fixture
def heavy_import_tripwire(tmp_path):
    """Stub packages named like the heavy stacks that record it if anything imports them."""
    stubs, log = tmp_path / "stubs", tmp_path / "imported.log"
    for name in HEAVY:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(f"open({str(log)!r}, 'a').write({name!r} + '\\n')\n")
    return {"PYTHONPATH": str(stubs)}, log


@pytest.mark.parametrize("args", [["--help"], ["list"], ["info", "phi-2-gpu-int8"], ["plugins"], ["list", "--json"], ["verify"], ["ls"]])
def test_light_commands_never_import_the_heavy_stacks(args, heavy_import_tripwire, zoo, tmp_path):
    env, log = heavy_import_tripwire
    # First run loads every plugin (no snapshot); the second answers from the snapshot.
    for extra in ({"ZOO_NO_CACHE": "1"}, {}, {}):
        result = zoo(*args, env=env | extra)
        assert result.returncode == 0, result.stderr
    assert not log.exists(), f"zoo {' '.join(args)} imported: {log.read_text()}"


def test_the_tripwire_itself_works(heavy_import_tripwire, zoo):
    env, log = heavy_import_tripwire
    import subprocess, sys, os

    subprocess.run([sys.executable, "-c", "import torch"], env=dict(os.environ) | env, check=True)
    assert log.read_text() == "torch\n"


def test_python_dash_m_and_version(zoo):
    result = zoo("--version", check=True)
    assert "0.1.0" in result.stdout


def test_every_command_the_readme_shows_exists_with_its_options():
    """The README's commands are real: each names an existing (sub)command and options it accepts.
    (The main job itself, `zoo build zoo-demo` then `zoo run`, runs in tests/test_pytorch.py.)"""
    import re
    import shlex

    import click

    from registry.catalog import get_catalog
    from registry.references import for_reference, split
    from registry.resolver import Filters, candidates, resolve
    from zoo_cli.root import cli

    catalog = get_catalog()
    readme = (REPO / "README.md").read_text()
    lines = [line.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
             for line in block.splitlines() if line.strip().startswith("zoo ")]
    assert any(line.startswith("zoo build zoo-demo") for line in lines)
    for line in lines:
        words = shlex.split(line)[1:]
        command, context = cli, click.Context(cli)
        while isinstance(command, click.Group) and words and not words[0].startswith("-"):
            command = command.get_command(context, words.pop(0))
            assert command is not None, line
            context = click.Context(command)
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"{line}: {word} is not an option of {command.name}"
        if command.name in ("build", "pull", "info") and words and not words[0].startswith("-") and "://" not in words[0]:
            flags = dict(zip(words[1::2], words[2::2]))
            filters = Filters(backend=flags.get("--backend"), quant=flags.get("--quant"))
            if command.name == "info":
                candidates(catalog, words[0], filters)  # a model overview may list several
            elif split(words[0]):  # MODEL:REFERENCE builds a repo the user names with the model's recipe
                model, reference = split(words[0])
                for_reference(catalog, catalog.variant(resolve(catalog, model, filters)["id"]), reference)
            else:
                resolve(catalog, words[0], filters)  # exactly one variant, or the README is wrong


def test_a_full_disk_anywhere_is_the_disk_error_not_an_internal_error(monkeypatch, capsys):
    import errno

    from registry.store import Store

    def gc_on_a_full_disk(self, *, dry_run=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.root / "fingerprints.json"))

    monkeypatch.setattr(Store, "gc", gc_on_a_full_disk)
    assert main(["gc"]) == ExitCode.ERROR
    err = capsys.readouterr().err
    assert "No space left on device" in err and "zoo gc" in err and "ZOO_HOME" in err
    assert "internal error" not in err and "Traceback" not in err

    def gc_with_a_bug(self, *, dry_run=False):
        raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(Store, "gc", gc_with_a_bug)
    assert main(["gc"]) == ExitCode.ERROR
    assert "internal error" in capsys.readouterr().err  # other OSErrors are still bugs, reported as such


@pytest.mark.parametrize("name, value", [("ZOO_DOWNLOAD_CONNECTIONS", "many"), ("ZOO_HTTP_RETRIES", "0"),
                                         ("ZOO_MAX_DOWNLOAD_BYTES", "1GB")])
def test_a_bad_setting_is_one_clear_paragraph_naming_it(zoo, name, value):
    """The error handler reads ZOO_DEBUG on its own: reading it through all the settings raised the
    same error again, out of the handler, as a traceback."""
    result = zoo("list", env={name: value})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"{name} is '{value}'" in result.stderr and f"Set {name}" in result.stderr
