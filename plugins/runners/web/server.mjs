// A static server for one artifact and MediaPipe's Web runtime, on 127.0.0.1 only.
//
// Every URL lives under a random path token, and only the names in `routes` exist below it: the
// page, the runtime's bundle and wasm files, the page's config and the one artifact. There is no
// directory listing and no path is ever mapped onto the file system, so "../" or an encoded
// variant of it is simply a name that does not exist (404). Only GET and HEAD are answered.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm',
};

/** How many requests the server answered, and the last few (bounded: `zoo web` may serve for days). */
export const RECENT_REQUESTS = 64;

/** routes: Map of name -> {file} or {body, type}. Returns {url, token, server, requests, close()}. */
export async function serve(routes, { port = 0 } = {}) {
  const token = crypto.randomBytes(16).toString('hex');
  const prefix = `/${token}/`;
  const requests = { count: 0, recent: [] };
  const server = http.createServer((req, res) => {
    const pathname = (req.url || '').split('?')[0].slice(0, 512);
    requests.count += 1;
    requests.recent.push({ method: req.method, path: pathname });
    if (requests.recent.length > RECENT_REQUESTS) requests.recent.shift();
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain' });
      return res.end('method not allowed\n');
    }
    const route = pathname.startsWith(prefix) ? routes.get(pathname.slice(prefix.length) || 'index.html') : undefined;
    if (!route) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      return res.end('not found\n');
    }
    const name = route.file || route.name || pathname;
    const type = route.type || TYPES[path.extname(name)] || 'application/octet-stream';
    if (route.body !== undefined) {
      const body = Buffer.from(route.body);
      res.writeHead(200, { ...headers, 'content-type': type, 'content-length': body.length });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    fs.stat(route.file, (error, stat) => {
      if (error || !stat.isFile()) {
        res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
        return res.end('not found\n');
      }
      res.writeHead(200, { ...headers, 'content-type': type, 'content-length': stat.size });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(route.file).on('error', () => res.destroy()).pipe(res);
    });
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}${prefix}`;
  return { url, token, server, requests, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** The routes for one artifact: the page, the runtime (from the toolchain's @mediapipe/tasks-genai) and the model. */
export function artifactRoutes({ genaiDir, pageDir, artifact, config }) {
  const routes = new Map();
  for (const name of ['index.html', 'app.js', 'style.css']) routes.set(name, { file: path.join(pageDir, name) });
  routes.set('genai_bundle.mjs', { file: path.join(genaiDir, 'genai_bundle.mjs') });
  for (const name of fs.readdirSync(path.join(genaiDir, 'wasm'))) {
    if (/^[\w.-]+\.(js|wasm)$/.test(name)) routes.set(`wasm/${name}`, { file: path.join(genaiDir, 'wasm', name) });
  }
  const modelName = `model/${encodeURIComponent(path.basename(artifact))}`;
  routes.set(modelName, { file: artifact, type: 'application/octet-stream' });
  routes.set('config.json', { body: JSON.stringify({ ...config, model: modelName }), type: 'application/json' });
  return routes;
}
