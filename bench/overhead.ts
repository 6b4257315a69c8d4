// Service overhead benchmark (`npm run bench:overhead`): server CPU per request for /classify, v2 binary infer and gRPC ModelInfer, this checkout against another one, interleaved; --cpu-prof prints the top self-time functions.
//
// Each round runs, back to back: the raw model (batch 32, the service's layout, for the ratio), then every protocol on
// every server (this checkout's `mixer serve` and, with --base DIR, DIR's built one), alternating which goes first.
// The server's CPU time (user + system, from /proc) over a load divided by the requests it answered is its CPU per
// request. Needs `npm run build` first here (and in DIR). With --cpu-prof DIR2, this checkout's server runs under
// `node --cpu-prof` (its main thread's profile is summarised at the end: self time by function). With --pin, the load
// generator (this process) runs on CPU 0 and the servers and the raw model on CPU 1, in one core's layout. With
// --stand-in, the servers and the raw model load a 'tiny' preset Mixer of the same input, outputs and labels instead
// of the model: the service's own work is then nearly all the CPU, and no model run evicts its caches between requests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { Request } from 'autocannon';
import { hardware, hardwareHeader } from '#mixer/bench/hardware.js';
import { resolveConfig } from '#mixer/server/config.js';
import { cpuSeconds, freePort, med, nodeCommand, onServerCpu, pickModel, pinnedCpus, ROOT } from './common.js';
import { type LoadResult, load, samplePng } from './http-harness.js';
import { RawModel } from './raw-model.js';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    base: { type: 'string' },
    duration: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    protocols: { type: 'string', default: 'classify,v2,grpc' },
    'log-level': { type: 'string', default: 'info' },
    'cpu-prof': { type: 'string' },
    top: { type: 'string', default: '30' },
    pin: { type: 'boolean', default: false },
    'stand-in': { type: 'boolean', default: false },
  },
});

const log = (m: string): void => void process.stderr.write(`${m}\n`);
type Protocol = 'classify' | 'v2' | 'grpc';

/**
 * --stand-in: a 'tiny' preset Mixer (32×32 RGB in, the same output names and CIFAR-10 labels) written under the
 * model's file name, so that every request, URL and answer has the same shape as with the model.
 */
async function standIn(tmp: string, model: string): Promise<string> {
  const { buildInferenceModel, defaultSpec, preset, randomParams } = await import('#mixer/model/index.js');
  const c = preset('tiny');
  const dir = path.join(tmp, 'stand-in');
  mkdirSync(dir);
  const file = path.join(dir, path.basename(model));
  writeFileSync(file, buildInferenceModel(defaultSpec(c), randomParams(c, 0)));
  log(`stand-in: the 'tiny' preset (patch 8, hidden 32, depth 2) as ${path.basename(model)}`);
  return file;
}

interface Server {
  label: string;
  child: ChildProcess;
  url: string;
  grpcTarget: string;
}

