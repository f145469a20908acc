"""zoo's web check against loading the same file with MediaPipe's Web runtime directly.

Target (issue 19): `zoo verify --run ID` on a gpu .bin (zoo's whole command: start, the store's check,
the web toolchain's node, zoo's server and page, Chromium, load, one streamed piece) <= 1.1x the wall
time of the smallest direct harness doing the same work: a node script that serves the same files
from 127.0.0.1, starts the same Chromium with puppeteer-core and calls LlmInference.createFromOptions
and generateResponse on a bare page, stopping after the first piece.

The .bin is the suite's full-size random FALCON_RW_1B, gpu int8 (1.4 GB), converted first (about
two minutes). Runs alternate, so drift on this machine hits both alike.

    python benchmarks/web.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIRECT_PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module">
import { FilesetResolver, LlmInference } from './genai_bundle.mjs';
window.run = async () => {
  const genai = await FilesetResolver.forGenAiTasks('./wasm');
  const llm = await LlmInference.createFromOptions(genai, { baseOptions: { modelAssetPath: './model.bin' }, maxTokens: 512,
    topK: 1, temperature: 0, randomSeed: 0 });
  let pieces = 0;
  const text = await llm.generateResponse('Hello', (partial, done) => { if (partial && ++pieces === 1 && !done) llm.cancelProcessing(); });
  return text;
};
</script>"""

DIRECT_DRIVER = """
import fs from 'node:fs'; import http from 'node:http'; import path from 'node:path'; import { createRequire } from 'node:module';
const [dir, browserPath, profile] = process.argv.slice(2);
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = http.createServer((req, res) => {
  const file = path.join(dir, decodeURIComponent(req.url.split('?')[0]));
  fs.stat(file, (error, stat) => {
    if (error || !stat.isFile()) { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'content-length': stat.size });
    fs.createReadStream(file).pipe(res);
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const puppeteer = createRequire(import.meta.url)('puppeteer-core');
const args = ['--headless=new', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader',
  ...(process.getuid() === 0 ? ['--no-sandbox'] : [])];
const browser = await puppeteer.launch({ executablePath: browserPath, args, userDataDir: profile, protocolTimeout: 0 });
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
await page.waitForFunction(() => window.run !== undefined);
const text = await page.evaluate(() => window.run());
await browser.close(); server.close();
console.log(JSON.stringify({ text }));
process.exit(0);
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from plugins.toolchains import MEDIAPIPE, WEB
    from registry import toolchains

    web = toolchains.ensure(WEB, print)
    browser = subprocess.run([str(web.interpreter), "--input-type=module", "-e",
                              f"import {{ findBrowser }} from {(REPO / 'plugins/runners/web/browser.mjs').as_uri()!r}; "
                              "console.log(findBrowser());"], capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(dir=os.environ.get("ZOO_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, ZOO_HOME=str(tmp / "home"))
        ckpt = tmp / "ckpt"
        subprocess.run([str(toolchains.ensure(MEDIAPIPE, print).interpreter), str(REPO / "registry/testing/make_checkpoint.py"),
                        "FALCON_RW_1B", str(ckpt)], check=True, stdout=subprocess.DEVNULL)
        timed([sys.executable, "-m", "zoo_cli", "build", "falcon-rw-1b", "--backend", "gpu", "--quant", "int8", "--from",
               str(ckpt), "--no-run-check"], env)
        shutil.rmtree(ckpt)
        entry = "falcon-rw-1b-gpu-int8"
        artifact = tmp / "home/store/artifacts" / entry / f"{entry}.bin"
        size = artifact.stat().st_size
        site = tmp / "direct"
        genai = web.path / "node_modules" / "@mediapipe" / "tasks-genai"
        (site / "wasm").mkdir(parents=True)
        (site / "index.html").write_text(DIRECT_PAGE)
        (site / "genai_bundle.mjs").symlink_to(genai / "genai_bundle.mjs")
        for wasm in (genai / "wasm").iterdir():
            (site / "wasm" / wasm.name).symlink_to(wasm)
        (site / "model.bin").symlink_to(artifact)
        driver = tmp / "direct.mjs"
        driver.write_text(DIRECT_DRIVER)
        node_env = env | web.variables()
        direct_cmd = [str(web.interpreter), str(driver), str(site), browser, str(tmp / "profile")]
        zoo_cmd = [sys.executable, "-m", "zoo_cli", "verify", "--run", entry, "--json"]
        direct, checked = [], []
        for _ in range(args.runs):
            shutil.rmtree(tmp / "profile", ignore_errors=True)
            direct.append(timed(direct_cmd, node_env)[0])
            seconds, out = timed(zoo_cmd, env)
            checked.append(seconds)
        record = json.loads((tmp / "home" / "run-checks" / f"{entry}.json").read_text())
    d, z = statistics.median(direct), statistics.median(checked)
    print(f"{'measure (median of ' + str(args.runs) + ')':52} {'seconds':>8} {'vs direct':>10}  target")
    print(f"{'MediaPipe Web runtime, direct (load + 1 piece)':52} {d:8.1f}")
    print(f"{'zoo verify --run (whole command)':52} {z:8.1f} {z / d:9.2f}x  <= 1.1x")
    print(f"runs (s): direct {' '.join(f'{s:.1f}' for s in sorted(direct))}; zoo {' '.join(f'{s:.1f}' for s in sorted(checked))}")
    print(f"(zoo's last run: loaded in {record['details']['load_seconds']:.1f} s in {record['details']['browser']}, "
          f"{record['details']['tokens']} tokens in {record['details']['seconds']:.1f} s; {size / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
