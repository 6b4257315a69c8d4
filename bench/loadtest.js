#!/usr/bin/env node
// HTTP load test of any running onnx-mixer instance: autocannon posts real images to /classify over a sweep of
// connection counts and reports req/s, p50/p90/p99 and errors (JSON, markdown table, SVG chart under bench/results/),
// as ratios to a raw-model and a bare-Fastify-route baseline.
//
//   npm run loadtest -- --url http://localhost:3000 [--connections 1,8,32,64] [--duration 10] [--name compose-2x]
//                       [--images <dir|file,...>] [--baseline <bench:http json> | --no-baselines]
//                       [--model models/mixer-cifar10.onnx] [--model-threads N] [--max-errors N] [--out bench/results]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HELP = readFileSync(fileURLToPath(import.meta.url), 'utf8')
  .split('\n')
  .slice(1)
  .join('\n')
  .split(/\n(?!\/\/)/)[0]
  .replace(/^\/\/ ?/gm, '');

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '1,8,32,64' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    images: { type: 'string' },
    count: { type: 'string', default: '16' },
    path: { type: 'string', default: '/classify?top=1' },
    name: { type: 'string', default: 'loadtest' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results') },
    baseline: { type: 'string' },
    'no-baselines': { type: 'boolean', default: false },
    model: { type: 'string' },
    'model-threads': { type: 'string' },
    'max-errors': { type: 'string' },
    timeout: { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  console.log(HELP);
  process.exit(0);
}
if (!opt.url) {
  console.error('loadtest: --url <base> is required, e.g. --url http://localhost:3000\n');
  console.error(HELP);
  process.exit(2);
}
const posInt = (name, s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`loadtest: --${name} must be a non-negative integer, got "${s}"`);
    process.exit(2);
  }
  return n;
};
const base = opt.url.replace(/\/+$/, '');
const levels = opt.connections.split(',').map((s) => posInt('connections', s.trim()));
const duration = posInt('duration', opt.duration);
const warmup = posInt('warmup', opt.warmup);
const maxErrors = opt['max-errors'] === undefined ? null : posInt('max-errors', opt['max-errors']);
const log = (msg) => console.error(`[loadtest] ${msg}`);

// ---- images ------------------------------------------------------------------------------------------------------

const MIME = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

/** Real image files: --images, else the first CIFAR-10 test images from the data cache as PNG, else synthetic PNG/JPEG photos-alikes. */
async function loadImages() {
  if (opt.images) {
    const files = opt.images
      .split(',')
      .flatMap((p) =>
        statSync(p).isDirectory()
          ? readdirSync(p)
              .sort()
              .map((f) => path.join(p, f))
          : [p],
      )
      .filter((f) => MIME[path.extname(f).toLowerCase()]);
    if (!files.length) throw new Error(`--images ${opt.images}: no image files (${Object.keys(MIME).join(' ')})`);
    return files.map((f) => ({
      filename: path.basename(f),
      type: MIME[path.extname(f).toLowerCase()],
      bytes: readFileSync(f),
    }));
  }
  const count = Math.max(1, posInt('count', opt.count));
  const cache = path.join(process.env.MIXER_DATA_DIR ?? path.join(ROOT, 'data'), 'cifar10');
  if (existsSync(path.join(cache, 'test_images.u8')) && existsSync(path.join(cache, 'meta.json'))) {
    const meta = JSON.parse(readFileSync(path.join(cache, 'meta.json'), 'utf8'));
    const px = meta.height * meta.width * 3;
    const all = readFileSync(path.join(cache, 'test_images.u8'));
    const labels = readFileSync(path.join(cache, 'test_labels.u8'));
    const out = [];
    for (let i = 0; i < count; i++) {
      const raw = all.subarray(i * px, (i + 1) * px);
      const bytes = await sharp(raw, { raw: { width: meta.width, height: meta.height, channels: 3 } })
        .png()
        .toBuffer();
      out.push({ filename: `cifar10-test-${i}-${meta.classes[labels[i]]}.png`, type: 'image/png', bytes });
    }
    return out;
  }
  // Synthetic: smooth colour fields with a few shapes, 32x32 to 256x192, PNG and JPEG, so decoding and resizing do real work.
  const out = [];
  for (let i = 0; i < count; i++) {
    const w = [32, 64, 256][i % 3];
    const h = [32, 48, 192][i % 3];
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        const inDisc = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / (3 + (i % 3))) ** 2;
        raw[o] = inDisc ? 230 - i * 7 : (x * 255) / w;
        raw[o + 1] = inDisc ? 40 + i * 11 : (y * 255) / h;
        raw[o + 2] = (i * 37 + x + y) & 255;
      }
    }
    const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
    const jpeg = i % 2 === 1;
    out.push({
      filename: `synthetic-${i}.${jpeg ? 'jpg' : 'png'}`,
      type: jpeg ? 'image/jpeg' : 'image/png',
      bytes: await (jpeg ? img.jpeg({ quality: 90 }) : img.png()).toBuffer(),
    });
  }
  return out;
}