async function start(label: string, root: string, args: string[], nodeFlags: string[], cpus?: string): Promise<Server> {
  const [port, grpcPort] = [await freePort(), await freePort()];
  const [cmd, cmdArgs] = nodeCommand(
    [
      ...nodeFlags,
      path.join(root, 'dist/cli/main.js'),
      ...args,
      '--port',
      String(port),
      '--grpc-port',
      String(grpcPort),
    ],
    cpus,
  );
  const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'inherit'], cwd: root });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const s = await fetch(`${url}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (s === 200) break;
    if (i > 6000 || child.exitCode !== null) throw new Error(`${label}: the service did not get ready`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { label, child, url, grpcTarget: `127.0.0.1:${grpcPort}` };
}

async function stop(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

type InferClient = grpc.Client & {
  ModelInfer(request: object, callback: (e: grpc.ServiceError | null) => void): grpc.ClientUnaryCall;
};

/** `streams` closed-loop callers of ModelInfer for `seconds`. */
async function grpcLoad(client: InferClient, request: object, streams: number, seconds: number): Promise<LoadResult> {
  let ok = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (performance.now() < end)
        await new Promise<void>((resolve) =>
          client.ModelInfer(request, (e) => {
            if (e) errors++;
            else ok++;
            resolve();
          }),
        );
    }),
  );
  const rate = ok / ((performance.now() - t0) / 1000);
  return { rate, p50: NaN, p99: NaN, errors, requests: ok + errors };
}

interface Sample {
  rate: number;
  cpuMs: number;
  /** The main thread's share: what the service itself costs beside the model runs and image decodes. */
  mainMs: number;
  batch: number;
  raw: number;
  /** The raw model's CPU ms per image in the same round: server CPU per request minus it is the service's own cost. */
  rawCpuMs: number;
}

/** CPU seconds of one thread of a process (the main thread's id is the process id). */
function threadCpuSeconds(pid: number, tid: number): number {
  try {
    const f = (readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Batch-size sum and count so far, from /metrics. */
async function batches(url: string): Promise<{ sum: number; count: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const sum = Number(/^mixer_batch_size_sum(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  const count = Number(/^mixer_batch_size_count(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN);
  return { sum, count };
}

/** Self time by function of a .cpuprofile (the top `n`, as shares of the busy time: idle left out), as a table. */
function topSelf(file: string, n: number): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((x) => [x.id, x.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const f = byId.get(id);
    const dt = prof.timeDeltas[i] ?? 0;
    if (!f || f.functionName === '(idle)') return;
    total += dt;
    const where = f.url
      ? `${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, '')}:${f.lineNumber + 1}`
      : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    '| self % | self ms | function |',
    '|---:|---:|---|',
    ...rows.map(([k, us]) => `| ${((100 * us) / total).toFixed(1)} | ${(us / 1000).toFixed(0)} | ${k} |`),
  ].join('\n');
}

async function main(): Promise<void> {
  const [duration, rounds, connections] = [o.duration, o.rounds, o.connections].map(Number) as [number, number, number];
  const protocols = o.protocols.split(',') as Protocol[];
  // Pinned: this process on one CPU from here on; the layout is then one core's, for the servers and the raw model.
  const pin = o.pin ? pinnedCpus() : null;
  const { workers, threads } = resolveConfig({});
  console.log(
    hardwareHeader(
      hardware(
        `${workers} worker(s) × ${threads} ORT thread(s), in the servers and the raw model${pin ? `; pinned: load generator on CPU ${pin.load}, servers and raw model on CPU ${pin.server}` : ''}`,
      ),
    ),
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixer-bench-overhead-'));
  const servers: Server[] = [];
  try {
    const picked = (await pickModel(tmp, o.model ?? process.env.MODEL_PATH)).modelPath;
    const modelPath = o['stand-in'] ? await standIn(tmp, picked) : picked;
    const name = path
      .basename(modelPath)
      .replace(/\.onnx$/i, '')
      .replace(/[^A-Za-z0-9_.-]+/g, '-');
    const { png } = await samplePng();
    const boundary = '----mixerbench';
    const multipart = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      png,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const pixels = Buffer.alloc(32 * 32 * 3).map((_, i) => (i * 31) & 255);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], parameters: { binary_data_size: pixels.length } },
        ],
        parameters: { binary_data_output: true },
      }),
    );
    const requests: Record<'classify' | 'v2', Request> = {
      classify: {
        method: 'POST',
        path: '/classify',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body: multipart,
      },
      v2: {
        method: 'POST',
        path: `/v2/models/${name}/infer`,
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(header.length),
        },
        body: Buffer.concat([header, pixels]),
      },
    };
    const grpcRequest = {
      model_name: name,
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [pixels],
    };
    const args = ['serve', '--model', modelPath, '--host', '127.0.0.1', '--log-level', o['log-level']];
    args.push('--workers', String(workers), '--threads', String(threads), '--max-batch', '32');
    const profDir = o['cpu-prof'] ? path.resolve(o['cpu-prof']) : null;
    if (profDir) mkdirSync(profDir, { recursive: true });
    // Each server profiles into its own folder, sampling every 200 µs.
    const profFlags = (dir: string): string[] => {
      if (!profDir) return [];
      mkdirSync(path.join(profDir, dir), { recursive: true });
      return ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, dir)}`, '--cpu-prof-interval=200'];
    };
    servers.push(await start('this checkout', ROOT, args, profFlags('new'), pin?.server));
    if (o.base) servers.push(await start('base', path.resolve(o.base), args, profFlags('base'), pin?.server));
    const { grpcClients } = await import('#mixer/server/grpc/server.js');
    const pkg = grpcClients();
    const clients = servers.map(
      (s) =>
        new pkg.inference.GRPCInferenceService(
          s.grpcTarget,
          grpc.credentials.createInsecure(),
        ) as unknown as InferClient,
    );
    const raw = await RawModel.open(modelPath, { workers, threads, batch: 32 });
    const run = (i: number, p: Protocol, seconds: number): Promise<LoadResult> => {
      const s = servers[i]!;
      return p === 'grpc'
        ? grpcLoad(clients[i]!, grpcRequest, connections, seconds)
        : load(s.url, requests[p], connections, seconds);
    };
    for (let i = 0; i < servers.length; i++) for (const p of protocols) await run(i, p, 1); // warm up
    log(
      `${connections} connections/streams; ${rounds} rounds of ${duration} s; ${workers} worker(s) × ${threads} thread(s); log level ${o['log-level']}${pin ? `; pinned: load on CPU ${pin.load}, servers and raw model on CPU ${pin.server}` : ''}`,
    );
    const samples = new Map<string, Sample[]>();
    for (let r = 0; r < rounds; r++) {
      const rawRun = await onServerCpu(pin, () => raw.measure(duration));
      const rawRate = rawRun.rate;
      for (const p of protocols) {
        const order = servers.map((_, i) => i);
        if (r % 2 === 1) order.reverse();
        for (const i of order) {
          const pid = servers[i]!.child.pid ?? 0;
          const [b0, c0, m0] = [await batches(servers[i]!.url), cpuSeconds(pid), threadCpuSeconds(pid, pid)];
          const res = await run(i, p, duration);
          const n = Math.max(1, res.requests);
          const cpuMs = ((cpuSeconds(pid) - c0) * 1000) / n;
          const mainMs = ((threadCpuSeconds(pid, pid) - m0) * 1000) / n;
          const b1 = await batches(servers[i]!.url);
          const batch = (b1.sum - b0.sum) / (b1.count - b0.count);
          const key = `${p}\u0000${i}`;
          samples.set(key, [
            ...(samples.get(key) ?? []),
            { rate: res.rate, cpuMs, mainMs, batch, raw: rawRate, rawCpuMs: rawRun.cpuMs },
          ]);
          log(
            `round ${r + 1} ${p} ${servers[i]!.label}: ${res.rate.toFixed(0)} req/s, ${cpuMs.toFixed(3)} ms CPU/req (main thread ${mainMs.toFixed(3)}), mean batch ${batch.toFixed(1)}, raw ${rawRate.toFixed(0)} img/s, ${res.errors} errors`,
          );
        }
      }
    }
    for (const c of clients) c.close();
    await raw.close();
    console.log(
      '\n| protocol | server | req/s | vs raw model | server CPU ms / req | raw model CPU ms / image | own cost ms / req | main thread ms / req | mean batch |\n|---|---|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const p of protocols)
      servers.forEach((s, i) => {
        const xs = samples.get(`${p}\u0000${i}`) ?? [];
        console.log(
          `| ${p} | ${s.label} | ${med(xs.map((x) => x.rate)).toFixed(0)} | ${med(xs.map((x) => x.rate / x.raw)).toFixed(2)} | ${med(xs.map((x) => x.cpuMs)).toFixed(3)} | ${med(xs.map((x) => x.rawCpuMs)).toFixed(3)} | ${med(xs.map((x) => x.cpuMs - x.rawCpuMs)).toFixed(3)} | ${med(xs.map((x) => x.mainMs)).toFixed(3)} | ${med(xs.map((x) => x.batch)).toFixed(1)} |`,
        );
      });
    console.log(
      `(medians over ${rounds} interleaved rounds; own cost: the server's CPU per request minus the raw model's per image at batch 32, the same round)\n`,
    );
    for (const s of servers) await stop(s);
    servers.length = 0;
    for (const dir of profDir ? (o.base ? ['new', 'base'] : ['new']) : []) {
      // The main thread's profile is the largest one a server wrote (its workers write their own, mostly ORT).
      const files = readdirSync(path.join(profDir!, dir))
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(profDir!, dir, f))
        .sort((a, b) => readFileSync(b).length - readFileSync(a).length);
      for (const f of files.slice(0, 1)) console.log(`${dir}: ${f}\n${topSelf(f, Number(o.top))}\n`);
    }
  } finally {
    for (const s of servers) await stop(s);
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
