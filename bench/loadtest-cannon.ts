// The load test's measurements: one autocannon run, and its baselines (raw model, bare route, or a saved bench:http run).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { Body } from './loadtest-images.js';

export interface LatencyMs {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface CannonResult {
  connections: number;
  durationS: number;
  requests: number;
  reqPerSec: number;
  latencyMs: LatencyMs;
  errors: number;
  detail: { connectionErrors: number; timeouts: number; non2xx: number; statusCodes: Record<string, number> };
}

export interface RawModelBaseline {
  imagesPerSec: number;
  batch?: number;
  threads?: number;
  workers?: number;
  runs?: number;
  model?: string;
}

export interface Baselines {
  rawModel: RawModelBaseline | null;
  bareRoute: { reqPerSec: number; connections?: number; latencyMs?: LatencyMs } | null;
  source: string | null;
}

/** One autocannon run; the bodies rotate per connection. `timeout` is in seconds. */
export async function cannon(
  url: string,
  reqPath: string,
  bodies: Body[],
  connections: number,
  seconds: number,
  timeout: number,
): Promise<CannonResult> {
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    timeout,
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

/** Runs a compiled script beside this one in a child process (so it never shares an event loop with autocannon). */
function spawnSibling(script: string, args: string[], root: string) {
  return spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** A bare Fastify route in a child process: reads the same multipart bodies, answers a constant. */
export async function bareRoute(
  bodies: Body[],
  connections: number,
  seconds: number,
  timeout: number,
  root: string,
): Promise<CannonResult> {
  const p = spawnSibling('./loadtest-bare-route.js', [], root);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      p.stdout.on('data', (d: Buffer) => {
        buf += d;
        const m = /"port":(\d+)/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      p.on('exit', (c) => reject(new Error(`bare-route server exited ${c}`)));
    });
    await cannon(`http://127.0.0.1:${port}`, '/classify', bodies, connections, 1, timeout);
    return await cannon(`http://127.0.0.1:${port}`, '/classify', bodies, connections, seconds, timeout);
  } finally {
    p.kill('SIGTERM');
  }
}

/** Raw model throughput at batch 32 through the project's runtime adapter, in a child process. */
export function rawModel(
  seconds: number,
  model: string | undefined,
  layout: { workers: number; threads: number },
  root: string,
): Promise<RawModelBaseline> {
  const modelPath = model ?? path.join(root, 'models', 'mixer-cifar10.onnx');
  const args = [modelPath, String(layout.threads), String(seconds), String(layout.workers)];
  return new Promise((resolve, reject) => {
    const p = spawnSibling('./loadtest-raw-model.js', args, root);
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .at(-1);
      if (code !== 0 || !line) reject(new Error(`child exited ${code}`));
      else resolve(JSON.parse(line) as RawModelBaseline);
    });
  });
}

/** A rate under one of the usual keys, or the number itself. */
function rateOf(o: unknown): number | null {
  if (typeof o === 'number') return o;
  if (!o || typeof o !== 'object') return null;
  const rec = o as Record<string, unknown>;
  for (const k of [
    'rate',
    'imagesPerSec',
    'images_per_s',
    'reqPerSec',
    'req_per_s',
    'rps',
    'throughput',
    'requestsPerSec',
  ]) {
    const v = rec[k];
    if (typeof v === 'number') return v;
  }
  return null;
}

/**
 * Baselines from `npm run bench:http -- --json > file` (its last JSON line: { raw: { rate }, bare: { rate }, ... }), or any
 * JSON with a rate under a bare-route-like and a raw-model-like key.
 */
export function readBaseline(file: string): Baselines {
  const text = readFileSync(file, 'utf8');
  const line =
    text.trim().startsWith('{') && !text.trim().includes('\n{')
      ? text
      : text
          .split('\n')
          .filter((l) => l.trim().startsWith('{'))
          .at(-1);
  if (!line) throw new Error(`--baseline ${file}: no JSON found`);
  const j: unknown = JSON.parse(line);
  const found: Baselines = { rawModel: null, bareRoute: null, source: file };
  const walk = (o: unknown): void => {
    if (!o || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) {
      const rate = rateOf(v);
      if (/bare/i.test(k) && found.bareRoute === null && rate !== null) found.bareRoute = { reqPerSec: rate };
      else if (/raw|model/i.test(k) && found.rawModel === null && rate !== null)
        found.rawModel = { imagesPerSec: rate };
      else walk(v);
    }
  };
  walk(j);
  if (!found.rawModel && !found.bareRoute)
    throw new Error(`--baseline ${file}: found neither a raw-model nor a bare-route rate`);
  return found;
}
