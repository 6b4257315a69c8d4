// HTTP benchmark (`npm run bench:http`): autocannon posting single 32×32 PNGs to /classify, against raw-model and bare-route baselines.
//
// Baselines measured in the same run:
//   raw model   one ORT session in this process, batch 32, the service's thread count (images/s)
//   bare route  a Fastify POST route that reads the same multipart body and returns a constant
// Also: startup-to-ready time of `mixer serve`, the event-loop stall of one batch-32 run on the main thread,
// and with --soak S, the service's RSS sampled over S seconds of load.
// Needs `npm run build` first (imports ../dist).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { dist, freePort, pickModel, ROOT } from './common.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    'max-batch': { type: 'string', default: '32' },
    'log-level': { type: 'string', default: 'info' },
    soak: { type: 'string', default: '0' },
    'bare-server': { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
  },
});

/** The bare-route baseline: same body parsing cost, constant answer. */
async function bareServer(port) {
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

async function main() {
  const duration = Number(o.duration);
  const rounds = Number(o.rounds);
  const connections = Number(o.connections);
  const threads = Number(o.threads);
  const maxBatch = Number(o['max-batch']);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-'));
  try {
    const { modelPath, note } = await pickModel(tmp, o.model ?? process.env.MODEL_PATH);
    const { png, source } = await samplePng();
    log(`model ${path.relative(ROOT, modelPath) || modelPath} (${note}); image ${source}, ${png.length} bytes`);
    log(
      `${connections} connections; ${rounds} interleaved rounds of ${duration} s per run; ORT threads ${threads}; max batch ${maxBatch}; log level ${o['log-level']}`,
    );

    const boundary = '----mixerbench';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      png,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const request = {
      method: 'POST',
      path: '/classify',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    };
    const serveArgs = [
      path.join(ROOT, 'dist/cli/main.js'),
      'serve',
      '--model',
      modelPath,
      '--host',
      '127.0.0.1',
      '--threads',
      String(threads),
      '--max-batch',
      String(maxBatch),
      '--log-level',
      o['log-level'],
    ];

    const raw = await RawModel.open(modelPath, threads, maxBatch);
    const res = await withServer([fileURLToPath(import.meta.url), '--bare-server'], 'bare', (bareUrl, bareChild) =>
      withServer(serveArgs, 'service', async (url, child, startupMs) => {
        await load(url, request, connections, 2); // warm the JIT and the allocator
        const runs = { raw: [], bare: [], service: [] };
        for (let r = 0; r < rounds; r++) {
          runs.raw.push(await raw.measure(duration));
          runs.bare.push(await cpuOf(bareChild.pid, () => load(bareUrl, request, connections, duration)));
          runs.service.push(await cpuOf(child.pid, () => load(url, request, connections, duration)));
          const last = (k) => runs[k].at(-1);
          log(
            `round ${r + 1}: raw ${last('raw').rate.toFixed(0)} img/s, bare ${last('bare').rate.toFixed(0)} req/s, service ${last('service').rate.toFixed(0)} req/s (p99 ${last('service').p99} ms)`,
          );
        }
        const batches = await meanBatch(url);
        const soak = Number(o.soak) > 0 ? await soakRss(url, request, connections, Number(o.soak), child.pid) : null;
        return { runs, startupMs, batches, soak };
      }),
    );
    const stallMs = raw.stallMs;
    await raw.close();

    const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
    const pick = (k, f) => med(res.runs[k].map(f));
    const ratio = (k, base) => med(res.runs[k].map((x, i) => x.rate / res.runs[base][i].rate));
    const rows = [
      ['raw model, batch 32 (images/s)', 'raw'],
      ['bare Fastify route', 'bare'],
      ['service POST /classify', 'service'],
    ].map(([name, k]) => ({
      name,
      rate: pick(k, (x) => x.rate),
      p50: k === 'raw' ? null : pick(k, (x) => x.p50),
      p99: k === 'raw' ? null : pick(k, (x) => x.p99),
      errors: k === 'raw' ? '-' : res.runs[k].reduce((acc, x) => acc + x.errors, 0),
      cpuMs: pick(k, (x) => x.cpuMs),
      vsRaw: ratio(k, 'raw'),
      vsBare: ratio(k, 'bare'),
    }));
    const table = [
      '| run | req/s | p50 ms | p99 ms | errors | CPU ms / req | vs raw model | vs bare route |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.rate.toFixed(0)} | ${r.p50 ?? '-'} | ${r.p99 ?? '-'} | ${r.errors} | ${r.cpuMs.toFixed(2)} | ${r.vsRaw.toFixed(2)} | ${r.vsBare.toFixed(3)} |`,
      ),
    ].join('\n');
    console.log(`\n${table}\n(medians over ${rounds} interleaved rounds; ratios are medians of per-round ratios)\n`);
    const svc = rows[2];
    console.log(
      `startup to ready: ${res.startupMs.toFixed(0)} ms; mean batch size under load: ${res.batches.toFixed(1)}; a batch-32 run on the main thread stalls the event loop up to ${stallMs.toFixed(0)} ms (the service runs it in a worker)`,
    );
    if (res.soak) {
      const s = res.soak;
      console.log(
        `RSS over ${o.soak} s of load: first ${mb(s.first)} MB, min ${mb(s.min)}, max ${mb(s.max)}, last ${mb(s.last)}; last vs first ${((100 * (s.last - s.first)) / s.first).toFixed(1)}%, range ${((100 * (s.max - s.min)) / s.first).toFixed(1)}%; ${s.requests} requests, ${s.errors} errors`,
      );
    }
    const ok = (c) => (c ? 'met' : 'MISSED');
    console.log(
      `targets: >= 0.7 of raw model ${ok(svc.vsRaw >= 0.7)}; p99 <= 100 ms ${ok(svc.p99 <= 100)}; zero errors ${ok(svc.errors === 0)}; startup <= 3 s ${ok(res.startupMs <= 3000)}`,
    );
    if (o.json) console.log(JSON.stringify({ rows, ...res }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function log(m) {
  process.stderr.write(`${m}\n`);
}

const mb = (b) => (b / 2 ** 20).toFixed(0);

/** A CIFAR-10 test image as PNG when the data cache exists, else a noise PNG of the same size. */
async function samplePng() {
  try {
    const { loadCifar10, imageAt } = await import(dist('data/index.js'));
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

/** One ORT session in this process: back-to-back batch runs, their rate, CPU cost and the event-loop stall they cause. */
class RawModel {
  static async open(modelPath, threads, batch) {
    const { Session } = await import(dist('runtime/session.js'));
    const m = new RawModel(await Session.create(modelPath, { threads }), batch);
    for (let i = 0; i < 3; i++) await m.session.run(m.feeds, ['probabilities']);
    return m;
  }

  constructor(session, batch) {
    this.session = session;
    this.batch = batch;
    const pixels = new Uint8Array(batch * 32 * 32 * 3).map((_, i) => (i * 31) & 255);
    this.feeds = { pixels: { dtype: 'uint8', dims: [batch, 32, 32, 3], data: pixels } };
    this.stallMs = 0;
  }

  async measure(seconds) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const cpu0 = process.cpuUsage();
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await this.session.run(this.feeds, ['probabilities']);
      n += this.batch;
      await new Promise((r) => setImmediate(r));
    }
    const rate = n / ((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpu0);
    h.disable();
    this.stallMs = Math.max(this.stallMs, h.max / 1e6);
    return { rate, cpuMs: (cpu.user + cpu.system) / 1000 / n };
  }

  close() {
    return this.session.release();
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Runs a load and adds the server's CPU milliseconds per request. */
async function cpuOf(pid, run) {
  const c0 = cpuSeconds(pid);
  const r = await run();
  return { ...r, cpuMs: ((cpuSeconds(pid) - c0) * 1000) / Math.max(1, r.requests) };
}

/** Starts a server process on a free port, waits for its /readyz, runs `fn`, stops it with SIGTERM. */
async function withServer(args, name, fn) {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [...args, '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: ROOT,
  });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d.toString()).slice(-4000)));
  let exited = false;
  const exit = new Promise((r) =>
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
    return await fn(url, child, startupMs);
  } finally {
    child.kill('SIGTERM');
    await exit;
  }
}

async function load(url, request, connections, seconds) {
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
async function meanBatch(url) {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const sum = Number(/^mixer_batch_size_sum(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  const count = Number(/^mixer_batch_size_count(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  return sum / count;
}

function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Samples the service's RSS every 2 s while loading it for `seconds`. */
async function soakRss(url, request, connections, seconds, pid) {
  const samples = [];
  const timer = setInterval(() => samples.push(rssOf(pid)), 2000);
  const r = await load(url, request, connections, seconds);
  clearInterval(timer);
  samples.push(rssOf(pid));
  return {
    first: samples[0],
    last: samples.at(-1),
    min: Math.min(...samples),
    max: Math.max(...samples),
    samples,
    requests: r.requests,
    errors: r.errors,
  };
}

if (o['bare-server']) await bareServer(Number(o.port));
else await main();