function multipart(img) {
  const boundary = `----mixerload${Math.random().toString(16).slice(2)}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${img.filename}"\r\nContent-Type: ${img.type}\r\n\r\n`;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([Buffer.from(head), img.bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}

// ---- autocannon ----------------------------------------------------------------------------------------------------

/** One autocannon run; the bodies rotate per connection. */
async function cannon(url, reqPath, bodies, connections, seconds) {
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    timeout: posInt('timeout', opt.timeout),
    requests: bodies.map((b) => ({
      method: 'POST',
      path: reqPath,
      headers: { 'content-type': b.contentType },
      body: b.body,
    })),
  });
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  return {
    connections,
    durationS: r.duration,
    requests: r.requests.total,
    reqPerSec: r.requests.average,
    latencyMs: { mean: r.latency.mean, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    errors: r.errors + r.timeouts + r.non2xx,
    detail: { connectionErrors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, statusCodes: codes },
  };
}

// ---- baselines -----------------------------------------------------------------------------------------------------

/** Runs a node script in a child process (so it never shares an event loop with autocannon); resolves its last JSON line. */
function child(script, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script, '--', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('exit', (code) => {
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .at(-1);
      if (code !== 0 || !line) reject(new Error(`child exited ${code}`));
      else resolve(JSON.parse(line));
    });
  });
}

/** A bare Fastify route in a child process: reads the same multipart bodies, answers a constant. */
const BARE_SERVER = `
import Fastify from 'fastify';
const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.addContentTypeParser('multipart/form-data', (req, payload, done) => { payload.on('data', () => {}); payload.on('end', () => done(null, null)); payload.on('error', done); });
app.post('/classify', async () => ({ model: { name: 'bare', sha256: '0' }, results: [{ filename: 'x', predictions: [{ label: 'x', index: 0, probability: 1 }] }] }));
await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ port: app.server.address().port }));
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
`;

