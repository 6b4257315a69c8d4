#!/usr/bin/env node
// Hostile-client benchmark (`npm run bench:attacks`): each case against a fresh `mixer serve`, with status, time, response size and server RSS.
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { hardware, hardwareHeader } from '#mixer/bench/hardware.js';
import { zlibBombPng } from '../test/fixtures/png-bombs.js';
import { bodyOf, caseTable, codeOf, firstLine, post, rawUntilClose, rss, serve, timed } from './attacks-harness.js';
import { cpuSeconds, ROOT, serveLayout } from './common.js';

const HELP = `Hostile-client cases against a fresh \`mixer serve\` (from dist/): each case's status, time, response size and server RSS, as a table.

  npm run bench:attacks -- [--cases bomb,dup-outputs,nested,timeouts,echo,parser,overload] [--bomb-mb 512]
                           [--duration 8] [--model models/mixer-cifar10.onnx]
The overload case runs autocannon against raw PNG posts at 32 connections, then 256 connections × pipelining 4,
and reports the goodput (200s per second) of each and their ratio.`;

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
  console.log(HELP);
  process.exit(0);
}
const cases = new Set(opt.cases.split(','));
const { row, print: printTable } = caseTable('attacks');

async function bombs(): Promise<void> {
  const mb = Number(opt['bomb-mb']);
  for (const [w, h] of [
    [32, 32],
    [64, 64],
  ] as const) {
    const bomb = await zlibBombPng(w, h, mb);
    const s = await serve(opt.model);
    const before = rss(s.pid);
    const r = await timed(() => post(s.port, '/classify', bomb, { 'content-type': 'image/png' }));
    const after = rss(s.pid);
    row(
      `PNG zlib bomb ${w}x${h}, ${(bomb.length / 1e6).toFixed(2)} MB inflating to ${mb} MB`,
      `${r.status} ${codeOf(r.body)} in ${r.ms} ms; RSS ${before.rss} → ${after.rss} MB (peak ${after.hwm} MB)`,
    );
    await s.stop();
  }
}

/** The cases that share one server: duplicated outputs, deep nesting, echoes, parser limits. */
async function oneServerCases(infer: string): Promise<void> {
  const s = await serve(opt.model, { REQUEST_TIMEOUT_MS: '30000' });
  const pixels = Buffer.alloc(32 * 32 * 3, 7);
  if (cases.has('dup-outputs')) {
    for (const [n, count, binary] of [
      [16, 2000, true],
      [1, 20000, false],
    ] as const) {
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
    row(`v2 data nested ${depth} deep`, `${r.status} ${codeOf(r.body)} in ${r.ms} ms`);
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

async function timeouts(): Promise<void> {
  const s = await serve(opt.model, { REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '3000' });
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

async function overload(png: Buffer): Promise<void> {
  const s = await serve(opt.model);
  const duration = Number(opt.duration);
  const run = (connections: number, pipelining: number) =>
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
  const result: Record<string, number> = {};
  for (const [c, p] of [
    [32, 1],
    [256, 4],
  ] as const) {
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
    `${((result['256x4'] ?? NaN) / (result['32x1'] ?? NaN)).toFixed(2)}; log written during both runs ${logMb.toFixed(2)} MB`,
  );
  await s.stop();
}

async function main(): Promise<void> {
  console.log(`${hardwareHeader(hardware(await serveLayout()))}\n`);
  const png = await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toBuffer();
  const model = 'mixer-cifar10';
  const infer = `/v2/models/${model}/infer`;

  if (cases.has('bomb')) await bombs();
  if (cases.has('dup-outputs') || cases.has('nested') || cases.has('echo') || cases.has('parser'))
    await oneServerCases(infer);
  if (cases.has('timeouts')) await timeouts();
  if (cases.has('overload')) await overload(png);

  printTable();
}

await main();
