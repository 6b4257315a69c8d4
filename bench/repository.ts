// Model repository benchmark (`npm run bench:repo`): isolation between models, per-model HTTP throughput, and hot-reload timings under load.
//
//   isolation   repository {A} vs repository {A, B}, only A under load, rounds interleaved; target ratio >= 0.9
//   per model   req/s of POST /classify?model=A and ?model=B on the two-model server
//   reload      poll mode under load: add version 2, remove version 1, replace version 2's file in place;
//               load / warm / switch / drain times from the server log, and failed requests (target 0)
// A is the shipped model (or an untrained cifar10-s4), B an untrained cifar10-s4 with another seed. Needs `npm run build`.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { hardware, hardwareHeader } from '#mixer/bench/hardware.js';
import { CLI, freePort, med, ROOT, sleep } from './common.js';

const { values: o } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    threads: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

/** A JSON log line of the server (only the fields read here). */
interface LogLine {
  msg?: string | undefined;
  version?: number | undefined;
  kind?: string | undefined;
  loadMs?: number | undefined;
  warmupMs?: number | undefined;
  switchMs?: number | undefined;
  drainMs?: number | undefined;
}

interface Server {
  url: string;
  port: number;
  logs: LogLine[];
  stop: () => Promise<void>;
}

interface Load {
  rate: number;
  p99: number;
  errors: number;
  requests: number;
}

