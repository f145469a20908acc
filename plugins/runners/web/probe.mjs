// `zoo toolchain doctor`'s check of the web toolchain: start the browser, report its WebGPU adapter.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, findBrowser, launch } from './browser.mjs';
import { serve } from './server.mjs';

export async function probe() {
  const executable = findBrowser();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'zoo-web-probe-'));
  const site = await serve(new Map([['index.html', { body: '<!doctype html><title>zoo</title>', type: 'text/html' }]]));
  const browser = await launch(executable, profile);
  try {
    const page = await browser.newPage();
    await page.goto(site.url); // WebGPU exists only in a secure context, which 127.0.0.1 is and about:blank is not
    const { version, adapter } = await describe(browser, page);
    if (!adapter) throw new Error(`${version} at ${executable} offers no WebGPU adapter, which MediaPipe's Web runtime needs`);
    return `${version} at ${executable}; WebGPU adapter: ${adapter.vendor || '?'} ${adapter.architecture} ${adapter.description}`.trim()
      + ` (max buffer ${Math.round(adapter.maxBufferSize / 2 ** 20)} MiB)`;
  } finally {
    await browser.close();
    await site.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
