"""MediaPipe's Web runtime in a real, headless Chromium (Debian's `chromium`, WebGPU on SwiftShader):
the web-generation check of a gpu build, `zoo verify --run`, `zoo web` used through its page, and
the errors when the browser is missing or the file is broken."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import REPO, run_zoo, toolchain_python

SCREENSHOTS = Path(os.environ.get("ZOO_TEST_ARTIFACTS") or REPO / "build" / "test-artifacts")
"""Where the page's screenshot is kept for people to look at (CI can upload the directory)."""


def web_environment():
    """The web toolchain (created on first use) and the child environment its node scripts need."""
    from registry import settings, toolchains

    from plugins.toolchains import WEB

    settings.reload()
    environment = toolchains.ensure(WEB, print)
    return environment, os.environ | environment.variables()


def status(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# ---------------------------------------------------------------------------- fast: which builds, which errors


def test_only_web_capable_gpu_builds_get_the_web_check():
    from registry.catalog import Catalog

    catalog = Catalog.load()

    def build_checks(vid):
        variant = catalog.variant(vid)
        return catalog.build_checks_for(variant, variant.outputs[0])

    assert "web-generation" in build_checks("falcon-rw-1b-gpu-int8")
    assert "web-generation" in build_checks("phi-2-gpu-int4")
    assert "web-generation" not in build_checks("falcon-rw-1b-cpu-int8")  # android and ios only
    falcon = catalog.variant("falcon-rw-1b-gpu-int8")
    phone_only = falcon.model_copy(update={"platforms": ["android", "ios"]})
    assert "web-generation" not in catalog.build_checks_for(phone_only, phone_only.outputs[0])
    assert "web-generation" not in catalog.checks_for(falcon, falcon.outputs[0])  # what a pull checks: never a run


def test_the_web_plugin_conforms_and_npm_toolchains_must_be_pinned(zoo):
    from registry.components import Runtime, Toolchain
    from registry.conformance import _component_problems

    checked = zoo("plugins", "check", "web")
    assert checked.returncode == 0 and "ok      web: verifier:web-generation, runtime:mediapipe-web" in checked.stdout

    def problems(toolchain):
        runtime = type("R", (Runtime,), {"name": "r", "description": "d", "formats": ("bin",), "toolchain": toolchain})()
        return _component_problems("runtime", "r", runtime)

    assert problems(Toolchain("w", ("@mediapipe/tasks-genai@0.10.29", "left-pad@1.3.0"), kind="npm")) == []
    assert ["not a pinned name@version" in p for p in problems(Toolchain("w", ("left-pad", "left-pad@^1.3.0"), kind="npm"))] == [True, True]
    assert "neither 'pip' nor 'npm'" in problems(Toolchain("w", ("x==1",), kind="conda"))[0]


def test_no_browser_is_one_clear_error_before_anything_is_converted(tmp_path, zoo):
    checkpoint = tmp_path / "falcon"
    checkpoint.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "pytorch_model.bin"):
        (checkpoint / name).write_text("{}")
    environment, _ = web_environment()
    named = zoo("build", "falcon-rw-1b", "--backend", "gpu", "--quant", "int8", "--from", str(checkpoint),
                env={"ZOO_CHROMIUM": str(tmp_path / "no-such-browser")})
    assert named.returncode != 0
    assert "ZOO_CHROMIUM is" in named.stderr and "not an executable file" in named.stderr
    assert "apt-get install chromium" in named.stderr and "--no-run-check" in named.stderr
    assert "conversion" not in named.stderr and "Traceback" not in named.stderr
    only_node = tmp_path / "bin"
    only_node.mkdir()
    (only_node / "node").symlink_to(environment.interpreter)
    on_path = zoo("build", "falcon-rw-1b", "--backend", "gpu", "--quant", "int8", "--from", str(checkpoint),
                  env={"PATH": str(only_node), "ZOO_CHROMIUM": ""})
    assert on_path.returncode != 0 and "none was found" in on_path.stderr and "chromium" in on_path.stderr
    assert not list((Path(os.environ["ZOO_HOME"]) / "store").glob("artifacts/*"))