/** Starts `mixer serve` on a free port; resolves when /readyz answers. `logs` collects its JSON log lines. */
async function startServer(args: string[]): Promise<Server> {
  const port = await freePort();
  const serveArgs = ['serve', '--host', '127.0.0.1', '--port', String(port), '--threads', o.threads];
  const child = spawn(process.execPath, [CLI, ...serveArgs, '--log-level', 'info', ...args], {
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', MODEL_PATH: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: LogLine[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines)
      if (l.trim())
        try {
          logs.push(JSON.parse(l) as LogLine);
        } catch {
          /* not JSON */
        }
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode})`);
    try {
      if ((await fetch(`${url}/readyz`)).ok)
        return {
          url,
          port,
          logs,
          stop: () =>
            new Promise<void>((r) => {
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        };
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('server did not become ready');
}

async function load(url: string, png: Buffer, seconds: number, model: string): Promise<Load> {
  const r = await autocannon({
    url: `${url}/classify?model=${model}`,
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: png,
    connections: Number(o.connections),
    duration: seconds,
  });
  return {
    rate: r.requests.average,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    requests: r.requests.total,
  };
}

async function writeModel(file: string, seed: number): Promise<void> {
  const shipped = path.join(ROOT, 'models', 'mixer-cifar10.onnx');
  mkdirSync(path.dirname(file), { recursive: true });
  if (seed === 0 && existsSync(shipped)) return copyFileSync(shipped, file);
  const { buildInferenceModel, defaultSpec, preset, randomParams } = await import('#mixer/model/index.js');
  const c = preset('cifar10-s4');
  writeFileSync(file, buildInferenceModel(defaultSpec(c), randomParams(c, seed + 1)));
}

interface Results {
  isolation: { aloneRate: number; sharedRate: number; ratio: number; errors: number };
  perModel: Record<'A' | 'B', Load>;
  reload: { requests: number; failed: number; rate: number; p99: number; events: LogLine[] };
}

/** Repository {A} against {A, B} under the same load on A, then A and B on the two-model server. */
async function isolation(tmp: string, png: Buffer, seconds: number): Promise<Omit<Results, 'reload'>> {
  const one = path.join(tmp, 'one');
  const two = path.join(tmp, 'two');
  await writeModel(path.join(one, 'A', '1', 'model.onnx'), 0);
  await writeModel(path.join(two, 'A', '1', 'model.onnx'), 0);
  await writeModel(path.join(two, 'B', '1', 'model.onnx'), 7);
  const s1 = await startServer(['--model-repository', one]);
  const s2 = await startServer(['--model-repository', two]);
  try {
    await load(s1.url, png, 1, 'A');
    await load(s2.url, png, 1, 'A');
    const alone: Load[] = [];
    const shared: Load[] = [];
    for (let r = 0; r < Number(o.rounds); r++) {
      alone.push(await load(s1.url, png, seconds, 'A'));
      shared.push(await load(s2.url, png, seconds, 'A'));
    }
    const perModel = { A: await load(s2.url, png, seconds, 'A'), B: await load(s2.url, png, seconds, 'B') };
    return {
      isolation: {
        aloneRate: med(alone.map((x) => x.rate)),
        sharedRate: med(shared.map((x) => x.rate)),
        ratio: med(alone.map((x, i) => (shared[i]?.rate ?? NaN) / x.rate)),
        errors: [...alone, ...shared].reduce((a, x) => a + x.errors, 0),
      },
      perModel,
    };
  } finally {
    await s1.stop();
    await s2.stop();
  }
}

/** Poll mode under load: add version 2, remove version 1, replace version 2's file in place. */
async function reload(tmp: string, png: Buffer, seconds: number): Promise<Results['reload']> {
  const three = path.join(tmp, 'three');
  await writeModel(path.join(three, 'A', '1', 'model.onnx'), 0);
  const s3 = await startServer(['--model-repository', three, '--model-control', 'poll', '--poll-interval-ms', '200']);
  try {
    const total = seconds * 4;
    const running = load(s3.url, png, total, 'A');
    const stage = path.join(three, 'A', '.v2');
    await sleep((total * 1000) / 5);
    await writeModel(path.join(stage, 'model.onnx'), 3);
    renameSync(stage, path.join(three, 'A', '2'));
    await sleep((total * 1000) / 5);
    rmSync(path.join(three, 'A', '1'), { recursive: true });
    await sleep((total * 1000) / 5);
    await writeModel(path.join(three, 'A', '2', 'next.tmp'), 4);
    renameSync(path.join(three, 'A', '2', 'next.tmp'), path.join(three, 'A', '2', 'model.onnx'));
    const r = await running;
    await sleep(500);
    return {
      requests: r.requests,
      failed: r.errors,
      rate: r.rate,
      p99: r.p99,
      events: s3.logs
        .filter((l) => l.msg === 'model ready' || l.msg === 'model version unloaded')
        .map((l) => ({
          msg: l.msg,
          version: l.version,
          kind: l.kind,
          loadMs: l.loadMs,
          warmupMs: l.warmupMs,
          switchMs: l.switchMs,
          drainMs: l.drainMs,
        })),
    };
  } finally {
    await s3.stop();
  }
}

function print(out: Results): void {
  const i = out.isolation;
  console.log(
    `\n| server | A req/s (median of ${o.rounds}) |\n|---|---|\n| repository {A} | ${i.aloneRate.toFixed(1)} |\n| repository {A, B}, only A loaded | ${i.sharedRate.toFixed(1)} |`,
  );
  console.log(
    `isolation ratio ${i.ratio.toFixed(3)} (target >= 0.9: ${i.ratio >= 0.9 ? 'ok' : 'MISSED'}), errors ${i.errors}`,
  );
  console.log(`\n| model | req/s | p99 ms | errors |\n|---|---|---|---|`);
  for (const [k, v] of Object.entries(out.perModel))
    console.log(`| ${k} | ${v.rate.toFixed(1)} | ${v.p99} | ${v.errors} |`);
  const rl = out.reload;
  console.log(
    `\nreload under load: ${rl.requests} requests, ${rl.failed} failed, ${rl.rate.toFixed(1)} req/s, p99 ${rl.p99} ms`,
  );
  console.log('| event | version | kind | load ms | warm ms | switch ms | drain ms |\n|---|---|---|---|---|---|---|');
  for (const e of rl.events)
    console.log(
      `| ${e.msg} | ${e.version} | ${e.kind ?? ''} | ${e.loadMs ?? ''} | ${e.warmupMs ?? ''} | ${e.switchMs === undefined ? '' : e.switchMs.toFixed(3)} | ${e.drainMs ?? ''} |`,
    );
}

async function main(): Promise<void> {
  const hw = hardware(`${o.threads} ORT thread(s) per session (mixer serve --threads)`);
  // With --json, stdout is the JSON alone (the label is in it); the header goes to stderr.
  (o.json ? console.error : console.log)(`${hardwareHeader(hw)}\n`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixer-repo-bench-'));
  const seconds = Number(o.duration);
  const png = await sharp(Buffer.from(new Uint8Array(32 * 32 * 3).map((_, i) => (i * 37) & 255)), {
    raw: { width: 32, height: 32, channels: 3 },
  })
    .png()
    .toBuffer();
  let out: Results;
  try {
    const iso = await isolation(tmp, png, seconds);
    out = { ...iso, reload: await reload(tmp, png, seconds) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (o.json) return console.log(JSON.stringify({ hardware: hw, ...out }, null, 2));
  print(out);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
