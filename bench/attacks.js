#!/usr/bin/env node
// Hostile-client cases against a fresh `mixer serve` (from dist/): each case's status, time, response size and server RSS, as a table.
//
//   npm run bench:attacks -- [--cases bomb,dup-outputs,nested,timeouts,echo,parser,overload] [--bomb-mb 512]
//                            [--duration 8] [--model models/mixer-cifar10.onnx]
// The overload case runs autocannon against raw PNG posts at 32 connections, then 256 connections × pipelining 4,
// and reports the goodput (200s per second) of each and their ratio.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createDeflate } from 'node:zlib';
import autocannon from 'autocannon';
import sharp from 'sharp';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({
  options: {
    cases: { type: 'string', default: 'bomb,dup-outputs,nested,timeouts,echo,parser,overload' },
    'bomb-mb': { type: 'string', default: '512' },
    duration: { type: 'string', default: '8' },
    model: { type: 'string', default: path.join(ROOT, 'models', 'mixer-cifar10.onnx') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 7)
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  process.exit(0);
}
const cases = new Set(opt.cases.split(','));
const log = (m) => console.error(`[attacks] ${m}`);
const rows = [];
const row = (name, figures) => {
  rows.push({ name, figures });
  log(`${name}: ${figures}`);
};

/** Starts `mixer serve` on a free loopback port; resolves with its port, pid and a stop(). */
async function serve(env = {}) {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MODEL_PATH: opt.model, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 2400; i++) {
    const m = /"port":(\d+)/.exec(out);
    if (m) {
      return {
        port: Number(m[1]),
        pid: child.pid,
        logBytes: () => out.length,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`serve exited:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not start:\n${out}`);
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** VmRSS and VmHWM of a process in MB. */
function rss(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]);
  return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
}

async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return { ...r, ms: Math.round(performance.now() - t0) };
}

async function post(port, url, body, headers) {
  const r = await fetch(`http://127.0.0.1:${port}${url}`, { method: 'POST', body, headers });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, bytes: buf.length, body: buf, headers: r.headers };
}

function crc32(b) {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A PNG whose header says w×h 8-bit RGB and whose IDAT inflates to `mb` MB of zero rows. */
export async function zlibBombPng(w, h, mb) {
  const z = createDeflate({ level: 9 });
  const parts = [];
  z.on('data', (d) => parts.push(d));
  const done = new Promise((r) => z.on('end', r));
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < mb; i++) if (!z.write(block)) await new Promise((r) => z.once('drain', r));
  z.end();
  await done;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.concat(parts)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Opens a raw socket, writes `text`, and resolves with ms until the server closes it and what it answered. */
function rawUntilClose(port, text, limitMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ms: Math.round(performance.now() - t0), closed: false, got });
    }, limitMs);
    s.on('data', (d) => (got += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ ms: Math.round(performance.now() - t0), closed: true, got });
    });
    s.write(text);
  });
}

const firstLine = (s) => s.split('\r\n')[0] ?? '';
const bodyOf = (s) => s.split('\r\n\r\n').slice(1).join('\r\n\r\n').slice(0, 160);

