// zoo's job runner for MediaPipe's Web runtime (node, in the web toolchain). Request modes:
//   "check": serve the artifact, load it in headless Chromium, generate a few greedy pieces from the
//            prompt; the result holds the text, timings and versions, or an error with the runtime's
//            own message (read from the page's console, since a runtime failure can leave
//            generateResponse pending forever). With `reference`, the build's checkpoint is then asked
//            for its own first greedy token (../web_reference.py, in its Python toolchain).
//   "serve": serve the page for a person (`zoo web`), print its URL, run until stopped.
//   "bench": load and generate `runs` times in one browser, for `zoo bench`: each run's timings.
// It speaks zoo's runner protocol on stdout: one JSON object per line (progress, result, error).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { NO_BROWSER_FIX, NoBrowser, describe, findBrowser, launch } from './browser.mjs';
import { artifactRoutes, serve } from './server.mjs';

// zoo stops a job with SIGTERM (and the kernel sends it if zoo dies: PR_SET_PDEATHSIG). puppeteer's own
// handler only starts closing the browser; exiting runs its exit hook, which kills the browser at once.
for (const [name, code] of [['SIGTERM', 143], ['SIGHUP', 129]]) process.on(name, () => process.exit(code));

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const progress = (message) => emit({ event: 'progress', message });

/** A failure to report as zoo's error event, once the browser and its profile are gone. */
class Failure extends Error {
  constructor(message, fix) {
    super(message);
    this.fix = fix;
  }
}

