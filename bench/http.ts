// HTTP benchmark (`npm run bench:http`): autocannon posting single 32×32 PNGs to /classify, against raw-model and bare-route baselines.
//
// Baselines measured in the same run:
//   raw model   batch 32 back to back in the service's layout: the same workers, each its own session and threads
//               (with several workers, also one session on all their threads: the layout they replace)
//   bare route  a Fastify POST route that reads the same multipart body and returns a constant
// Also: startup-to-ready time of `mixer serve`, the event-loop stall of one batch-32 run on the main thread,
// and with --soak S, the service's RSS sampled over S seconds of load. Then the response cache: /classify with 50%
// repeats on a cached and an uncached copy of the model, interleaved, with the hit rate (http-cache.ts). Then tracing:
// /classify with tracing off, on with sampling 0 and on with sampling 1 exporting to a local OTLP/HTTP receiver,
// interleaved (http-tracing.ts; --no-tracing skips it, --tracing-only runs only it).
// --pin: the load generator (this process) on CPU 0, the service, the bare route and the raw model on CPU 1 (taskset),
// so that the load generator takes no CPU from what it measures; the layout is then one core's (cache and tracing are
// left out).
// Needs `npm run build` first (runs from dist/).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Request } from 'autocannon';
import { hardware, hardwareHeader } from '#mixer/bench/hardware.js';
import { resolveConfig } from '#mixer/server/config.js';
import { CLI, med, onServerCpu, pickModel, pinnedCpus, ROOT } from './common.js';
import { cacheWorkload } from './http-cache.js';
import {
  bareServer,
  cpuOf,
  type LoadResult,
  load,
  meanBatch,
  rssOf,
  type SoakResult,
  samplePng,
  soakRss,
  withServer,
} from './http-harness.js';
import { type TracingFigures, tracingWorkload } from './http-tracing.js';
import { mainThreadStallMs, RawModel } from './raw-model.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string' },
    threads: { type: 'string' },
    'max-batch': { type: 'string', default: '32' },
    'log-level': { type: 'string', default: 'info' },
    soak: { type: 'string', default: '0' },
    'bare-server': { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    'no-tracing': { type: 'boolean', default: false },
    'tracing-only': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
  },
});

type RunKind = 'raw' | 'raw1' | 'bare' | 'service';
/** One measurement of one round; the raw model has no latency figures, errors or request count. */
type Run = { rate: number; cpuMs: number; loadCpuMs?: number } & Partial<LoadResult>;

