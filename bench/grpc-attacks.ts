#!/usr/bin/env node
// Hostile gRPC clients (`npm run bench:grpc-attacks`): slow large-prefix streams, silent connections, echoed input; each against a fresh `mixer serve --grpc-port`, with the server's RSS, fds and answers.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hardware, hardwareHeader } from '#mixer/bench/hardware.js';
import { grpcClients, tritonService } from '#mixer/server/grpc/server.js';
import { caseTable, rss } from './attacks-harness.js';
import { CLI, ROOT, serveLayout, sleep } from './common.js';

const HELP = `Hostile gRPC clients against a fresh \`mixer serve --grpc-port\` (from dist/), as a table.

  npm run bench:grpc-attacks -- [--cases slow,slow-key,silent,echo] [--streams 100] [--mb 9] [--seconds 20]
                                [--connections 1200] [--nofile 1024] [--model models/mixer-cifar10.onnx]
slow:     --streams ModelInfer streams (10 per connection) without a key, each with a --mb MB length prefix and all but
          its last byte sent over --seconds / 2 s; server RSS, streams the server closed, RSS after the client left.
slow-key: the same with a valid key (REQUEST_TIMEOUT_MS=10000).
silent:   the server under \`ulimit -n --nofile\`; --connections TCP connections to the gRPC port that send nothing;
          server fds, HTTP /healthz answers during the flood, connections the server closed within --seconds s.
echo:     grpc-message length for ModelInfer with a 1 MB input name and datatype FOO, and ModelStatistics of an
          8 kB name.`;

const { values: opt } = parseArgs({
  options: {
    cases: { type: 'string', default: 'slow,slow-key,silent,echo' },
    streams: { type: 'string', default: '100' },
    mb: { type: 'string', default: '9' },
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '1200' },
    nofile: { type: 'string', default: '1024' },
    model: { type: 'string', default: path.join(ROOT, 'models', 'mixer-cifar10.onnx') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(HELP);
  process.exit(0);
}
const cases = new Set(opt.cases.split(','));
const KEY = 'attack-bench-key-0123456789';
const { row, print: printTable } = caseTable('grpc-attacks');

interface Server {
  child: ChildProcess;
  pid: number;
  port: number;
  grpcPort: number;
  stop: () => Promise<void>;
}

/** `mixer serve` with gRPC on a free port; `nofile` runs it under `ulimit -n`. */
async function serve(env: Record<string, string>, nofile?: number): Promise<Server> {
  const args = nofile
    ? ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, CLI, 'serve']
    : [CLI, 'serve'];
  const child = spawn(nofile ? '/bin/sh' : process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', MODEL_PATH: opt.model, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out = (out + d).slice(-20000);
  });
  child.stderr!.on('data', (d: Buffer) => {
    out = (out + d).slice(-20000);
  });
  const exited = new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 2400; i++) {
    const p = /"port":(\d+)/.exec(out);
    const g = /"grpcPort":(\d+)/.exec(out);
    if (p && g)
      return {
        child,
        pid: child.pid ?? 0,
        port: Number(p[1]),
        grpcPort: Number(g[1]),
        stop: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      };
    if (child.exitCode !== null) throw new Error(`serve exited:\n${out}`);
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not start:\n${out}`);
}

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const INFER = '/inference.GRPCInferenceService/ModelInfer';

/** Streams with an `mb` MB prefix, all but the last byte trickled over `spreadMs`; never finished. */
async function slowStreams(s: Server, withKey: boolean, name: string): Promise<void> {
  const n = Number(opt.streams);
  const size = Number(opt.mb) * 1024 * 1024;
  const seconds = Number(opt.seconds);
  const spreadMs = (seconds * 1000) / 2;
  const sessions = Array.from({ length: Math.ceil(n / 10) }, () =>
    http2.connect(`http://127.0.0.1:${s.grpcPort}`).on('error', () => {}),
  );
  const before = rss(s.pid).rss;
  const t0 = performance.now();
  const closedAt: number[] = [];
  const statuses = new Map<string, number>();
  const chunk = Buffer.alloc(64 * 1024, 1);
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < n; i++) {
    const req = sessions[i % sessions.length]!.request({
      ':method': 'POST',
      ':path': INFER,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(withKey ? { authorization: `Bearer ${KEY}` } : {}),
    });
    req.on('error', () => {});
    req.resume();
    const note = (h: http2.IncomingHttpHeaders) => {
      const st = h['grpc-status'];
      if (st !== undefined) statuses.set(String(st), (statuses.get(String(st)) ?? 0) + 1);
    };
    req.on('response', note);
    req.on('trailers', note);
    req.on('close', () => closedAt.push(performance.now() - t0));
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(size, 1);
    req.write(prefix);
    let sent = 0;
    const perTick = Math.max(1, Math.floor((size - 1) / chunk.length / (spreadMs / 100)));
    const timer = setInterval(() => {
      for (let k = 0; k < perTick && sent < size - 1 && !req.closed; k++) {
        const len = Math.min(chunk.length, size - 1 - sent);
        req.write(chunk.subarray(0, len));
        sent += len;
      }
    }, 100);
    timers.push(timer);
  }
  let peak = before;
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(250);
    peak = Math.max(peak, rss(s.pid).rss);
  }
  const closed = closedAt.length;
  for (const t of timers) clearInterval(t);
  for (const ss of sessions) ss.destroy();
  await sleep(3000);
  const after = rss(s.pid).rss;
  const sorted = closedAt.slice(0, closed).sort((a, b) => a - b);
  const codes = [...statuses].map(([k, v]) => `${k}×${v}`).join(' ') || 'none';
  row(
    name,
    `RSS ${before} → peak ${peak} MB, ${after} MB 3 s after the client left; ${closed}/${n} streams closed by the server within ${seconds} s${closed ? ` (median at ${Math.round(sorted[closed >> 1]!)} ms)` : ''}; grpc-status ${codes}`,
  );
}

