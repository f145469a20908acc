// Uses `zoo web`'s page in headless Chromium as a person would, for tests/test_web.py:
//   node web_page_driver.mjs URL SCREENSHOT [--no-webgpu]
// Loads the model, writes into the prompt box, presses Generate, stops after the first streamed
// text, keeps a screenshot and prints what the page showed as one JSON line. With --no-webgpu the
// browser starts without WebGPU and the page must say so.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { FLAGS, findBrowser } = await import(path.join(here, '..', 'plugins', 'runners', 'web', 'browser.mjs'));
const puppeteer = createRequire(import.meta.url)('puppeteer-core');

const [url, screenshot, mode] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'zoo-web-test-'));
const args = mode === '--no-webgpu' ? ['--headless=new', '--no-sandbox'] : FLAGS;
const browser = await puppeteer.launch({ executablePath: findBrowser(), args, userDataDir: profile, protocolTimeout: 0 });
const seen = {};
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 720 });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
  const text = (id) => page.$eval(`#${id}`, (element) => element.textContent);
  seen.title = await text('title');
  seen.no_webgpu_shown = await page.$eval('#no-webgpu', (element) => !element.hidden);
  seen.controls = await page.evaluate(() => Object.fromEntries(['max-tokens', 'top-k', 'temperature', 'seed']
    .map((id) => [id, document.getElementById(id).value])));
  if (mode !== '--no-webgpu') {
    await page.$eval('#top-k', (element) => { element.value = '1'; }); // greedy, as the checks run it
    await page.click('#load');
    await page.waitForFunction(() => /^(Loaded|Could not)/.test(document.getElementById('status').textContent), { timeout: 300000 });
    seen.loaded = await text('status');
    await page.$eval('#prompt', (element) => { element.value = ''; });
    await page.type('#prompt', 'Hello from the test');
    await page.click('#generate');
    await page.waitForFunction(() => document.getElementById('output').textContent.length > 0
      || /failed/.test(document.getElementById('status').textContent), { timeout: 300000 });
    seen.streamed = await text('output');
    await page.click('#stop');
    await page.waitForFunction(() => /^(Done|Generation failed)/.test(document.getElementById('status').textContent), { timeout: 300000 });
    seen.status = await text('status');
    seen.output = await text('output');
    seen.stats = await text('stats');
  }
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(seen)}\n`);
