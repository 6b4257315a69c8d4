// HTTP benchmark (`npm run bench:http`): autocannon posting single 32×32 PNGs to /classify, against raw-model and bare-route baselines.
//
// Baselines measured in the same run:
//   raw model   one ORT session in this process, batch 32, the service's thread count (images/s)
//   bare route  a Fastify POST route that reads the same multipart body and returns a constant
// Also: startup-to-ready time of `mixer serve`, the event-loop stall of one batch-32 run on the main thread,
// and with --soak S, the service's RSS sampled over S seconds of load.
// Needs `npm run build` first (runs from dist/).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Request } from 'autocannon';
import { CLI, med, pickModel, ROOT } from './common.js';
import {
  bareServer,
  cpuOf,
  type LoadResult,
  load,
  meanBatch,
  RawModel,
  type SoakResult,
  samplePng,
  soakRss,
  withServer,
} from './http-harness.js';

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

type RunKind = 'raw' | 'bare' | 'service';
/** One measurement of one round; the raw model has no latency figures, errors or request count. */
type Run = { rate: number; cpuMs: number } & Partial<LoadResult>;

interface Measured {
  runs: Record<RunKind, Run[]>;
  startupMs: number;
  batches: number;
  soak: SoakResult | null;
}

function log(m: string): void {
  process.stderr.write(`${m}\n`);
}

const mb = (b: number): string => (b / 2 ** 20).toFixed(0);

async function main(): Promise<void> {
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
    const request: Request = {
      method: 'POST',
      path: '/classify',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    };
    const serveArgs = [
      CLI,
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
    const res = await withServer([fileURLToPath(import.meta.url), '--bare-server'], 'bare', (bareUrl, barePid) =>
      withServer(serveArgs, 'service', async (url, pid, startupMs): Promise<Measured> => {
        await load(url, request, connections, 2); // warm the JIT and the allocator
        const runs: Record<RunKind, Run[]> = { raw: [], bare: [], service: [] };
        for (let r = 0; r < rounds; r++) {
          const rawRun = await raw.measure(duration);
          const bareRun = await cpuOf(barePid, () => load(bareUrl, request, connections, duration));
          const serviceRun = await cpuOf(pid, () => load(url, request, connections, duration));
          runs.raw.push(rawRun);
          runs.bare.push(bareRun);
          runs.service.push(serviceRun);
          log(
            `round ${r + 1}: raw ${rawRun.rate.toFixed(0)} img/s, bare ${bareRun.rate.toFixed(0)} req/s, service ${serviceRun.rate.toFixed(0)} req/s (p99 ${serviceRun.p99} ms)`,
          );
        }
        const batches = await meanBatch(url);
        const soak = Number(o.soak) > 0 ? await soakRss(url, request, connections, Number(o.soak), pid) : null;
        return { runs, startupMs, batches, soak };
      }),
    );
    const stallMs = raw.stallMs;
    await raw.close();

    const pick = (k: RunKind, f: (x: Run) => number): number => med(res.runs[k].map(f));
    const ratio = (k: RunKind, base: RunKind): number =>
      med(res.runs[k].map((x, i) => x.rate / (res.runs[base][i]?.rate ?? NaN)));
    const kinds: [string, RunKind][] = [
      ['raw model, batch 32 (images/s)', 'raw'],
      ['bare Fastify route', 'bare'],
      ['service POST /classify', 'service'],
    ];
    const rows = kinds.map(([name, k]) => ({
      name,
      rate: pick(k, (x) => x.rate),
      p50: k === 'raw' ? null : pick(k, (x) => x.p50 ?? NaN),
      p99: k === 'raw' ? null : pick(k, (x) => x.p99 ?? NaN),
      errors: k === 'raw' ? '-' : res.runs[k].reduce((acc, x) => acc + (x.errors ?? 0), 0),
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
    if (!svc) throw new Error('no service row');
    console.log(
      `startup to ready: ${res.startupMs.toFixed(0)} ms; mean batch size under load: ${res.batches.toFixed(1)}; a batch-32 run on the main thread stalls the event loop up to ${stallMs.toFixed(0)} ms (the service runs it in a worker)`,
    );
    if (res.soak) {
      const s = res.soak;
      console.log(
        `RSS over ${o.soak} s of load: first ${mb(s.first)} MB, min ${mb(s.min)}, max ${mb(s.max)}, last ${mb(s.last)}; last vs first ${((100 * (s.last - s.first)) / s.first).toFixed(1)}%, range ${((100 * (s.max - s.min)) / s.first).toFixed(1)}%; ${s.requests} requests, ${s.errors} errors`,
      );
    }
    const ok = (c: boolean): string => (c ? 'met' : 'MISSED');
    console.log(
      `targets: >= 0.7 of raw model ${ok(svc.vsRaw >= 0.7)}; p99 <= 100 ms ${ok((svc.p99 ?? NaN) <= 100)}; zero errors ${ok(svc.errors === 0)}; startup <= 3 s ${ok(res.startupMs <= 3000)}`,
    );
    if (o.json) console.log(JSON.stringify({ rows, ...res }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (o['bare-server']) await bareServer(Number(o.port));
else await main();
