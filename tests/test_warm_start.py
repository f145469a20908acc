"""`zoo run` starts the runner its last run used before it parses (registry/warm_start.py): the
request reaches that runner, a runner the run does not need is ended, the runner ends with zoo, and
a hint zoo did not write itself starts nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import HERE, REPO, ends_soon, install_pack_plugin, run_zoo
from registry.testing.plugins import write_plugin_distribution

ENTRY = "packer-cpu-int8"


@pytest.fixture
def echo(tmp_path):
    """(env, package folder of the echo runtime) with the packer model built to run it on."""
    env, _ = install_pack_plugin(tmp_path)
    site = Path(env["PYTHONPATH"])
    write_plugin_distribution(site, "zoo-echo-test", "zoo_echo_test", source=(HERE / "plugins" / "echo_plugin.py").read_text())
    package = site / "zoo_echo_test"
    shutil.copy(HERE / "plugins" / "echo_runner.py", package)
    env["ZOO_LOAD_PLUGINS"] = "zoo_pack_test,zoo_echo_test"
    run_zoo("build", "packer", "--json", env=env, check=True)
    return env, package


def hint() -> Path:
    return Path(os.environ["ZOO_HOME"]) / "cache" / "warm-start"


def echo_run(env, *args) -> dict:
    ran = run_zoo("run", ENTRY, "--runtime", "echo", "--prompt", "the zoo keeps", "--json", *args, env=env, check=True)
    return json.loads(json.loads(ran.stdout)["text"])


def early_pid(package: Path, seconds: float = 10) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (package / "early.pid").exists():
            return int((package / "early.pid").read_text())
        time.sleep(0.05)
    raise AssertionError("no runner was started early")


def test_the_next_run_hands_its_request_to_the_runner_started_early(echo):
    env, package = echo
    first = echo_run(env)
    assert first["argv1"].endswith(".request.json") and first["prompt"] == "the zoo keeps"
    assert hint().stat().st_mode & 0o777 == 0o600
    second = echo_run(env)
    assert second == {"prompt": "the zoo keeps", "argv1": "-", "folder": second["folder"]}, second
    assert second["folder"].startswith("zoo-run-")  # it works in the run's own folder, not zoo's
    assert ends_soon(early_pid(package))


def test_a_run_that_fails_or_needs_no_runner_ends_the_early_one(echo):
    """Ended as zoo exits, not when it next reads its stdin: one still importing its runtime (linger)
    ends too."""
    env, package = echo
    echo_run(env)
    (package / "linger").write_text("")
    failed = run_zoo("run", "no-such-model", "--prompt", "hi", env=env)
    assert failed.returncode != 0
    assert ends_soon(early_pid(package), seconds=2), "an early runner outlived a failed zoo run"
    (package / "early.pid").unlink()
    helped = run_zoo("run", "--help", env=env, check=True)
    assert "--prompt" in helped.stdout and not (package / "early.pid").exists()


def test_an_early_runner_ends_with_a_zoo_killed_outright(echo):
    """Killed before it hands the request over, zoo cannot end its early runner; the kernel does
    (PR_SET_PDEATHSIG, which the runner asks for itself), even one still importing its runtime."""
    env, package = echo
    echo_run(env)
    (package / "linger").write_text("")
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from registry import warm_start; "
         "warm_start.start_early(['run']); time.sleep(60)"],
        env=os.environ | env, cwd=REPO)
    try:
        pid = early_pid(package)
    finally:
        starter.kill()
        starter.wait()
    assert ends_soon(pid), "an early runner outlived a zoo killed with SIGKILL"


@pytest.mark.parametrize("tamper", ["writable by others", "a link", "other plugin settings", "not zoo's format"])
def test_a_hint_zoo_did_not_write_itself_starts_nothing(echo, tmp_path, tamper):
    env, package = echo
    echo_run(env)
    if tamper == "writable by others":
        hint().chmod(0o666)
    elif tamper == "a link":
        copy = tmp_path / "hint-copy"
        shutil.copy(hint(), copy)
        hint().unlink()
        hint().symlink_to(copy)
    elif tamper == "other plugin settings":
        env = env | {"ZOO_LOAD_PLUGINS": "zoo_echo_test,zoo_pack_test"}
    else:
        hint().write_bytes(hint().read_bytes().replace(b"zoo-warm-start-1", b"zoo-warm-start-0"))
    assert echo_run(env)["argv1"].endswith(".request.json")
    assert not (package / "early.pid").exists()


def test_a_runner_the_plan_does_not_name_is_ended_and_the_run_starts_its_own(echo):
    """The hint names a runner this run does not use (the runtime changed its runner): the early
    one is ended, unused, and the run is what it would be without it."""
    env, package = echo
    echo_run(env)
    other = package / "echo_runner_old.py"
    shutil.copy(package / "echo_runner.py", other)
    fields = hint().read_bytes().split(b"\0")
    fields[4] = str(other).encode()
    hint().write_bytes(b"\0".join(fields))
    assert echo_run(env)["argv1"].endswith(".request.json")
    assert ends_soon(early_pid(package), seconds=2)


def test_zoo_run_does_not_import_what_delays_the_early_start():
    """Before the early runner starts, zoo imports os and three small modules of its own: click,
    subprocess or json first would delay the runtime's import by their own."""
    probe = ("import sys; before = set(sys.modules); from registry import warm_start; "
             "print(sorted(set(sys.modules) - before))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert not any(name in loaded for name in ("'click'", "'subprocess'", "'json'", "'re'", "'pathlib'", "'dataclasses'")), loaded