async function bareRoute(bodies, connections, seconds) {
  const p = spawn(process.execPath, ['--input-type=module', '-e', BARE_SERVER], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise((resolve, reject) => {
      let buf = '';
      p.stdout.on('data', (d) => {
        buf += d;
        const m = /"port":(\d+)/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      p.on('exit', (c) => reject(new Error(`bare-route server exited ${c}`)));
    });
    await cannon(`http://127.0.0.1:${port}`, '/classify', bodies, connections, 1);
    return await cannon(`http://127.0.0.1:${port}`, '/classify', bodies, connections, seconds);
  } finally {
    p.kill('SIGTERM');
  }
}

/** Raw model throughput at batch 32 through the project's runtime adapter, in a child process. */
const RAW_MODEL = `
import { existsSync } from 'node:fs';
const [modelPath, threads, seconds] = process.argv.slice(-3);
const { Session } = await import('./dist/runtime/session.js');
const model = await import('./dist/model/index.js');
let bytes, size;
if (existsSync(modelPath)) { const m = await model.loadModelFile(modelPath); bytes = m.bytes; size = m.spec.config.image_size; }
else { const c = model.preset('cifar10-s4'); bytes = model.buildInferenceModel(model.defaultSpec(c), model.initParams(c, 0)); size = c.image_size; }
const s = await Session.create(bytes, { threads: Number(threads), device: 'cpu' });
const N = 32, data = new Uint8Array(N * size * size * 3).map((_, i) => (i * 31) & 255);
const feeds = { pixels: { dtype: 'uint8', dims: [N, size, size, 3], data } };
for (let i = 0; i < 3; i++) await s.run(feeds, ['probabilities']);
const rates = []; const end = Date.now() + Number(seconds) * 1000;
while (Date.now() < end) { const t0 = performance.now(); await s.run(feeds, ['probabilities']); rates.push(N / ((performance.now() - t0) / 1000)); }
rates.sort((a, b) => a - b);
console.log(JSON.stringify({ imagesPerSec: rates[rates.length >> 1], batch: N, threads: Number(threads), runs: rates.length, model: existsSync(modelPath) ? modelPath.split('/').pop() : 'untrained cifar10-s4' }));
`;

async function rawModel(seconds) {
  if (!existsSync(path.join(ROOT, 'dist', 'runtime', 'session.js')))
    throw new Error('dist/ is not built (npm run build)');
  const modelPath = opt.model ?? path.join(ROOT, 'models', 'mixer-cifar10.onnx');
  const threads = opt['model-threads'] ?? String(os.availableParallelism());
  return child(RAW_MODEL, [modelPath, threads, String(seconds)]);
}

/**
 * Baselines from `npm run bench:http -- --json > file` (its last JSON line: { raw: { rate }, bare: { rate }, ... }), or any
 * JSON with a rate under a bare-route-like and a raw-model-like key.
 */
function readBaseline(file) {
  const text = readFileSync(file, 'utf8');
  const line =
    text.trim().startsWith('{') && !text.trim().includes('\n{')
      ? text
      : text
          .split('\n')
          .filter((l) => l.trim().startsWith('{'))
          .at(-1);
  if (!line) throw new Error(`--baseline ${file}: no JSON found`);
  const j = JSON.parse(line);
  const found = { rawModel: null, bareRoute: null, source: file };
  const rate = (o) => {
    if (typeof o === 'number') return o;
    if (!o || typeof o !== 'object') return null;
    for (const k of [
      'rate',
      'imagesPerSec',
      'images_per_s',
      'reqPerSec',
      'req_per_s',
      'rps',
      'throughput',
      'requestsPerSec',
    ])
      if (typeof o[k] === 'number') return o[k];
    return null;
  };
  const walk = (o) => {
    if (!o || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) {
      if (/bare/i.test(k) && found.bareRoute === null && rate(v) !== null) found.bareRoute = { reqPerSec: rate(v) };
      else if (/raw|model/i.test(k) && found.rawModel === null && rate(v) !== null)
        found.rawModel = { imagesPerSec: rate(v) };
      else walk(v);
    }
  };
  walk(j);
  if (!found.rawModel && !found.bareRoute)
    throw new Error(`--baseline ${file}: found neither a raw-model nor a bare-route rate`);
  return found;
}

// ---- report --------------------------------------------------------------------------------------------------------

const f0 = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
const f1 = (n) => (n === null || n === undefined ? '–' : n.toFixed(1));
const f2 = (n) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));

function markdown(report) {
  const { rows, baselines } = report;
  const lines = [
    '<!-- Load-test results written by bench/loadtest.js (npm run loadtest). -->',
    `### ${report.name}: ${report.target.url}`,
    '',
    `${report.startedAt}, ${report.images.count} ${report.images.source} images, ${report.durationS} s per level, ` +
      `model \`${report.target.model?.name ?? '?'}\` on ${report.target.model?.provider ?? '?'}. Load generator: ${report.host}.`,
    '',
    '| connections | req/s | p50 ms | p90 ms | p99 ms | errors | × raw model | × bare route |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.connections} | ${f0(r.reqPerSec)} | ${f1(r.latencyMs.p50)} | ${f1(r.latencyMs.p90)} | ${f1(r.latencyMs.p99)} | ${r.errors} | ${f2(r.ratioRawModel)} | ${f2(r.ratioBareRoute)} |`,
    );
  }
  lines.push('');
  const b = [];
  if (baselines.rawModel)
    b.push(
      `raw model ${f0(baselines.rawModel.imagesPerSec)} images/s` +
        (baselines.rawModel.threads
          ? ` (batch ${baselines.rawModel.batch}, ${baselines.rawModel.threads} ORT thread(s))`
          : ''),
    );
  if (baselines.bareRoute)
    b.push(
      `bare Fastify route ${f0(baselines.bareRoute.reqPerSec)} req/s` +
        (baselines.bareRoute.connections ? ` (${baselines.bareRoute.connections} connections, same bodies)` : ''),
    );
  lines.push(
    b.length
      ? `Baselines${baselines.source ? ` (from ${path.basename(baselines.source)})` : ' (same run)'}: ${b.join('; ')}.`
      : 'No baselines.',
  );
  return `${lines.join('\n')}\n`;
}