interface Measured {
  runs: Record<RunKind, Run[]>;
  /** One connection, after the rounds: latency at light load. */
  light: LoadResult;
  /** The service's RSS after start-up and after the loads. */
  rss: { ready: number; loaded: number };
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
  // Pinned: this process (autocannon) on CPU 0 from here on; the service sees one core and picks its layout for it.
  const pin = o.pin ? pinnedCpus() : null;
  // The service's own default layout unless given; the raw baseline runs the same layout.
  const { workers, threads } = resolveConfig({
    ...(o.workers ? { workers: Number(o.workers) } : {}),
    ...(o.threads ? { threads: Number(o.threads) } : {}),
  });
  const maxBatch = Number(o['max-batch']);
  const hw = hardware(
    `${workers} worker(s) × ${threads} ORT thread(s), in the service and the raw model${pin ? `; pinned: load generator on CPU ${pin.load}, service, bare route and raw model on CPU ${pin.server}` : ''}`,
  );
  console.log(hardwareHeader(hw));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-'));
  try {
    const { modelPath, note } = await pickModel(tmp, o.model ?? process.env.MODEL_PATH);
    const { png, source } = await samplePng();
    log(`model ${path.relative(ROOT, modelPath) || modelPath} (${note}); image ${source}, ${png.length} bytes`);
    log(
      `${connections} connections; ${rounds} interleaved rounds of ${duration} s per run; ${workers} worker(s) × ${threads} ORT thread(s); max batch ${maxBatch}; log level ${o['log-level']}`,
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
      '--workers',
      String(workers),
      '--threads',
      String(threads),
      '--max-batch',
      String(maxBatch),
      '--log-level',
      o['log-level'],
    ];

    if (o['tracing-only']) {
      printTracing(await tracingWorkload(serveArgs, request, { connections, seconds: duration, rounds }));
      return;
    }
    const stallMs = await mainThreadStallMs(modelPath, threads, maxBatch);
    const raw = await RawModel.open(modelPath, { workers, threads, batch: maxBatch });
    // Pinned, the raw model runs where the servers do, and the process goes back to the load generator's CPU after.
    const measureRaw = (m: RawModel): Promise<Run> => onServerCpu(pin, () => m.measure(duration));
    // With several workers, also the raw model as one session on all their threads (the layout they replace).
    const raw1 =
      workers > 1 ? await RawModel.open(modelPath, { workers: 1, threads: workers * threads, batch: maxBatch }) : null;
    const res = await withServer(
      [fileURLToPath(import.meta.url), '--bare-server'],
      'bare',
      (bareUrl, barePid) =>
        withServer(
          serveArgs,
          'service',
          async (url, pid, startupMs): Promise<Measured> => {
            const rssReady = rssOf(pid);
            await load(url, request, connections, 2); // warm the JIT and the allocator
            const runs: Record<RunKind, Run[]> = { raw: [], raw1: [], bare: [], service: [] };
            for (let r = 0; r < rounds; r++) {
              const rawRun = await measureRaw(raw);
              const bareRun = await cpuOf(barePid, () => load(bareUrl, request, connections, duration));
              const serviceRun = await cpuOf(pid, () => load(url, request, connections, duration));
              runs.raw.push(rawRun);
              if (raw1) runs.raw1.push(await measureRaw(raw1));
              runs.bare.push(bareRun);
              runs.service.push(serviceRun);
              log(
                `round ${r + 1}: raw ${rawRun.rate.toFixed(0)} img/s, bare ${bareRun.rate.toFixed(0)} req/s, service ${serviceRun.rate.toFixed(0)} req/s (p99 ${serviceRun.p99} ms)`,
              );
            }
            const batches = await meanBatch(url);
            const light = await load(url, request, 1, duration);
            const rss = { ready: rssReady, loaded: rssOf(pid) };
            const soak = Number(o.soak) > 0 ? await soakRss(url, request, connections, Number(o.soak), pid) : null;
            return { runs, light, rss, startupMs, batches, soak };
          },
          undefined,
          pin?.server,
        ),
      undefined,
      pin?.server,
    );
    await raw.close();
    await raw1?.close();
    const cache = pin
      ? null
      : await cacheWorkload(tmp, modelPath, png, {
          connections,
          seconds: Math.min(duration, 3),
          rounds,
          serveArgs: serveArgs.slice(4),
        });
    const tracing =
      o['no-tracing'] || pin
        ? null
        : await tracingWorkload(serveArgs, request, { connections, seconds: duration, rounds });

    const pick = (k: RunKind, f: (x: Run) => number): number => med(res.runs[k].map(f));
    const ratio = (k: RunKind, base: RunKind): number =>
      med(res.runs[k].map((x, i) => x.rate / (res.runs[base][i]?.rate ?? NaN)));
    const kinds: [string, RunKind][] = [
      [`raw model, batch ${maxBatch}, ${workers}×${threads} (images/s)`, 'raw'],
      ...(raw1
        ? ([[`raw model, batch ${maxBatch}, 1×${workers * threads} (images/s)`, 'raw1']] as [string, RunKind][])
        : []),
      ['bare Fastify route', 'bare'],
      ['service POST /classify', 'service'],
    ];
    const rows = kinds.map(([name, k]) => ({
      name,
      rate: pick(k, (x) => x.rate),
      p50: k.startsWith('raw') ? null : pick(k, (x) => x.p50 ?? NaN),
      p99: k.startsWith('raw') ? null : pick(k, (x) => x.p99 ?? NaN),
      errors: k.startsWith('raw') ? '-' : res.runs[k].reduce((acc, x) => acc + (x.errors ?? 0), 0),
      cpuMs: pick(k, (x) => x.cpuMs),
      loadCpuMs: k.startsWith('raw') ? null : pick(k, (x) => x.loadCpuMs ?? NaN),
      vsRaw: ratio(k, 'raw'),
      vsBare: ratio(k, 'bare'),
    }));
    const table = [
      '| run | req/s | p50 ms | p99 ms | errors | CPU ms / req | load generator CPU ms / req | vs raw model | vs bare route |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.rate.toFixed(0)} | ${r.p50 ?? '-'} | ${r.p99 ?? '-'} | ${r.errors} | ${r.cpuMs.toFixed(2)} | ${r.loadCpuMs?.toFixed(2) ?? '-'} | ${r.vsRaw.toFixed(2)} | ${r.vsBare.toFixed(3)} |`,
      ),
    ].join('\n');
    console.log(`\n${table}\n(medians over ${rounds} interleaved rounds; ratios are medians of per-round ratios)\n`);
    const svc = rows.at(-1);
    if (!svc) throw new Error('no service row');
    // What the CPU alone allows: the CPUs the service has (and, unpinned, shares with the load generator) divided by
    // the CPU one request costs; measured ÷ ceiling is the share lost to scheduling gaps (a core idle under load).
    const cpus = pin ? 1 : hw.cores;
    const perRequest = svc.cpuMs + (pin ? 0 : (svc.loadCpuMs ?? 0));
    const ceiling = (1000 * cpus) / perRequest;
    const rawRate = rows[0]!.rate;
    console.log(
      `CPU-bound ceiling: ${pin ? 'the service has one CPU to itself' : `the service and the load generator share ${cpus} CPUs`}, ${perRequest.toFixed(2)} CPU ms per request${pin ? '' : ` (${svc.cpuMs.toFixed(2)} + ${(svc.loadCpuMs ?? 0).toFixed(2)})`}: at most ${ceiling.toFixed(0)} req/s, ${(ceiling / rawRate).toFixed(2)} of the raw model; measured ${(svc.rate / ceiling).toFixed(2)} of that ceiling`,
    );
    console.log(
      `startup to ready: ${res.startupMs.toFixed(0)} ms; mean batch size under load: ${res.batches.toFixed(1)}; a batch-32 run on the main thread stalls the event loop up to ${stallMs.toFixed(0)} ms (the service runs it in a worker)`,
    );
    console.log(
      `light load (1 connection): ${res.light.rate.toFixed(0)} req/s, p50 ${res.light.p50} ms, p99 ${res.light.p99} ms, ${res.light.errors} errors; service RSS ${mb(res.rss.ready)} MB when ready, ${mb(res.rss.loaded)} MB after the loads, with ${workers} worker(s)`,
    );
    if (cache)
      console.log(
        `response cache, 50% repeats: on ${cache.on.toFixed(0)} req/s (hit rate ${(100 * cache.hitRate).toFixed(1)}%), off ${cache.off.toFixed(0)} req/s, on/off ${cache.ratio.toFixed(2)}, ${cache.errors} errors (medians over ${cache.rounds} interleaved rounds of ${cache.seconds} s)`,
      );
    if (tracing) printTracing(tracing);
    if (res.soak) {
      const s = res.soak;
      console.log(
        `RSS over ${o.soak} s of load: first ${mb(s.first)} MB, min ${mb(s.min)}, max ${mb(s.max)}, last ${mb(s.last)}; last vs first ${((100 * (s.last - s.first)) / s.first).toFixed(1)}%, range ${((100 * (s.max - s.min)) / s.first).toFixed(1)}%; ${s.requests} requests, ${s.errors} errors`,
      );
    }
    const ok = (c: boolean): string => (c ? 'met' : 'MISSED');
    console.log(
      `targets: >= 0.85 of the raw model in the same layout ${ok(svc.vsRaw >= 0.85)}; p99 <= 50 ms ${ok((svc.p99 ?? NaN) <= 50)}; zero errors ${ok(svc.errors === 0)}; startup <= 3 s ${ok(res.startupMs <= 3000)}`,
    );
    if (o.json) console.log(JSON.stringify({ hardware: hw, rows, ...res, cache, tracing }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The tracing rows: throughput, latency and the server's CPU per request, off vs on with sampling 0 and 1. */
function printTracing(tracing: TracingFigures): void {
  const names = { off: 'tracing off', sampled0: 'tracing on, sampling 0', sampled1: 'tracing on, sampling 1' };
  console.log(
    [
      '',
      '| POST /classify | req/s | p50 ms | p99 ms | errors | CPU ms / req | vs tracing off (req/s) |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...tracing.rows.map(
        (r) =>
          `| ${names[r.mode]} | ${r.rate.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.cpuMs.toFixed(2)} | ${r.vsOff.toFixed(3)} |`,
      ),
      `(three servers side by side, medians over ${tracing.rounds} interleaved rounds of ${tracing.seconds} s; sampling 1 exported ${tracing.exports} OTLP/HTTP requests, ${mb(tracing.bytes)} MB, to a local receiver)`,
      '',
    ].join('\n'),
  );
}

if (o['bare-server']) await bareServer(Number(o.port));
else await main();