// Console lines of the runtime that mean it has failed (absl statuses, wasm aborts).
const FATAL = /RET_CHECK|INVALID_ARGUMENT|FAILED_PRECONDITION|INTERNAL:|NOT_FOUND:|UNIMPLEMENTED|OUT_OF_RANGE|DATA_LOSS|Aborted\(|RuntimeError/;

function genaiDir() {
  const main = require.resolve('@mediapipe/tasks-genai');
  const dir = path.dirname(main);
  return { dir, version: JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version };
}

function deadline(seconds, what) {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds} s`)), seconds * 1000);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Run `work` with a page of the site loaded in headless Chromium, its WebGPU adapter known; a runtime
 * failure (read from the page's console, since it can leave a promise pending forever) ends it as a Failure. */
async function inBrowser(request, site, work) {
  let executable;
  try {
    executable = findBrowser();
  } catch (error) {
    throw error instanceof NoBrowser ? new Failure(error.message, NO_BROWSER_FIX) : error;
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'zoo-web-'));
  const browser = await launch(executable, profile);
  const consoleErrors = [];
  let fatal;
  const failed = new Promise((_, reject) => { fatal = reject; });
  try {
    const page = await browser.newPage();
    page.on('console', async (message) => {
      let text = message.text();
      if (/^(Array|Object)\b|JSHandle@/.test(text)) { // logged values, not text: read them
        const values = await Promise.all(message.args().map((arg) => arg.jsonValue().catch(() => '?')));
        text = values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join(' ');
      }
      process.stderr.write(`console: ${text.slice(0, 2000)}\n`); // zoo shows the tail if the job dies
      if (message.type() === 'error' || FATAL.test(text) || (message.type() === 'warn' && /error/i.test(text))) {
        consoleErrors.push(text.slice(0, 2000));
        if (FATAL.test(text)) fatal(new Error(text.slice(0, 2000)));
      }
    });
    page.on('pageerror', (error) => { consoleErrors.push(String(error.message || error)); fatal(error); });
    failed.catch(() => {});
    await page.goto(site.url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.zoo !== undefined, { timeout: 30000 });
    const { version, adapter } = await describe(browser, page);
    if (!adapter) {
      throw new Failure(`${version} offers no WebGPU adapter, which MediaPipe's Web runtime needs.`,
        'Use a Chromium with WebGPU (113 or newer; without a GPU it needs SwiftShader, part of Chromium\'s own builds); '
        + '`zoo toolchain doctor web` shows what zoo found.');
    }
    const within = async (seconds, what, promise) => {
      const limit = deadline(seconds, what);
      try {
        return await Promise.race([promise, limit.promise, failed]);
      } finally {
        limit.cancel();
      }
    };
    return await work({ page, within, version, adapter, executable, consoleErrors });
  } catch (error) {
    if (error instanceof Failure) throw error;
    const message = String(error.message || error).split('\n')[0]; // the runtime's words, not the bundle's stack
    const seen = [...new Set(consoleErrors.map((line) => line.split('\n')[0].slice(0, 300)))]
      .filter((line) => line !== message).slice(-3);
    throw new Failure(`MediaPipe's Web runtime failed on ${path.basename(request.artifact)}: ${message}`
      + (seen.length ? ` (the page's console: ${seen.join(' | ')})` : ''),
    'The file does not run in MediaPipe\'s Web runtime in this browser. A pulled file: `zoo pull --repair ID`; a built one: '
      + 'report it with this message (`zoo build ... --no-run-check` installs it unchecked).');
  } finally {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

function settingsOf(request) {
  return { maxTokens: request.max_tokens, topK: 1, temperature: 0, seed: 0, loraRanks: request.lora_ranks || [] };
}

async function check(request, site, runtime) {
  return inBrowser(request, site, async ({ page, within, version, adapter, executable, consoleErrors }) => {
    progress(`loading ${path.basename(request.artifact)} in ${version} (WebGPU: ${adapter.vendor || '?'} ${adapter.architecture})`);
    const loadSeconds = await within(request.load_timeout_s, 'Loading the model',
      page.evaluate((s) => window.zoo.load(s), settingsOf(request)));
    progress(`loaded in ${loadSeconds.toFixed(1)} s; generating ${request.pieces} piece${request.pieces === 1 ? '' : 's'}`);
    const generated = await within(request.generate_timeout_s, 'Generating',
      page.evaluate((prompt, pieces) => window.zoo.generate(prompt, { pieces }), request.prompt, request.pieces));
    if (!generated.pieces.length) throw new Error(`it loaded but generated nothing for ${JSON.stringify(request.prompt)}`);
    const rate = generated.tokens_per_second ? `, ${generated.tokens_per_second.toFixed(2)} tokens/s` : '';
    const summary = `MediaPipe Web ${runtime.version} in ${version} (WebGPU: ${adapter.vendor} ${adapter.architecture}): `
      + `loaded in ${loadSeconds.toFixed(1)} s, ${generated.tokens} tokens in ${generated.seconds.toFixed(1)} s${rate}: `
      + JSON.stringify(generated.text.slice(0, 60));
    return { ...generated, summary, load_seconds: loadSeconds, runtime: '@mediapipe/tasks-genai', runtime_version: runtime.version,
      browser: version, browser_path: executable, adapter, console_errors: consoleErrors.slice(-5), max_tokens: request.max_tokens };
  });
}

/** `zoo bench`: the model loaded and asked `runs` times in one browser; each run's load time, time to the
 * first streamed piece, and prefill and decode speed (the runtime's own token counts). */
async function bench(request, site, runtime) {
  return inBrowser(request, site, async ({ page, within, version, adapter }) => {
    const runs = [];
    for (let number = 1; number <= request.runs; number += 1) {
      progress(`run ${number} of ${request.runs}`);
      const load = await within(request.load_timeout_s, 'Loading the model',
        page.evaluate((s) => window.zoo.load(s), settingsOf(request)));
      const got = await within(request.generate_timeout_s, 'Generating',
        page.evaluate((prompt, pieces) => window.zoo.generate(prompt, { pieces }), request.prompt, request.pieces));
      if (!got.pieces.length) throw new Error(`it loaded but generated nothing for the benchmark's prompt`);
      const first = got.first_piece_seconds;
      const decoding = got.seconds - first;
      runs.push({ load_seconds: load, time_to_first_token_seconds: first, prefill_tokens: got.prompt_tokens,
        prefill_tokens_per_second: got.prompt_tokens && first > 0 ? got.prompt_tokens / first : null,
        decode_tokens: got.tokens,
        decode_tokens_per_second: got.tokens > 1 && decoding > 0 ? (got.tokens - 1) / decoding : null });
    }
    return { runs, runtime_version: runtime.version, browser: version, adapter };
  });
}

/** The checkpoint's own view of the generated text (runners/web_reference.py, in its Python toolchain). */
async function reference(spec, prompt, generated) {
  const requestFile = path.resolve('web_reference.request.json');
  fs.writeFileSync(requestFile, JSON.stringify({ checkpoint: spec.checkpoint, prompt, generated }));
  const child = spawn(spec.python, [spec.runner, requestFile], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk) => { out += chunk; });
  await new Promise((resolve) => child.on('close', resolve));
  const events = out.split('\n').filter((line) => line.startsWith('{')).map((line) => { try { return JSON.parse(line); } catch { return {}; } });
  const found = events.find((event) => event.event === 'result');
  if (found) return found.data;
  const error = events.find((event) => event.event === 'error');
  return { skipped: error ? error.message : `the reference exited with status ${child.exitCode}` };
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const runtime = genaiDir();
  const routes = artifactRoutes({ genaiDir: runtime.dir, pageDir: path.join(here, 'page'), artifact: request.artifact,
    config: { name: path.basename(request.artifact), title: request.title, prompt: request.prompt, defaults: request.defaults || {} } });
  const site = await serve(routes, { port: request.port || 0 });
  if (request.mode === 'serve') {
    emit({ event: 'progress', message: `serving ${path.basename(request.artifact)} at ${site.url}` });
    await new Promise(() => {}); // until zoo stops the job (Ctrl-C)
  }
  try {
    if (request.mode === 'bench') emit({ event: 'result', data: await bench(request, site, runtime) });
    else await checked(request, site, runtime);
  } finally {
    await site.close();
  }
  process.exit(0); // the browser's pipes must not keep node alive
}

/** The check, and what the build's checkpoint says of its first token when the request asks. */
async function checked(request, site, runtime) {
  const result = await check(request, site, runtime);
  if (request.reference) {
    progress('asking the checkpoint for its own first token (information)');
    result.reference = await reference(request.reference, request.prompt, result.text);
    if (result.reference.first_token !== undefined) {
      result.summary += `; the checkpoint's own first token ${JSON.stringify(result.reference.first_token_text)} `
        + (result.reference.first_token_matches ? 'comes first here too' : 'does not come first here');
    }
  } else if (request.reference_skipped) {
    result.reference = { skipped: request.reference_skipped };
  }
  emit({ event: 'result', data: { ...result, requests: site.requests.count } });
}

main().catch((error) => {
  if (error instanceof Failure) emit({ event: 'error', message: error.message, fix: error.fix });
  else emit({ event: 'error', message: `The web runtime job failed: ${error.message || error}`, fix: 'Run `zoo toolchain doctor web`.' });
  process.exit(1);
});