def stored(tmp_path, variant: str) -> None:
    """A store entry for `variant` holding a few bytes: enough for `zoo web` to serve, not to load."""
    import hashlib

    from registry import settings
    from registry.store import Entry, EntryFile, default_store

    settings.reload()
    store = default_store()
    data = tmp_path / f"{variant}.bin"
    data.write_bytes(b"not a model")
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    with store.store_lock():
        store.add_blob(data, digest)
        store.install(Entry(id=variant, kind="built", files=[EntryFile(data.name, digest, 11)], main=data.name,
                            source={"variant": variant}))


def test_zoo_web_refuses_a_variant_built_for_phones_only(tmp_path, zoo):
    stored(tmp_path, "falcon-rw-1b-cpu-int8")
    refused = zoo("web", "falcon-rw-1b-cpu-int8")
    assert refused.returncode != 0 and refused.stdout == ""
    assert "is built for android, ios (cpu backend), not for the Web" in refused.stderr
    assert "zoo list --platform web" in refused.stderr and "Traceback" not in refused.stderr


def test_zoo_web_open_hands_the_url_to_the_users_browser(tmp_path):
    stored(tmp_path, "falcon-rw-1b-gpu-int8")
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    browser.chmod(0o755)
    web_environment()
    server = subprocess.Popen([sys.executable, "-m", "zoo_cli", "web", "falcon-rw-1b-gpu-int8", "--open"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=os.environ | {"BROWSER": str(browser)}, cwd=REPO)
    try:
        url = server.stdout.readline().strip()
        for _ in range(100):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.1)
        assert opened.read_text() == url and url.startswith("http://127.0.0.1:")
        assert status(url) == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert server.returncode == 0


