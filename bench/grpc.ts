// gRPC benchmark (`npm run bench:grpc`): ModelInfer with raw binary tensors at N concurrent streams, beside HTTP v2 binary infer, as ratios to the raw model's batch-32 rate.
//
// In one run, interleaved by rounds:
//   raw model   one ORT session in this process, batch 32, the service's thread count (images/s)
//   gRPC        `mixer serve --grpc-port`: N concurrent ModelInfer calls (HTTP/2 streams on one channel), one 32×32 image each, raw_input_contents
//   HTTP        the same server: autocannon with N connections posting the same image with the binary tensor extension
// Needs `npm run build` first (runs from dist/).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import autocannon, { type Request } from 'autocannon';
import { hardware, hardwareHeader } from '#mixer/bench/hardware.js';
import type { HostTensor, Session } from '#mixer/runtime/session.js';
import { CLI, freePort, med, pickModel, ROOT } from './common.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    streams: { type: 'string', default: '32' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    'max-batch': { type: 'string', default: '32' },
  },
});

const log = (m: string): void => void process.stderr.write(`${m}\n`);

interface Load {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
}

/** The one RPC this benchmark calls. */
type InferClient = grpc.Client & {
  ModelInfer(request: object, callback: (e: grpc.ServiceError | null) => void): grpc.ClientUnaryCall;
};

/** Back-to-back batch runs of one in-process session (images/s). */
async function rawRate(
  session: Session,
  feeds: Record<string, HostTensor>,
  batch: number,
  seconds: number,
): Promise<{ rate: number }> {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await session.run(feeds, ['probabilities']);
    n += batch;
    await new Promise((r) => setImmediate(r));
  }
  return { rate: n / ((performance.now() - t0) / 1000) };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** `streams` closed-loop callers of ModelInfer for `seconds`. */
async function grpcLoad(client: InferClient, request: object, streams: number, seconds: number): Promise<Load> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      client.ModelInfer(request, (e) => {
        if (e) errors++;
        else lat.push(performance.now() - t0);
        resolve();
      });
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { rate: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

async function httpLoad(url: string, request: Request, connections: number, seconds: number): Promise<Load> {
  const r = await autocannon({ url, connections, duration: seconds, requests: [request] });
  return { rate: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

async function main(): Promise<void> {
  const [duration, rounds, streams, threads, maxBatch] = [
    o.duration,
    o.rounds,
    o.streams,
    o.threads,
    o['max-batch'],
  ].map(Number) as [number, number, number, number, number];
  console.log(hardwareHeader(hardware(`${threads} ORT thread(s), in the service and the raw model`)));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-grpc-'));
  const { Session } = await import('#mixer/runtime/session.js');
  const { grpcClients } = await import('#mixer/server/grpc/server.js');
  let child: ChildProcess | null = null;
  try {
    const { modelPath, note } = await pickModel(tmp, o.model ?? process.env.MODEL_PATH);
    const name = path
      .basename(modelPath)
      .replace(/\.onnx$/i, '')
      .replace(/[^A-Za-z0-9_.-]+/g, '-');
    log(
      `model ${path.relative(ROOT, modelPath) || modelPath} (${note}); ${streams} concurrent streams/connections, 1 image (UINT8 [1,32,32,3]) per call; ${rounds} rounds of ${duration} s; ORT threads ${threads}; max batch ${maxBatch}`,
    );
    const pixels = Buffer.alloc(32 * 32 * 3).map((_, i) => (i * 31) & 255);
    const session = await Session.create(modelPath, { threads });
    const batchPixels = new Uint8Array(maxBatch * pixels.length).map((_, i) => (i * 31) & 255);
    const feeds: Record<string, HostTensor> = {
      pixels: { dtype: 'uint8', dims: [maxBatch, 32, 32, 3], data: batchPixels },
    };
    for (let i = 0; i < 3; i++) await session.run(feeds, ['probabilities']);

    const [port, grpcPort] = [await freePort(), await freePort()];
    const serveArgs = ['serve', '--model', modelPath, '--host', '127.0.0.1', '--port', String(port)];
    serveArgs.push('--grpc-port', String(grpcPort), '--threads', String(threads), '--max-batch', String(maxBatch));
    const server = spawn(process.execPath, [CLI, ...serveArgs, '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      cwd: ROOT,
    });
    child = server;
    const url = `http://127.0.0.1:${port}`;
    for (
      let i = 0;
      (await fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200;
      i++
    ) {
      if (i > 3000 || server.exitCode !== null) throw new Error('the service did not get ready');
      await new Promise((r) => setTimeout(r, 10));
    }
    const pkg = grpcClients();
    const client = new pkg.inference.GRPCInferenceService(
      `127.0.0.1:${grpcPort}`,
      grpc.credentials.createInsecure(),
    ) as unknown as InferClient;
    const grpcRequest = {
      model_name: name,
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [pixels],
    };
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], parameters: { binary_data_size: pixels.length } },
        ],
        parameters: { binary_data_output: true },
      }),
    );
    const httpRequest: Request = {
      method: 'POST',
      path: `/v2/models/${name}/infer`,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, pixels]),
    };

    await grpcLoad(client, grpcRequest, streams, 1); // warm both paths
    await httpLoad(url, httpRequest, streams, 1);
    const runs: Record<'raw' | 'grpc' | 'http', (Partial<Load> & { rate: number })[]> = { raw: [], grpc: [], http: [] };
    for (let r = 0; r < rounds; r++) {
      const raw = await rawRate(session, feeds, maxBatch, duration);
      const g = await grpcLoad(client, grpcRequest, streams, duration);
      const h = await httpLoad(url, httpRequest, streams, duration);
      runs.raw.push(raw);
      runs.grpc.push(g);
      runs.http.push(h);
      log(
        `round ${r + 1}: raw ${raw.rate.toFixed(0)} img/s, gRPC ${g.rate.toFixed(0)} req/s (p99 ${g.p99.toFixed(1)} ms), HTTP ${h.rate.toFixed(0)} req/s (p99 ${h.p99} ms)`,
      );
    }
    client.close();
    await session.release();
    const row = (label: string, k: keyof typeof runs): string => {
      const rs = runs[k];
      const vs = med(rs.map((x, i) => x.rate / (runs.raw[i]?.rate ?? NaN)));
      const p = (f: (x: Partial<Load>) => number | undefined): string =>
        k === 'raw' ? '-' : med(rs.map((x) => f(x) ?? NaN)).toFixed(1);
      return `| ${label} | ${med(rs.map((x) => x.rate)).toFixed(0)} | ${p((x) => x.p50)} | ${p((x) => x.p99)} | ${k === 'raw' ? '-' : rs.reduce((a, x) => a + (x.errors ?? 0), 0)} | ${vs.toFixed(2)} |`;
    };
    console.log(
      `\n| run | req/s (images/s) | p50 ms | p99 ms | errors | vs raw batch ${maxBatch} |\n|---|---:|---:|---:|---:|---:|`,
    );
    console.log(row(`raw model, batch ${maxBatch}`, 'raw'));
    console.log(row(`gRPC ModelInfer, ${streams} streams, raw_input_contents`, 'grpc'));
    console.log(row(`HTTP v2 infer, ${streams} connections, binary extension`, 'http'));
    console.log(`(medians over ${rounds} interleaved rounds; ratios are medians of per-round ratios)\n`);
  } finally {
    const c = child;
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
