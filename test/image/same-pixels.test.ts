// Training and serving prepare a file identically: the image-folder loader (worker threads, decode cache) gives the
// same bytes as POST /classify of a real server and `mixer predict`, for PNG, JPEG and WebP files of many kinds.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { cachePath } from '../../src/data/decode-cache.js';
import { loadImageFolder } from '../../src/data/folder.js';
import { Builder, Graph, serializeModel } from '../../src/onnx/index.js';
import { mixerCli } from '../fixtures/cli.js';
import { listenLocal } from '../fixtures/listen.js';
import { zlibBombPng } from '../fixtures/png-bombs.js';
import { buildAppWith } from '../fixtures/server.js';

const SIZE = 16;
const PER = SIZE * SIZE * 3;

/** A smooth w×h×c gradient with some texture (resampling differences show in it). */
function gradient(w: number, h: number, c: number): Buffer {
  const px = Buffer.alloc(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) px[(y * w + x) * c + k] = (x * 7 + y * 3 + k * 50 + ((x * y) % 13)) & 255;
  return px;
}

function noise(n: number, seed: number): Buffer {
  const px = Buffer.alloc(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    px[i] = s >>> 24;
  }
  return px;
}

const raw = (w: number, h: number, c: 1 | 2 | 3 | 4, px?: Buffer) =>
  sharp(px ?? gradient(w, h, c), { raw: { width: w, height: h, channels: c } });

/** File name → bytes; names sort in this order (the loader lists a class folder sorted). */
async function files(): Promise<[string, Buffer][]> {
  return [
    ['01-rgb-nonsquare.png', await raw(50, 40, 3).png().toBuffer()],
    ['02-rgb-at-size.png', await raw(SIZE, SIZE, 3, noise(PER, 3)).png().toBuffer()], // the plain-PNG fast path
    [
      '03-rgba.png',
      await raw(40, 50, 4, noise(40 * 50 * 4, 4))
        .png()
        .toBuffer(),
    ],
    ['04-grey.png', await raw(60, 45, 1).png().toBuffer()],
    [
      '05-grey-alpha.png',
      await raw(33, 35, 2, noise(33 * 35 * 2, 5))
        .png()
        .toBuffer(),
    ],
    ['06-16-bit.png', await raw(45, 45, 3).toColourspace('rgb16').png().toBuffer()],
    ['07-palette.png', await raw(64, 48, 3).png({ palette: true }).toBuffer()],
    ['08-exif-rotated.jpg', await raw(80, 40, 3).jpeg().withMetadata({ orientation: 6 }).toBuffer()],
    ['09-cmyk.jpg', await raw(70, 50, 3).toColourspace('cmyk').jpeg().toBuffer()],
    ['10-display-p3.jpg', await raw(64, 64, 3).jpeg().withIccProfile('p3').toBuffer()],
    ['11-large-nonsquare.jpeg', await raw(2400, 1350, 3).jpeg({ quality: 85 }).toBuffer()],
    [
      '12-alpha.webp',
      await raw(40, 40, 4, noise(40 * 40 * 4, 6))
        .webp({ lossless: true })
        .toBuffer(),
    ],
    ['13-lossy.webp', await raw(90, 60, 3).webp({ quality: 80 }).toBuffer()],
  ];
}

/** A model whose "class scores" are its input pixels (uint8 [N,16,16,3] → float32 [N,768]): predictions carry them. */
function echoModel(): Uint8Array {
  const g = new Graph('echo');
  const b = new Builder(g);
  const x = g.input('pixels', 'uint8', ['N', SIZE, SIZE, 3]);
  g.output(b.reshape(b.cast(x, 'float32'), ['N', PER], 'scores'));
  return serializeModel(g);
}

/** Pixels back from top-PER predictions (index → value). */
function fromPredictions(preds: { index: number; probability: number }[]): Buffer {
  const px = Buffer.alloc(PER);
  if (preds.length !== PER) throw new Error(`expected ${PER} predictions, got ${preds.length}`);
  for (const p of preds) px[p.index] = p.probability;
  return px;
}

/** The key the previous release gave a decoded file (it named neither the decoder version nor the sharp build). */
const previousKey = (bytes: Uint8Array, size: number): string =>
  createHash('sha256')
    .update(
      `${createHash('sha256').update(bytes).digest('hex')}\n${size}\nv1;fit=cover;position=centre;flatten=ffffff;srgb;uchar`,
    )
    .digest('hex');