async function silent(): Promise<void> {
  const nofile = Number(opt.nofile);
  const s = await serve({}, nofile);
  const n = Number(opt.connections);
  const seconds = Number(opt.seconds);
  const before = fds(s.pid);
  const t0 = performance.now();
  let refused = 0;
  const closed: number[] = [];
  const sockets: net.Socket[] = [];
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const c = net.connect(s.grpcPort, '127.0.0.1');
          sockets.push(c);
          c.resume();
          c.on('connect', () => resolve());
          c.on('error', () => {
            refused++;
            resolve();
          });
          c.on('close', () => closed.push(performance.now() - t0));
        }),
    ),
  );
  await sleep(500);
  const during = fds(s.pid);
  let httpOk = 0;
  let httpFail = 0;
  for (let i = 0; i < 20; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${s.port}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) httpOk++;
      else httpFail++;
    } catch {
      httpFail++;
    }
  }
  while (performance.now() - t0 < seconds * 1000 && closed.length < n) await sleep(250);
  const end = fds(s.pid);
  const sorted = [...closed].sort((a, b) => a - b);
  row(
    `${n} silent TCP connections to the gRPC port, server under ulimit -n ${nofile}`,
    `server fds ${before} → ${during} (${end} at ${seconds} s); HTTP /healthz during the flood ${httpOk} ok / ${httpFail} failed; ${closed.length}/${n} closed by the server by ${seconds} s (first at ${Math.round(sorted[0] ?? NaN)} ms, last at ${Math.round(sorted.at(-1) ?? NaN)} ms), ${refused} connect errors`,
  );
  for (const c of sockets) c.destroy();
  await s.stop();
}

/** A raw unary call with a client that accepts any header size; resolves with grpc-status and the grpc-message length. */
function rawCall(port: number, method: string, body: Buffer): Promise<{ status: string; len: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.destroy();
      resolve({ status: 'none (no answer in 10 s)', len: NaN });
    }, 10_000);
    const c = http2.connect(`http://127.0.0.1:${port}`, {
      maxSessionMemory: 1000,
      settings: { maxHeaderListSize: 2 ** 30 },
      maxHeaderListPairs: 10000,
    } as http2.ClientSessionOptions);
    c.on('error', reject);
    const req = c.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
    const frame = Buffer.alloc(5);
    frame.writeUInt32BE(body.length, 1);
    const done = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      clearTimeout(timer);
      c.close();
      resolve({ status: String(h['grpc-status']), len: decodeURIComponent(String(h['grpc-message'] ?? '')).length });
    };
    req.on('response', done);
    req.on('trailers', done);
    req.on('error', reject);
    req.end(Buffer.concat([frame, body]));
  });
}

async function echo(): Promise<void> {
  const s = await serve({});
  const pkg = grpcClients();
  const infer = pkg.inference.GRPCInferenceService.service['ModelInfer']!;
  const big = 'x'.repeat(1 << 20);
  const req = infer.requestSerialize({
    model_name: 'mixer-cifar10',
    inputs: [{ name: big, datatype: 'FOO', shape: [1], contents: { int_contents: [1] } }],
  });
  const a = await rawCall(s.grpcPort, INFER, req);
  row('ModelInfer, 1 MB input name, datatype FOO', `grpc-status ${a.status}, grpc-message ${a.len} chars`);
  const stats = tritonService().service['ModelStatistics']!;
  const b = await rawCall(
    s.grpcPort,
    '/inference.GRPCInferenceService/ModelStatistics',
    stats.requestSerialize({ name: 'm'.repeat(8000), version: '' }),
  );
  row('ModelStatistics, 8 kB model name', `grpc-status ${b.status}, grpc-message ${b.len} chars`);
  await s.stop();
}

async function main(): Promise<void> {
  console.log(`${hardwareHeader(hardware(await serveLayout()))}\n`);
  if (cases.has('slow')) {
    const s = await serve({ API_KEYS: KEY });
    await slowStreams(s, false, `${opt.streams} slow ${opt.mb} MB-prefix ModelInfer streams, no key`);
    await s.stop();
  }
  if (cases.has('slow-key')) {
    const s = await serve({ API_KEYS: KEY, REQUEST_TIMEOUT_MS: '10000' });
    await slowStreams(
      s,
      true,
      `${opt.streams} slow ${opt.mb} MB-prefix ModelInfer streams, valid key (REQUEST_TIMEOUT_MS=10000)`,
    );
    await s.stop();
  }
  if (cases.has('silent')) await silent();
  if (cases.has('echo')) await echo();
  printTable();
}

await main();