def test_toolchain_doctor_reports_the_webgpu_adapter(zoo):
    web_environment()
    result = zoo("toolchain", "doctor", "web", env={"COLUMNS": "300"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok      web" in result.stdout and "WebGPU adapter: google swiftshader" in result.stdout
    broken = zoo("toolchain", "doctor", "web", env={"COLUMNS": "300", "ZOO_CHROMIUM": "/no/such/chromium"})
    assert broken.returncode != 0 and "BROKEN  web" in broken.stdout and "/no/such/chromium" in broken.stdout


# ---------------------------------------------------------------------------- slow: a real gpu build, run in the browser


@pytest.fixture(scope="module")
def built(falcon_checkpoint, tmp_path_factory):
    """`zoo build falcon-rw-1b --backend gpu --quant int8 --from DIR` as typed: convert, then the web check
    (which asks the checkpoint, in litert-torch's toolchain, for its own first token)."""
    from plugins.toolchains import LITERT_TORCH

    toolchain_python(LITERT_TORCH)
    home = tmp_path_factory.mktemp("web-home")
    env = {"ZOO_HOME": str(home)}
    result = run_zoo("build", "falcon-rw-1b", "--backend", "gpu", "--quant", "int8", "--from", str(falcon_checkpoint), "--json",
                     env=env, timeout=1200)
    assert result.returncode == 0, result.stderr
    yield env, json.loads(result.stdout), result.stderr
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_a_gpu_build_is_converted_then_run_in_mediapipes_web_runtime(built, falcon_checkpoint):
    env, result, stderr = built
    output = Path(result["path"])
    assert output.name == "falcon-rw-1b-gpu-int8.bin" and 1.3e9 < output.stat().st_size < 1.5e9
    record = result["provenance"]
    assert record["steps"][0]["what"] == "FALCON_RW_1B conversion" and record["steps"][0]["peak_rss_bytes"] > 2e9
    assert "mediapipe==0.10.35" in record["toolchains"]["mediapipe"]["lock"]
    assert "@mediapipe/tasks-genai@0.10.29" in record["toolchains"]["web"]["lock"]
    checks = {c["check"]: c for c in record["checks"]}
    assert set(checks) == {"tflite-flatbuffer", "mediapipe-metadata", "web-generation"}
    web = checks["web-generation"]["details"]
    assert checks["web-generation"]["runs_model"] is True
    assert web["runtime_version"] == "0.10.29" and web["browser"].startswith("Chrome/")
    assert web["adapter"]["architecture"] == "swiftshader"
    assert web["load_seconds"] > 0 and web["pieces"] and web["text"] and web["tokens"] > 0 and web["tokens_per_second"] > 0
    reference = web["reference"]  # information: the checkpoint's own first greedy token, and the text as its ids
    assert isinstance(reference["first_token"], int) and reference["first_token_text"]
    assert isinstance(reference["first_token_matches"], bool) and reference["generated_ids"]
    assert "web-generation check of falcon-rw-1b-gpu-int8.bin" in stderr
    again = json.loads(run_zoo("build", "falcon-rw-1b", "--backend", "gpu", "--quant", "int8", "--from", str(falcon_checkpoint),
                               "--json", env=env, check=True).stdout)
    assert again["cache_hit"] is True


@pytest.mark.slow
def test_zoo_verify_run_runs_the_stored_gpu_bin_in_the_browser(built):
    env, result, _ = built
    entry = result["entry"]  # a --from build's own id; the variant's name finds it while it is the only one
    assert entry.startswith("falcon-rw-1b-gpu-int8.")
    verified = run_zoo("verify", "--run", "falcon-rw-1b-gpu-int8", env=env, timeout=600)
    assert verified.returncode == 0, verified.stderr
    assert f"ran     {entry} in mediapipe-web 0.10.29" in verified.stdout and "tokens/s" in verified.stdout
    record = json.loads((Path(env["ZOO_HOME"]) / "run-checks" / f"{entry}.json").read_text())
    assert record["runtime"] == "mediapipe-web" and record["text"] and record["details"]["load_seconds"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "flipped header"])
def test_a_damaged_bin_fails_with_the_runtimes_own_message(built, damage, tmp_path):
    from registry.child import run_job
    from registry.errors import BuildError

    from plugins.web import MediaPipeWeb

    _, result, _ = built
    broken = tmp_path / "falcon-rw-1b-gpu-int8.bin"
    with open(result["path"], "rb") as source, open(broken, "wb") as target:
        if damage == "truncated":
            target.write(source.read(100_000_000))
        else:
            target.write(b"\xff" * 8 + source.read()[8:])
    environment, _ = web_environment()
    job = MediaPipeWeb().plan(broken, "Hello", 1, 512)
    with pytest.raises(BuildError) as failed:
        run_job(environment.interpreter, job.runner, job.request, tmp_path / "work", what=job.what, env=environment.variables())
    expected = "Data size is too small" if damage == "truncated" else "No model format matched"
    assert "MediaPipe's Web runtime failed on falcon-rw-1b-gpu-int8.bin" in failed.value.message
    assert expected in failed.value.message and "zoo pull --repair ID" in failed.value.fix


@pytest.mark.slow
def test_zoo_web_serves_a_page_a_person_can_use_and_nothing_else(built):
    env, result, _ = built
    environment, node_env = web_environment()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, "-m", "zoo_cli", "web", "falcon-rw-1b-gpu-int8"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=os.environ | env, cwd=REPO)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), server.stderr.read()
        token = url.rstrip("/").rsplit("/", 1)[1]
        assert len(token) == 32
        origin = url[: url.index(token)]
        assert status(url) == 200 and status(url + "config.json") == 200
        for elsewhere in (origin, origin + "etc/passwd", url + "../", url + "wasm/", url + "model/", url + "nope.js",
                          url + "model/..%2f..%2fconfig.json", origin + "0" * 32 + "/"):
            assert status(elsewhere) == 404, elsewhere
        assert status(url, "POST") == 405 and status(url, "PUT") == 405

        used = subprocess.run([str(environment.interpreter), str(REPO / "tests" / "web_page_driver.mjs"), url,
                               str(SCREENSHOTS / "zoo-web.png")], capture_output=True, text=True, env=node_env, timeout=900)
        assert used.returncode == 0, used.stderr[-3000:]
        seen = json.loads(used.stdout.strip().splitlines()[-1])
        assert seen["title"] == result["entry"] and seen["no_webgpu_shown"] is False
        assert seen["controls"] == {"max-tokens": "512", "top-k": "40", "temperature": "0.8", "seed": "0"}  # the manifest's
        assert seen["loaded"].startswith("Loaded falcon-rw-1b-gpu-int8.bin in ")
        assert seen["streamed"] and seen["output"].startswith(seen["streamed"]) and seen["status"] == "Done."
        assert "tokens in" in seen["stats"] and "tokens/s" in seen["stats"]
        assert (SCREENSHOTS / "zoo-web.png").stat().st_size > 10_000

        without = subprocess.run([str(environment.interpreter), str(REPO / "tests" / "web_page_driver.mjs"), url,
                                  str(SCREENSHOTS / "zoo-web-no-webgpu.png"), "--no-webgpu"],
                                 capture_output=True, text=True, env=node_env, timeout=300)
        assert without.returncode == 0, without.stderr[-3000:]
        assert json.loads(without.stdout.strip().splitlines()[-1])["no_webgpu_shown"] is True
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0 and "Stopped." in err
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)  # the server went with it


