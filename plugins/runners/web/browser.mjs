// Finding and starting the machine's Chromium for MediaPipe's Web runtime. zoo never downloads a
// browser: ZOO_CHROMIUM names one, or the first Chromium or Chrome on PATH is used.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url); // the toolchain's packages come through NODE_PATH

export const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];

// WebGPU in headless Chromium; without a GPU, Chromium's own SwiftShader (Vulkan on the CPU) backs it.
// The renderer that parses the model keeps Chromium's sandbox, except as root, where Chromium refuses to
// start with it (containers, CI); the page is zoo's own and is served from this machine only.
export const FLAGS = ['--headless=new', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader',
  '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--mute-audio',
  ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])];

export class NoBrowser extends Error {}

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findBrowser(env = process.env) {
  const chosen = (env.ZOO_CHROMIUM || '').trim();
  if (chosen) {
    if (executable(chosen)) return chosen;
    throw new NoBrowser(`ZOO_CHROMIUM is '${chosen}', which is not an executable file.`);
  }
  for (const name of CANDIDATES) {
    for (const dir of (env.PATH || '').split(path.delimiter)) {
      if (dir && executable(path.join(dir, name))) return path.join(dir, name);
    }
  }
  throw new NoBrowser(`MediaPipe's Web runtime runs in Chromium, and none was found (ZOO_CHROMIUM unset; no ${CANDIDATES.join(', ')} on PATH).`);
}

export const NO_BROWSER_FIX = 'Install Chromium (`apt-get install chromium`, or Chrome) or set ZOO_CHROMIUM to its executable; '
  + '`zoo build ... --no-run-check` builds without running the model.';

export async function launch(browserPath, profileDir) {
  const puppeteer = require('puppeteer-core');
  return puppeteer.launch({
    executablePath: browserPath, headless: true, args: FLAGS, userDataDir: profileDir,
    protocolTimeout: 0, // zoo sets its own deadlines and reads the runtime's errors from the console
    env: { ...process.env, HOME: profileDir },
  });
}

/** What the browser offers MediaPipe: its version and the WebGPU adapter (null without WebGPU). */
export async function describe(browser, page) {
  const adapter = await page.evaluate(async () => {
    if (!navigator.gpu) return null;
    const found = await navigator.gpu.requestAdapter();
    if (!found) return null;
    const info = found.info || {};
    return { vendor: info.vendor || '', architecture: info.architecture || '', description: info.description || '',
      maxBufferSize: found.limits.maxBufferSize };
  });
  return { version: await browser.version(), adapter };
}