async function main() {
  const png = await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toBuffer();
  const model = 'mixer-cifar10';
  const infer = `/v2/models/${model}/infer`;

  if (cases.has('bomb')) {
    const mb = Number(opt['bomb-mb']);
    for (const [w, h] of [
      [32, 32],
      [64, 64],
    ]) {
      const bomb = await zlibBombPng(w, h, mb);
      const s = await serve();
      const before = rss(s.pid);
      const r = await timed(() => post(s.port, '/classify', bomb, { 'content-type': 'image/png' }));
      const after = rss(s.pid);
      row(
        `PNG zlib bomb ${w}x${h}, ${(bomb.length / 1e6).toFixed(2)} MB inflating to ${mb} MB`,
        `${r.status} ${JSON.parse(r.body).code ?? ''} in ${r.ms} ms; RSS ${before.rss} → ${after.rss} MB (peak ${after.hwm} MB)`,
      );
      await s.stop();
    }
  }

  if (cases.has('dup-outputs') || cases.has('nested') || cases.has('echo') || cases.has('parser')) {
    const s = await serve({ REQUEST_TIMEOUT_MS: '30000' });
    const pixels = Buffer.alloc(32 * 32 * 3, 7);
    if (cases.has('dup-outputs')) {
      for (const [n, count, binary] of [
        [16, 2000, true],
        [1, 20000, false],
      ]) {
        const header = Buffer.from(
          JSON.stringify({
            inputs: [
              {
                name: 'pixels',
                datatype: 'UINT8',
                shape: [n, 32, 32, 3],
                parameters: { binary_data_size: n * pixels.length },
              },
            ],
            outputs: Array.from({ length: count }, () => ({
              name: 'probabilities',
              parameters: { binary_data: binary },
            })),
          }),
        );
        const payload = Buffer.concat([header, ...Array.from({ length: n }, () => pixels)]);
        const before = rss(s.pid);
        const r = await timed(() =>
          post(s.port, infer, payload, {
            'content-type': 'application/octet-stream',
            'inference-header-content-length': String(header.length),
          }),
        );
        const after = rss(s.pid);
        row(
          `v2 ${count}× the same output (${binary ? 'binary' : 'JSON'}), ${(payload.length / 1e6).toFixed(2)} MB request`,
          `${r.status} in ${r.ms} ms, ${(r.bytes / 1e6).toFixed(2)} MB response; RSS ${before.rss} → ${after.rss} MB (peak ${after.hwm} MB)`,
        );
      }
    }
    if (cases.has('nested')) {
      const depth = 10000;
      const body = `{"inputs":[{"name":"pixels","datatype":"UINT8","shape":[1,32,32,3],"data":${'['.repeat(depth)}1${']'.repeat(depth)}}]}`;
      const r = await timed(() => post(s.port, infer, body, { 'content-type': 'application/json' }));
      row(`v2 data nested ${depth} deep`, `${r.status} ${JSON.parse(r.body).code ?? ''} in ${r.ms} ms`);
    }
    if (cases.has('echo')) {
      const big = 'x'.repeat(1 << 20);
      const body = JSON.stringify({ inputs: [{ name: big, datatype: 'UINT8', shape: [1, 32, 32, 3], data: [] }] });
      const r = await post(s.port, infer, body, { 'content-type': 'application/json' });
      row('v2 error echo of a 1 MB input name', `${r.status}, ${r.bytes} B response`);
      const p = await fetch(`http://127.0.0.1:${s.port}/${'p'.repeat(15000)}`);
      row('404 echo of a 15 kB path', `${p.status}, ${(await p.arrayBuffer()).byteLength} B response`);
      const id = await fetch(`http://127.0.0.1:${s.port}/healthz`, { headers: { 'x-request-id': 'i'.repeat(8000) } });
      row('8 kB X-Request-Id', `echoed back ${id.headers.get('x-request-id')?.length ?? 0} chars`);
    }
    if (cases.has('parser')) {
      const a = await rawUntilClose(
        s.port,
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`,
        5000,
      );
      row('headers over 16 kB', `${firstLine(a.got)} ${bodyOf(a.got)}`);
      const b = await rawUntilClose(s.port, 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n', 5000);
      row('malformed header line', `${firstLine(b.got)} ${bodyOf(b.got)}`);
    }
    await s.stop();
  }

  if (cases.has('timeouts')) {
    const s = await serve({ REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '3000' });
    const [bodyless, headless] = await Promise.all([
      rawUntilClose(
        s.port,
        `POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n`,
        120_000,
      ),
      rawUntilClose(s.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n`, 120_000),
    ]);
    row(
      'body never arrives (REQUEST_TIMEOUT_MS=5000)',
      `closed after ${bodyless.ms} ms: ${firstLine(bodyless.got) || 'no answer'}`,
    );
    row(
      'headers never end (HEADERS_TIMEOUT_MS=3000 where supported)',
      `closed after ${headless.ms} ms: ${firstLine(headless.got) || 'no answer'}`,
    );
    await s.stop();
  }

  if (cases.has('overload')) {
    const s = await serve();
    const duration = Number(opt.duration);
    const run = (connections, pipelining) =>
      autocannon({
        url: `http://127.0.0.1:${s.port}/classify?top=1`,
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: png,
        connections,
        pipelining,
        duration,
        timeout: 30,
      });
    await run(8, 1); // warm-up
    const logBefore = s.logBytes();
    const result = {};
    for (const [c, p] of [
      [32, 1],
      [256, 4],
    ]) {
      const cpu0 = cpuSeconds(s.pid);
      const r = await run(c, p);
      const cpu = cpuSeconds(s.pid) - cpu0;
      const ok = r['2xx'];
      result[`${c}x${p}`] = ok / duration;
      const codes = Object.entries(r.statusCodeStats ?? {})
        .map(([k, v]) => `${k}:${v.count}`)
        .join(' ');
      row(
        `goodput at ${c} connections × pipelining ${p}`,
        `${(ok / duration).toFixed(0)} 200/s (statuses ${codes}; ${r.errors} errors, ${r.timeouts} timeouts); p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms; server CPU ${cpu.toFixed(1)} s = ${((cpu * 1000) / Math.max(1, ok)).toFixed(1)} ms per 200`,
      );
    }
    const logMb = (s.logBytes() - logBefore) / 1e6;
    row(
      'goodput ratio 256×4 / 32',
      `${(result['256x4'] / result['32x1']).toFixed(2)}; log written during both runs ${logMb.toFixed(2)} MB`,
    );
    await s.stop();
  }

  console.log('| case | figures |\n|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.figures} |`);
}

await main();
