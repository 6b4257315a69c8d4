#!/usr/bin/env node
// HTTP load test of any running onnx-mixer instance (`npm run loadtest`): a sweep of connection counts, written as JSON, markdown and SVG.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hardware, hardwareHeader, hardwareLine } from '#mixer/bench/hardware.js';
import { resolveConfig } from '#mixer/server/config.js';
import { ROOT } from './common.js';
import { type Baselines, bareRoute, cannon, rawModel, readBaseline } from './loadtest-cannon.js';
import { loadImages, multipart } from './loadtest-images.js';
import { f0, f1, markdown, type Report, type Row, svg, type TargetModel } from './loadtest-report.js';

const HELP = `HTTP load test of any running onnx-mixer instance: autocannon posts real images to /classify over a sweep of
connection counts and reports req/s, p50/p90/p99 and errors (JSON, markdown table, SVG chart under bench/results/),
as ratios to a raw-model and a bare-Fastify-route baseline.

  npm run loadtest -- --url http://localhost:3000 [--connections 1,8,32,64] [--duration 10] [--name compose-2x]
                      [--images <dir|file,...>] [--baseline <bench:http json> | --no-baselines]
                      [--model models/mixer-cifar10.onnx] [--model-workers N] [--model-threads N] [--max-errors N]
                      [--out bench/results]
  The raw-model baseline runs mixer serve's default layout unless --model-workers/--model-threads say otherwise.`;

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
    'model-workers': { type: 'string' },
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
const posInt = (name: string, s: string): number => {
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
const log = (msg: string): void => console.error(`[loadtest] ${msg}`);

interface ClassifyAnswer {
  results?: { predictions?: { label: string }[] }[];
}

async function main(): Promise<number> {
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  // The raw-model baseline runs here in this layout; the target runs whatever layout it was started with.
  const layout = resolveConfig({
    ...(opt['model-workers'] ? { workers: posInt('model-workers', opt['model-workers']) } : {}),
    ...(opt['model-threads'] ? { threads: posInt('model-threads', opt['model-threads']) } : {}),
  });
  const hw = hardware(
    opt.baseline || opt['no-baselines']
      ? "the target's own (no raw-model baseline measured here)"
      : `raw-model baseline ${layout.workers} worker(s) × ${layout.threads} ORT thread(s); the target: its own`,
  );
  console.log(`${hardwareHeader(hw)}\n`);
  const images = opt.images
    ? await loadImages(opt.images, 0, ROOT)
    : await loadImages(undefined, Math.max(1, posInt('count', opt.count)), ROOT);
  const bodies = images.map(multipart);
  const firstBodyOut = bodies[0];
  if (!firstBodyOut) throw new Error('no images');
  const source = opt.images ? 'given' : images[0]?.filename.startsWith('cifar10') ? 'CIFAR-10 test' : 'synthetic';
  log(
    `${images.length} ${source} images, ${(bodies.reduce((a, b) => a + b.body.length, 0) / bodies.length / 1024).toFixed(1)} KiB per request on average`,
  );

  // Preflight: the target is up, answers a real classification, and tells us which model it serves.
  const model = await fetch(`${base}/v1/model`).then(
    (r) => (r.ok ? (r.json() as Promise<TargetModel>) : null),
    () => null,
  );
  const first = await fetch(`${base}${opt.path}`, {
    method: 'POST',
    headers: { 'content-type': firstBodyOut.contentType },
    body: firstBodyOut.body,
  });
  const firstBody = await first.text();
  if (!first.ok) throw new Error(`POST ${base}${opt.path} answered ${first.status}: ${firstBody.slice(0, 300)}`);
  const parsed = JSON.parse(firstBody) as ClassifyAnswer;
  const firstLabel = Array.isArray(parsed.results) ? parsed.results[0]?.predictions?.[0]?.label : undefined;
  if (firstLabel === undefined) throw new Error(`unexpected /classify answer: ${firstBody.slice(0, 300)}`);
  log(
    `target ${base}: model ${model?.name ?? '?'} (${model?.executionProvider ?? model?.provider ?? '?'}), first answer ${firstLabel}`,
  );

  const timeout = posInt('timeout', opt.timeout);
  let baselines: Baselines = { rawModel: null, bareRoute: null, source: null };
  if (opt.baseline) baselines = readBaseline(opt.baseline);
  else if (!opt['no-baselines']) {
    const secs = Math.max(2, Math.min(duration, 5));
    log(`baseline: raw model, batch 32 (${secs} s)`);
    baselines.rawModel = await rawModel(secs, opt.model, layout, ROOT).catch((e: Error) => {
      log(`raw-model baseline skipped: ${e.message}`);
      return null;
    });
    const c = levels.includes(32) ? 32 : Math.max(...levels);
    log(`baseline: bare Fastify route, ${c} connections (${secs} s)`);
    const b = await bareRoute(bodies, c, secs, timeout, ROOT);
    baselines.bareRoute = { reqPerSec: b.reqPerSec, connections: c, latencyMs: b.latencyMs };
  }

  const rows: Row[] = [];
  for (const c of levels) {
    if (warmup > 0) await cannon(base, opt.path, bodies, c, warmup, timeout);
    const r = await cannon(base, opt.path, bodies, c, duration, timeout);
    rows.push({
      ...r,
      ratioRawModel: baselines.rawModel ? r.reqPerSec / baselines.rawModel.imagesPerSec : null,
      ratioBareRoute: baselines.bareRoute ? r.reqPerSec / baselines.bareRoute.reqPerSec : null,
    });
    log(
      `${String(c).padStart(3)} connections: ${f0(r.reqPerSec)} req/s, p50 ${f1(r.latencyMs.p50)} ms, p90 ${f1(r.latencyMs.p90)} ms, p99 ${f1(r.latencyMs.p99)} ms, errors ${r.errors}` +
        (r.errors ? ` ${JSON.stringify(r.detail)}` : ''),
    );
  }

  const report: Report = {
    name: opt.name,
    startedAt,
    host: hardwareLine(hw),
    hardware: hw,
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
  (e: Error) => {
    console.error(`loadtest: ${e.message}`);
    process.exit(1);
  },
);
