"""Formats are registered by plugins, and what converters and bundlers declare they produce is checked."""

from __future__ import annotations

import struct

from registry.api import write_plugin_distribution
from registry.testing.hubs import HuggingFaceHub

GGUF_PLUGIN = '''
import struct

from registry.api import Format, Verifier, hookimpl


class Gguf(Format):
    name = "gguf"
    description = "llama.cpp's single-file checkpoint."
    suffix = ".gguf"
    verifier = "gguf-magic"


class GgufMagic(Verifier):
    name = "gguf-magic"
    description = "Starts with GGUF."
    formats = ("gguf",)

    def check(self, path, variant, output):
        return [] if path.read_bytes()[:4] == b"GGUF" else ["it does not start with GGUF"]


@hookimpl
def register_formats(register):
    register(Gguf())


@hookimpl
def register_verifiers(register):
    register(GgufMagic())


def variant(vid, repo, main="story.gguf"):
    return {"id": vid, "ready_made": True, "backend": "cpu", "quantization": "int8", "format": "gguf",
            "source": {"kind": "huggingface", "repo": repo, "revision": "main"},
            "files": [{"path": main, "role": "weights"}]}


@hookimpl
def register_families(register):
    register({"schema_version": 1, "family": "stories", "description": "d", "models": [{
        "name": "story", "description": "d", "platforms": ["desktop"], "license": {"name": "MIT"},
        "source": {"kind": "huggingface", "repo": "acme/story", "revision": "main"},
        "variants": [variant("story-gguf", "acme/story"), variant("story-junk-gguf", "acme/junk")]}]})
'''


def gguf() -> bytes:
    return struct.pack("<4sIQQ", b"GGUF", 3, 1, 1) + b"\0" * 64


def test_a_plugins_format_is_a_main_artifact_pulled_and_checked_by_its_check(tmp_path, zoo):
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-stories", "zoo_stories", source=GGUF_PLUGIN)
    with HuggingFaceHub() as hub:
        hub.add_repo("acme/story", {"story.gguf": gguf()})
        hub.add_repo("acme/junk", {"story.gguf": b"GGML" + gguf()[4:]})
        env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_stories", "HF_ENDPOINT": hub.endpoint,
               "HF_HUB_DISABLE_XET": "1"}
        assert zoo("plugins", "check", "zoo_stories", env=env).returncode == 0
        listed = zoo("list", "--format", "gguf", env=env)
        assert "story-gguf" in listed.stdout
        pulled = zoo("pull", "story-gguf", env=env)
        assert pulled.returncode == 0, pulled.stderr
        refused = zoo("pull", "story-junk-gguf", env=env)
        assert refused.returncode != 0 and "gguf-magic: it does not start with GGUF" in " ".join(refused.stderr.split())
        assert "story-junk-gguf" not in zoo("ls", env=env).stdout
        assert zoo("verify", "story-gguf", env=env).returncode == 0


def test_a_variant_of_an_unknown_format_or_the_wrong_suffix_is_a_manifest_problem(tmp_path, zoo):
    site = tmp_path / "site"
    source = GGUF_PLUGIN.replace('variant("story-junk-gguf", "acme/junk")',
                                 'variant("story-txt", "acme/junk", main="story.txt")')
    source = source.replace('"variants": [variant("story-gguf", "acme/story"), ',
                            '"variants": [dict(variant("story-onnx", "acme/story", main="story.onnx"), format="onnx"), ')
    write_plugin_distribution(site, "zoo-stories", "zoo_stories", source=source)
    checked = zoo("plugins", "check", "zoo_stories", env={"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_stories"})
    said = " ".join(checked.stdout.split())
    assert checked.returncode != 0
    assert "story-onnx: uses the format 'onnx', which no loaded plugin registers" in said
    assert "story-txt: its main output 'story.txt' does not end in .gguf" in said


LIAR_PLUGIN = '''
from pathlib import Path

from registry.api import Converter, Job, Toolchain, hookimpl


class Liar(Converter):
    name = "liar"
    description = "Declares tflite."
    toolchain = Toolchain("liar", ())
    produces = ("tflite",)

    def plan(self, request):
        return Job(Path(__file__), {}, "lying", {"liar-lm-cpu-int8.tflite": request.work_dir / "a.tflite",
                                               "extra.bin": request.work_dir / "extra.bin"})


@hookimpl
def register_converters(register):
    register(Liar())


@hookimpl
def register_families(register):
    register({"schema_version": 1, "family": "liar", "description": "d", "models": [{
        "name": "liar-lm", "description": "d", "platforms": ["android"], "license": {"name": "MIT"},
        "source": {"kind": "local"}, "recipe": {"converter": "liar"},
        "variants": [{"id": "liar-lm-cpu-int8", "backend": "cpu", "quantization": "int8", "format": "tflite"},
                     {"id": "liar-lm-cpu-int4", "backend": "cpu", "quantization": "int4", "format": "litertlm"}]}]})
'''


def test_what_a_converter_plans_must_be_what_it_declares_it_produces(tmp_path, zoo):
    site = tmp_path / "site"
    write_plugin_distribution(site, "zoo-liar", "zoo_liar", source=LIAR_PLUGIN)
    env = {"PYTHONPATH": str(site), "ZOO_LOAD_PLUGINS": "zoo_liar"}
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    planned = zoo("build", "liar-lm-cpu-int8", "--from", str(checkpoint), env=env)
    assert planned.returncode == 5, planned.stderr
    said = " ".join(planned.stderr.split())
    assert "The converter 'liar' (plugin zoo_liar) planned to write extra.bin, a bin file" in said
    assert "nothing was run" in said
    unreachable = zoo("build", "liar-lm-cpu-int4", "--from", str(checkpoint), env=env)
    assert unreachable.returncode == 10, unreachable.stderr
    assert "liar-lm-cpu-int4 is a litertlm file, but its recipe makes none: the converter 'liar' writes tflite" in \
        " ".join(unreachable.stderr.split())
    assert "liar-lm" not in zoo("ls", env=env).stdout