t.test('the same file gives byte-identical pixels for training, POST /classify and mixer predict', async (t) => {
  const dir = t.testdir();
  const kinds = await files();
  const folder = path.join(dir, 'folder');
  mkdirSync(path.join(folder, 'a'), { recursive: true });
  mkdirSync(path.join(folder, 'b'), { recursive: true });
  for (const [name, bytes] of kinds) writeFileSync(path.join(folder, 'a', name), bytes);
  writeFileSync(
    path.join(folder, 'b', 'only.png'),
    await raw(20, 20, 3, noise(20 * 20 * 3, 8))
      .png()
      .toBuffer(),
  );
  // Files the service refuses are refused by the trainer too, for the same reason (skipped, listed in the report).
  const jpeg = await raw(64, 64, 3).jpeg().toBuffer();
  const refused: [string, Buffer, RegExp][] = [
    ['x-bomb.png', await zlibBombPng(SIZE, SIZE, 64), /is not a valid PNG: its compressed image data inflates/],
    ['x-truncated.jpg', jpeg.subarray(0, jpeg.length - 200), /could not be decoded: .*premature end/i],
  ];
  for (const [name, bytes] of refused) writeFileSync(path.join(folder, 'b', name), bytes);

  // A cache left by an earlier decoder (here: the previous release's key, holding other pixels) must not be served.
  const cacheDir = path.join(dir, 'cache');
  for (const [, bytes] of kinds) {
    const stale = cachePath(cacheDir, previousKey(bytes, SIZE));
    mkdirSync(path.dirname(stale), { recursive: true });
    writeFileSync(stale, Buffer.alloc(PER, 7));
  }

  // Training: the image-folder loader, on its worker threads, through the decode cache (cold, then warm).
  const opts = { size: SIZE, cacheDir, valFraction: 0, threads: 2 };
  const cold = await loadImageFolder(folder, opts);
  t.same(
    cold.report.skipped.map((s) => path.basename(s.file)),
    refused.map(([name]) => name),
    'every kind decodes; the refused files are skipped',
  );
  t.equal(cold.report.cacheHits, 0, 'nothing served from a cache another decoder wrote');
  const warm = await loadImageFolder(folder, opts);
  t.equal(warm.report.cacheHits, kinds.length + 1, 'the second load is served from the cache');
  const trained = (i: number): Buffer => Buffer.from(cold.train.images.subarray(i * PER, (i + 1) * PER));
  t.same(Buffer.from(warm.train.images), Buffer.from(cold.train.images), 'cache hits give the decoded pixels');

  // Serving: a real server on a loopback port, one multipart request with every file.
  const repo = path.join(dir, 'repo');
  mkdirSync(path.join(repo, 'echo', '1'), { recursive: true });
  writeFileSync(path.join(repo, 'echo', '1', 'model.onnx'), echoModel());
  writeFileSync(path.join(repo, 'echo', 'config.json'), JSON.stringify({ softmax: false }));
  const app = await buildAppWith({ modelRepository: repo, logger: false, threads: 1 });
  t.teardown(() => app.close());
  const { port } = await listenLocal(app);
  const form = new FormData();
  for (const [name, bytes] of kinds) form.append('image', new Blob([bytes]), name);
  const res = await fetch(`http://127.0.0.1:${port}/classify?top=${PER}`, {
    method: 'POST',
    body: form,
    signal: AbortSignal.timeout(60_000),
  });
  t.equal(res.status, 200);
  const served = (await res.json()) as { results: { filename: string; predictions: [] }[] };
  for (const [i, [name, bytes, reason]] of refused.entries()) {
    const r = await fetch(`http://127.0.0.1:${port}/classify`, {
      method: 'POST',
      headers: { 'content-type': name.endsWith('.png') ? 'image/png' : 'image/jpeg' },
      body: bytes,
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await r.json()) as { code: string; message: string };
    t.same([r.status, body.code], [400, 'CORRUPT_IMAGE'], `${name}: 400 CORRUPT_IMAGE`);
    t.match(body.message, reason);
    t.match(cold.report.skipped[i]!.reason, reason, `${name}: the trainer skips it for the same reason`);
  }

  // The CLI: mixer predict on the same files with the same model.
  const model = path.join(repo, 'echo', '1', 'model.onnx');
  const config = path.join(repo, 'echo', 'config.json');
  const paths = kinds.map(([name]) => path.join(folder, 'a', name));
  const cli = await mixerCli({ ORT_DISABLE_TELEMETRY: '1' })(
    'predict',
    '--model',
    model,
    '--config',
    config,
    '--top',
    String(PER),
    '--json',
    ...paths,
  );
  t.equal(cli.code, 0, cli.stderr);
  // JSON lines, one per file, in input order.
  const predicted = {
    results: cli.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { predictions: [] }),
  };

  for (const [i, [name]] of kinds.entries()) {
    t.equal(served.results[i]!.filename, name);
    t.same(fromPredictions(served.results[i]!.predictions), trained(i), `${name}: POST /classify = training`);
    t.same(fromPredictions(predicted.results[i]!.predictions), trained(i), `${name}: mixer predict = training`);
  }
});
