// Parts of the HTTP benchmark: server processes, autocannon loads, /metrics and RSS (the raw model is in raw-model.ts).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon, { type Request } from 'autocannon';
import sharp from 'sharp';
import { cpuSeconds, freePort, nodeCommand, ROOT } from './common.js';

export interface LoadResult {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

export interface SoakResult {
  first: number;
  last: number;
  min: number;
  max: number;
  samples: number[];
  requests: number;
  errors: number;
}

/** The bare-route baseline: same body parsing cost, constant answer. */
export async function bareServer(port: number): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const answer = {
    model: { name: 'bare', sha256: '0' },
    results: [{ filename: 'x.png', predictions: [{ label: 'cat', index: 3, probability: 1 }] }],
  };
  app.post('/classify', async () => answer);
  app.get('/readyz', async () => ({ status: 'ready' }));
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
}

/** A CIFAR-10 test image as PNG when the data cache exists, else a noise PNG of the same size. */
export async function samplePng(): Promise<{ png: Buffer; source: string }> {
  try {
    const { loadCifar10, imageAt } = await import('#mixer/data/index.js');
    const { test } = await loadCifar10({ fetch: false });
    const png = await sharp(Buffer.from(imageAt(test, 0)), { raw: { width: 32, height: 32, channels: 3 } })
      .png()
      .toBuffer();
    return { png, source: 'CIFAR-10 test #0' };
  } catch {
    const px = Buffer.alloc(32 * 32 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
    return {
      png: await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
        .png()
        .toBuffer(),
      source: 'noise',
    };
  }
}

/** Runs a load and adds the server's CPU milliseconds per request. */
export async function cpuOf(
  pid: number,
  run: () => Promise<LoadResult>,
): Promise<LoadResult & { cpuMs: number; loadCpuMs: number }> {
  const c0 = cpuSeconds(pid);
  const l0 = process.cpuUsage();
  const r = await run();
  const l = process.cpuUsage(l0);
  const n = Math.max(1, r.requests);
  return { ...r, cpuMs: ((cpuSeconds(pid) - c0) * 1000) / n, loadCpuMs: (l.user + l.system) / 1000 / n };
}

/**
 * Starts a server process on a free port (with `env` over this one's; on the CPUs `cpus` lists, through taskset, when
 * given), waits for its /readyz, runs `fn`, stops it with SIGTERM.
 */
export async function withServer<T>(
  args: string[],
  name: string,
  fn: (url: string, pid: number, startupMs: number) => Promise<T>,
  env?: NodeJS.ProcessEnv,
  cpus?: string,
): Promise<T> {
  const port = await freePort();
  const t0 = performance.now();
  const [cmd, cmdArgs] = nodeCommand([...args, '--port', String(port)], cpus);
  const child = spawn(cmd, cmdArgs, {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: ROOT,
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      exited = true;
      r(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  while (
    (await fetch(`${url}/readyz`).then(
      (r) => r.status,
      () => 0,
    )) !== 200
  ) {
    if (exited) throw new Error(`${name} exited before it was ready:\n${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const startupMs = performance.now() - t0;
  try {
    return await fn(url, child.pid ?? 0, startupMs);
  } finally {
    child.kill('SIGTERM');
    await exit;
  }
}

export async function load(url: string, request: Request, connections: number, seconds: number): Promise<LoadResult> {
  const r = await autocannon({ url, connections, duration: seconds, requests: [request] });
  return {
    rate: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    requests: r.requests.total,
  };
}

/** Mean images per model run so far, from /metrics. */
export async function meanBatch(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const sum = Number(/^mixer_batch_size_sum(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  const count = Number(/^mixer_batch_size_count(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  return sum / count;
}

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Samples the service's RSS every 2 s while loading it for `seconds`. */
export async function soakRss(
  url: string,
  request: Request,
  connections: number,
  seconds: number,
  pid: number,
): Promise<SoakResult> {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rssOf(pid)), 2000);
  const r = await load(url, request, connections, seconds);
  clearInterval(timer);
  samples.push(rssOf(pid));
  return {
    first: samples[0] ?? NaN,
    last: samples.at(-1) ?? NaN,
    min: Math.min(...samples),
    max: Math.max(...samples),
    samples,
    requests: r.requests,
    errors: r.errors,
  };
}