def test_the_page_server_keeps_a_bounded_record_of_its_requests(tmp_path):
    """`zoo web` serves for as long as the user likes: it kept every request in a list (20,000 requests
    grew node from 47 to 234 MB). It counts them and keeps the last few."""
    script = tmp_path / "many.mjs"
    script.write_text(f"""
import http from 'node:http';
import {{ serve, RECENT_REQUESTS }} from {json.dumps(str(REPO / "plugins" / "runners" / "web" / "server.mjs"))};
const site = await serve(new Map([['index.html', {{ body: 'hi', type: 'text/html' }}]]));
const agent = new http.Agent({{ keepAlive: true, maxSockets: 8 }});
const get = (path) => new Promise((resolve, reject) => http.get(site.url + path, {{ agent }}, (res) => {{ res.resume(); res.on('end', resolve); }}).on('error', reject));
for (let batch = 0; batch < 100; batch++) await Promise.all(Array.from({{ length: 200 }}, (_, i) => get('x' + i + '-' + 'y'.repeat(2000))));
console.log(JSON.stringify({{ count: site.requests.count, kept: site.requests.recent.length, bound: RECENT_REQUESTS,
                              longest: Math.max(...site.requests.recent.map((r) => r.path.length)) }}));
agent.destroy();
await site.close();
""")
    ran = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    record = json.loads(ran.stdout.splitlines()[-1])
    assert record["count"] == 20_000 and record["kept"] == record["bound"] == 64 and record["longest"] <= 512


@pytest.mark.slow
def test_zoo_bench_measures_a_gpu_bin_in_the_web_runtime(built):
    """The same table as for LiteRT-LM's files, from MediaPipe's Web runtime in Chromium (SwiftShader here:
    one run, as each loads the 1.4 GB model again, about a minute)."""
    env, result, _ = built
    measured = run_zoo("bench", result["entry"], "--runs", "1", "--prefill", "4", "--decode", "1", "--json", env=env,
                       timeout=900)
    assert measured.returncode == 0, measured.stderr
    [record] = json.loads(measured.stdout)
    assert record["runtime"] == "mediapipe-web" and record["runtime_version"] == "0.10.29"
    metrics = record["metrics"]
    assert len(metrics["load_seconds"]["values"]) == 1 and metrics["load_seconds"]["median"] > 0
    assert metrics["time_to_first_token_seconds"]["median"] > 0 and metrics["prefill_tokens_per_second"]["median"] > 0
    assert "falcon-rw-1b-gpu-int8" in run_zoo("info", result["entry"], env=env, check=True).stdout