function svg(report) {
  const W = 760,
    H = 300,
    pad = { l: 64, r: 16, t: 36, b: 44 },
    gap = 60;
  const pw = (W - pad.l - pad.r - gap) / 2,
    ph = H - pad.t - pad.b;
  const rows = report.rows;
  const xs = rows.map((_, i) => (rows.length === 1 ? pw / 2 : (i * pw) / (rows.length - 1)));
  // The bare route is usually 10-100x the service: scale to the service and the raw model, and label it when off scale.
  const maxRps = Math.max(1, ...rows.map((r) => r.reqPerSec), report.baselines.rawModel?.imagesPerSec ?? 0) * 1.15;
  const maxLat = Math.max(1, ...rows.map((r) => r.latencyMs.p99)) * 1.1;
  const esc = (s) => String(s).replace(/[<&>]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[c]);
  const panel = (x0, title, max, unit, series) => {
    const y = (v) => pad.t + ph - (v / max) * ph;
    let s = `<g><text x="${x0 + pw / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`;
    s += `<line x1="${x0}" y1="${pad.t + ph}" x2="${x0 + pw}" y2="${pad.t + ph}" stroke="#333"/><line x1="${x0}" y1="${pad.t}" x2="${x0}" y2="${pad.t + ph}" stroke="#333"/>`;
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      s += `<line x1="${x0}" y1="${y(v)}" x2="${x0 + pw}" y2="${y(v)}" stroke="#ddd"/><text x="${x0 - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${f0(v)}</text>`;
    }
    rows.forEach(
      (r, i) =>
        (s += `<text x="${x0 + xs[i]}" y="${pad.t + ph + 16}" text-anchor="middle" font-size="11">${r.connections}</text>`),
    );
    s += `<text x="${x0 + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="11">connections</text>`;
    s += `<text x="${x0 - 50}" y="${pad.t + ph / 2}" font-size="11" transform="rotate(-90 ${x0 - 50} ${pad.t + ph / 2})" text-anchor="middle">${unit}</text>`;
    series.forEach((se, k) => {
      if (se.legendOnly) {
        // legend entry only
      } else if (se.flat !== undefined) {
        s += `<line x1="${x0}" y1="${y(se.flat)}" x2="${x0 + pw}" y2="${y(se.flat)}" stroke="${se.color}" stroke-dasharray="5 4"/>`;
      } else {
        const pts = rows.map((r, i) => `${x0 + xs[i]},${y(se.get(r))}`).join(' ');
        s += `<polyline points="${pts}" fill="none" stroke="${se.color}" stroke-width="2"/>`;
        rows.forEach((r, i) => (s += `<circle cx="${x0 + xs[i]}" cy="${y(se.get(r))}" r="3" fill="${se.color}"/>`));
      }
      s += `<rect x="${x0 + 8}" y="${pad.t + 6 + k * 16}" width="10" height="10" fill="${se.color}"/><text x="${x0 + 22}" y="${pad.t + 15 + k * 16}" font-size="11">${esc(se.label)}</text>`;
    });
    return `${s}</g>`;
  };
  const rpsSeries = [{ label: 'service req/s', color: '#1f77b4', get: (r) => r.reqPerSec }];
  const rawB = report.baselines.rawModel,
    bareB = report.baselines.bareRoute;
  if (rawB)
    rpsSeries.push({ label: `raw model ${f0(rawB.imagesPerSec)} images/s`, color: '#2ca02c', flat: rawB.imagesPerSec });
  if (bareB) {
    const off = bareB.reqPerSec > maxRps;
    rpsSeries.push({
      label: `bare route ${f0(bareB.reqPerSec)}/s${off ? ' (off scale)' : ''}`,
      color: '#999',
      flat: off ? undefined : bareB.reqPerSec,
      legendOnly: off,
    });
  }
  const latSeries = [
    { label: 'p50', color: '#2ca02c', get: (r) => r.latencyMs.p50 },
    { label: 'p90', color: '#ff7f0e', get: (r) => r.latencyMs.p90 },
    { label: 'p99', color: '#d62728', get: (r) => r.latencyMs.p99 },
  ];
  return (
    '<!-- Load-test chart written by bench/loadtest.js (npm run loadtest). -->\n' +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">` +
    `<rect width="${W}" height="${H}" fill="white"/>` +
    panel(pad.l, `${report.name}: throughput`, maxRps, 'per second', rpsSeries) +
    panel(pad.l + pw + gap, 'latency', maxLat, 'ms', latSeries) +
    '</svg>\n'
  );
}

