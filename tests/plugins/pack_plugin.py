"""A test plugin with a real (tiny) converter, used to exercise the build pipeline quickly.

Its toolchain has no requirements, so zoo's own interpreter runs it; its runner really reads the
inputs and writes a flatbuffer, and can be told (by recipe parameter `mode`) to crash or lie.
"""

from pathlib import Path

from registry.components import Converter, Job, Toolchain
from registry.hookspecs import hookimpl

RUNNER = Path(__file__).with_name("pack_runner.py")


class PackConverter(Converter):
    name = "pack"
    description = "Packs input files into a TFLite flatbuffer (tests only)."
    toolchain = Toolchain("zoo-test-pack", ())
    produces = ("tflite", "bin")

    def plan(self, request):
        variant = request.variant
        if variant.recipe.params.get("mode") == "plan-bug":  # a plugin's own bug, raised in zoo's process
            return {}["missing key"]
        output = request.work_dir / variant.outputs[0].path
        return Job(
            RUNNER,
            {"mode": variant.recipe.params.get("mode", "ok"), "output": str(output), "inputs": str(request.inputs_dir),
             "backend": variant.backend, "salt": str(variant.recipe.params.get("salt", ""))},
            "packing",
            {variant.outputs[0].path: output},
            variant.recipe.ram_gb,
        )


@hookimpl
def register_converters(register):
    register(PackConverter())


@hookimpl
def register_families(register):
    register(Path(__file__).with_name("pack_family.toml"))
