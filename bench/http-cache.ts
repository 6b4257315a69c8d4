// The response cache in the HTTP benchmark: /classify with 50% repeats against a cached and an uncached copy of the model, interleaved, with the hit rate.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Request } from 'autocannon';
import { CLI, med } from './common.js';
import { load, withServer } from './http-harness.js';

export interface CacheFigures {
  on: number;
  off: number;
  /** Medians over the rounds: req/s with the cache on and off, their ratio, and the hit rate of the cached model. */
  ratio: number;
  hitRate: number;
  errors: number;
  rounds: number;
  seconds: number;
}

/**
 * Every other request repeats one popular upload; the rest are unique (the same image under a new file name, which
 * is part of the key and of the answer, so each costs a full decode and run). One server with a repository of the
 * same model twice, `cached` (response_cache on) and `plain`; CACHE_BYTES 64 MiB.
 */
export async function cacheWorkload(
  tmp: string,
  modelPath: string,
  png: Buffer,
  o: { connections: number; seconds: number; rounds: number; serveArgs: string[] },
): Promise<CacheFigures> {
  const repo = path.join(tmp, 'cache-repo');
  for (const [name, config] of [
    ['cached', { response_cache: { enable: true } }],
    ['plain', {}],
  ] as const) {
    mkdirSync(path.join(repo, name, '1'), { recursive: true });
    copyFileSync(modelPath, path.join(repo, name, '1', 'model.onnx'));
    writeFileSync(path.join(repo, name, 'config.json'), JSON.stringify(config));
  }
  const boundary = '----mixerbench';
  const head = (filename: string) =>
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`,
    );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const repeated = Buffer.concat([head('popular.png'), png, tail]);
  let n = 0;
  // autocannon calls setupRequest before each request (its typings leave it off the requests' type).
  type Setup = Request & { setupRequest: (req: Request) => Request };
  const request = (model: string): Setup => ({
    method: 'POST',
    path: `/classify?model=${model}`,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    setupRequest: (req: Request) => {
      n++;
      return { ...req, body: n % 2 === 0 ? repeated : Buffer.concat([head(`u${n}.png`), png, tail]) };
    },
  });
  const args = [CLI, 'serve', '--model-repository', repo, '--cache-bytes', '64mb', ...o.serveArgs];
  return withServer(args, 'cache', async (url) => {
    const counts = async (): Promise<{ hits: number; misses: number }> => {
      const text = await fetch(`${url}/metrics`).then((r) => r.text());
      const value = (name: string) =>
        Number(new RegExp(`^${name}\\{model="cached",version="1"\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
      return { hits: value('mixer_cache_hits_total'), misses: value('mixer_cache_misses_total') };
    };
    await load(url, request('plain'), o.connections, 1); // warm up
    const on: number[] = [];
    const off: number[] = [];
    const hitRates: number[] = [];
    let errors = 0;
    for (let r = 0; r < o.rounds; r++) {
      const c0 = await counts();
      const a = await load(url, request('cached'), o.connections, o.seconds);
      const c1 = await counts();
      const b = await load(url, request('plain'), o.connections, o.seconds);
      on.push(a.rate);
      off.push(b.rate);
      errors += a.errors + b.errors;
      const hits = c1.hits - c0.hits;
      hitRates.push(hits / Math.max(1, hits + c1.misses - c0.misses));
    }
    return {
      on: med(on),
      off: med(off),
      ratio: med(on.map((x, i) => x / (off[i] ?? NaN))),
      hitRate: med(hitRates),
      errors,
      rounds: o.rounds,
      seconds: o.seconds,
    };
  });
}
