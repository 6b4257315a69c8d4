// Rate-limit benchmark (npm run bench:rate-limit): the server's CPU per over-limit 5 MB request (429, body never parsed or decoded) against a wrong key's 401 and the same request under the limit (decoded and classified); interleaved rounds, medians.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { serve } from './attacks-harness.js';
import { cpuSeconds, med, pickModel } from './common.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 3);
/** Over-limit requests per round (the flood), and under-limit ones (each is decoded: fewer keep rounds short). */
const REFUSED = Number(process.env['REFUSED'] ?? 200);
const ACCEPTED = Number(process.env['ACCEPTED'] ?? 20);
/** Requests in flight at once. */
const CONCURRENCY = 4;

const FLOOD_KEY = 'flood-key-0123456789abcdef';
const OPEN_KEY = 'open-key-0123456789abcdef';

/** A noise PNG of about 5 MB (incompressible pixels, no compression): a costly decode. */
async function bigPng(): Promise<Buffer> {
  const side = 1300;
  const px = Buffer.alloc(side * side * 3);
  let s = 12345;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = s >>> 24;
  }
  return sharp(px, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

/** Posts `body` `n` times with `key`, CONCURRENCY at once; the server CPU ms per request and the statuses seen. */
async function flood(
  port: number,
  pid: number,
  key: string,
  body: Buffer,
  n: number,
): Promise<{ cpuMsPer: number; wallMsPer: number; statuses: Map<number, number> }> {
  const statuses = new Map<number, number>();
  let next = 0;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        const r = await fetch(`http://127.0.0.1:${port}/classify?top=1`, {
          method: 'POST',
          headers: { 'content-type': 'image/png', authorization: `Bearer ${key}` },
          body,
        });
        await r.arrayBuffer();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }),
  );
  return {
    cpuMsPer: ((cpuSeconds(pid) - cpu0) * 1000) / n,
    wallMsPer: (performance.now() - t0) / n,
    statuses,
  };
}

interface Case {
  name: string;
  key: string;
  body: 'large' | 'small';
  n: number;
  status: number;
}

/**
 * Over the limit, with a large and a small body; a wrong key (401: refused before the body, as before this limit
 * existed); under the limit (decoded and classified). A refused request's body is still read off the socket and
 * dropped (Node drains it, so the client sees its answer rather than a reset): 429 ≈ 401 means the limit adds no cost.
 */
const CASES: Case[] = [
  { name: '429 over the limit, 5 MB', key: FLOOD_KEY, body: 'large', n: REFUSED, status: 429 },
  { name: '401 wrong key, 5 MB', key: 'wrong-key-0123456789', body: 'large', n: REFUSED, status: 401 },
  { name: '429 over the limit, 1 KB', key: FLOOD_KEY, body: 'small', n: REFUSED, status: 429 },
  { name: '200 under the limit, 5 MB', key: OPEN_KEY, body: 'large', n: ACCEPTED, status: 200 },
];

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mixer-rate-'));
try {
  const { modelPath, note } = await pickModel(tmp, process.env['MODEL_PATH']);
  const keys = path.join(tmp, 'keys.txt');
  // The flood key gets one request per 1000 s: after its first, every one is over the limit.
  writeFileSync(keys, `${FLOOD_KEY} rate=0.001/s burst=1 name=flood\n${OPEN_KEY} name=open\n`);
  const bodies = { large: await bigPng(), small: Buffer.alloc(1024, 7) };
  const server = await serve(modelPath, { API_KEYS_FILE: keys, BODY_LIMIT: '10mb' });
  try {
    await flood(server.port, server.pid, FLOOD_KEY, bodies.large, 1);
    await flood(server.port, server.pid, OPEN_KEY, bodies.large, 2);
    const cpu = CASES.map(() => [] as number[]);
    const wall = CASES.map(() => [] as number[]);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, c] of CASES.entries()) {
        const r = await flood(server.port, server.pid, c.key, bodies[c.body], c.n);
        if (r.statuses.get(c.status) !== c.n)
          throw new Error(`round ${round}, ${c.name}: unexpected statuses ${JSON.stringify([...r.statuses])}`);
        cpu[i]!.push(r.cpuMsPer);
        wall[i]!.push(r.wallMsPer);
        console.error(`round ${round}, ${c.name}: ${r.cpuMsPer.toFixed(3)} ms server CPU each`);
      }
    }
    console.log(
      `\nServer CPU per request to /classify (PNG of ${(bodies.large.length / 1024 ** 2).toFixed(1)} MB), ${CONCURRENCY} in flight, ${ROUNDS} interleaved rounds, medians (model: ${note})\n`,
    );
    console.log('| case | requests/round | server CPU ms/req | wall ms/req | CPU vs 200 |');
    console.log('|---|---|---|---|---|');
    const accepted = med(cpu[CASES.length - 1]!);
    for (const [i, c] of CASES.entries())
      console.log(
        `| ${c.name} | ${c.n} | ${med(cpu[i]!).toFixed(3)} | ${med(wall[i]!).toFixed(2)} | ${((100 * med(cpu[i]!)) / accepted).toFixed(1)}% |`,
      );
  } finally {
    await server.stop();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