// ---- main ----------------------------------------------------------------------------------------------------------

async function main() {
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const images = await loadImages();
  const bodies = images.map(multipart);
  const source = opt.images ? 'given' : images[0].filename.startsWith('cifar10') ? 'CIFAR-10 test' : 'synthetic';
  log(
    `${images.length} ${source} images, ${(bodies.reduce((a, b) => a + b.body.length, 0) / bodies.length / 1024).toFixed(1)} KiB per request on average`,
  );

  // Preflight: the target is up, answers a real classification, and tells us which model it serves.
  const model = await fetch(`${base}/v1/model`).then(
    (r) => (r.ok ? r.json() : null),
    () => null,
  );
  const first = await fetch(`${base}${opt.path}`, {
    method: 'POST',
    headers: { 'content-type': bodies[0].contentType },
    body: bodies[0].body,
  });
  const firstBody = await first.text();
  if (!first.ok) throw new Error(`POST ${base}${opt.path} answered ${first.status}: ${firstBody.slice(0, 300)}`);
  const parsed = JSON.parse(firstBody);
  if (!Array.isArray(parsed.results) || !parsed.results[0]?.predictions?.length)
    throw new Error(`unexpected /classify answer: ${firstBody.slice(0, 300)}`);
  log(
    `target ${base}: model ${model?.name ?? '?'} (${model?.executionProvider ?? model?.provider ?? '?'}), first answer ${parsed.results[0].predictions[0].label}`,
  );

  let baselines = { rawModel: null, bareRoute: null, source: null };
  if (opt.baseline) baselines = readBaseline(opt.baseline);
  else if (!opt['no-baselines']) {
    const secs = Math.max(2, Math.min(duration, 5));
    log(`baseline: raw model, batch 32 (${secs} s)`);
    baselines.rawModel = await rawModel(secs).catch((e) => {
      log(`raw-model baseline skipped: ${e.message}`);
      return null;
    });
    const c = levels.includes(32) ? 32 : Math.max(...levels);
    log(`baseline: bare Fastify route, ${c} connections (${secs} s)`);
    const b = await bareRoute(bodies, c, secs);
    baselines.bareRoute = { reqPerSec: b.reqPerSec, connections: c, latencyMs: b.latencyMs };
  }

  const rows = [];
  for (const c of levels) {
    if (warmup > 0) await cannon(base, opt.path, bodies, c, warmup);
    const r = await cannon(base, opt.path, bodies, c, duration);
    r.ratioRawModel = baselines.rawModel ? r.reqPerSec / baselines.rawModel.imagesPerSec : null;
    r.ratioBareRoute = baselines.bareRoute ? r.reqPerSec / baselines.bareRoute.reqPerSec : null;
    rows.push(r);
    log(
      `${String(c).padStart(3)} connections: ${f0(r.reqPerSec)} req/s, p50 ${f1(r.latencyMs.p50)} ms, p90 ${f1(r.latencyMs.p90)} ms, p99 ${f1(r.latencyMs.p99)} ms, errors ${r.errors}` +
        (r.errors ? ` ${JSON.stringify(r.detail)}` : ''),
    );
  }

  const report = {
    name: opt.name,
    startedAt,
    host: `${os.availableParallelism()} CPUs, ${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}, Node ${process.versions.node}`,
    target: { url: base, path: opt.path, model },
    images: { count: images.length, source, files: images.map((i) => i.filename) },
    durationS: duration,
    baselines,
    rows,
  };
  mkdirSync(opt.out, { recursive: true });
  const stem = path.join(opt.out, opt.name);
  writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${stem}.md`, markdown(report));
  writeFileSync(`${stem}.svg`, svg(report));
  console.log(markdown(report));
  log(`wrote ${path.relative(process.cwd(), stem)}.{json,md,svg}`);

  const errors = rows.reduce((a, r) => a + r.errors, 0);
  if (maxErrors !== null && errors > maxErrors) {
    log(`FAIL: ${errors} errors > --max-errors ${maxErrors}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`loadtest: ${e.message}`);
    process.exit(1);
  },
);
