// End to end on a real port: JPEG/PNG/WebP/GIF uploads, a CIFAR-10 test image against a direct model run, shared batches, autocannon smoke.
import autocannon from 'autocannon';
import sharp from 'sharp';
import t from 'tap';
import { imageAt, loadCifar10 } from '../../src/data/index.js';
import { Session } from '../../src/runtime/session.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, multipart, noise, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir(), 'tiny', 3);
const app = await testApp(t, { modelPath, maxBatch: 16, batchDelayMs: 5 });
const { url } = await listenLocal(app);

interface Classified {
  results: { filename: string | null; predictions: { label: string; index: number; probability: number }[] }[];
}

async function postFiles(files: { name: string; type: string; data: Buffer }[], query = ''): Promise<Response> {
  const form = new FormData();
  for (const f of files) form.append('image', new Blob([f.data], { type: f.type }), f.name);
  return fetch(`${url}/classify${query}`, { method: 'POST', body: form });
}

/** A CIFAR-10 test image (the data cache, when present) or a synthetic 32×32 one. */
async function testImage(): Promise<{ pixels: Uint8Array; source: string }> {
  try {
    const { test } = await loadCifar10({ fetch: false });
    return { pixels: new Uint8Array(imageAt(test, 0)), source: 'CIFAR-10 test image 0' };
  } catch {
    return { pixels: new Uint8Array(noise(32, 32, 11)), source: 'synthetic image (CIFAR-10 cache absent)' };
  }
}

t.test('JPEG, PNG, WebP and GIF files over HTTP in one request', async (t) => {
  const files = await Promise.all(
    (['jpeg', 'png', 'webp', 'gif'] as const).map(async (f) => ({
      name: `photo.${f}`,
      type: `image/${f}`,
      data: await image(f, 64, 48),
    })),
  );
  const r = await postFiles(files, '?top=3');
  t.equal(r.status, 200);
  const j = (await r.json()) as Classified;
  t.same(
    j.results.map((x) => x.filename),
    ['photo.jpeg', 'photo.png', 'photo.webp', 'photo.gif'],
  );
  for (const x of j.results) t.equal(x.predictions.length, 3);
});

t.test('served top-1 for a CIFAR-10 test image equals a direct model run', async (t) => {
  const { pixels, source } = await testImage();
  t.comment(source);
  const s = await Session.create(modelPath);
  const direct = (await s.run({ pixels: { dtype: 'uint8', dims: [1, 32, 32, 3], data: pixels } }))['probabilities']!
    .data as Float32Array;
  await s.release();
  const want = direct.indexOf(Math.max(...direct));
  const png = await sharp(Buffer.from(pixels), { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toBuffer();
  const r = await postFiles([{ name: 'cifar.png', type: 'image/png', data: png }], '?top=1');
  const top = ((await r.json()) as Classified).results[0]!.predictions[0]!;
  t.equal(top.index, want);
  t.ok(Math.abs(top.probability - direct[want]!) < 1e-5, `probability ${top.probability} vs ${direct[want]}`);
  const raw = await fetch(`${url}/classify?top=1`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: png,
  });
  t.equal(((await raw.json()) as Classified).results[0]!.predictions[0]!.index, want, 'raw body too');
});

async function batchStats(): Promise<{ count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return {
    count: Number(/^mixer_batch_size_count(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1]),
    sum: Number(/^mixer_batch_size_sum(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1]),
  };
}

t.test('concurrent requests are answered correctly and share batches', async (t) => {
  const imgs = await Promise.all(Array.from({ length: 24 }, (_, i) => image('png', 32, 32, noise(32, 32, 100 + i))));
  // Expected answers, one request at a time.
  const expected: number[] = [];
  for (const png of imgs) {
    const r = await fetch(`${url}/classify?top=1`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: png,
    });
    expected.push(((await r.json()) as Classified).results[0]!.predictions[0]!.index);
  }
  const before = await batchStats();
  const rs = await Promise.all(
    imgs.map((png) =>
      fetch(`${url}/classify?top=1`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }),
    ),
  );
  const got = await Promise.all(
    rs.map(async (r) => ((await r.json()) as Classified).results[0]!.predictions[0]!.index),
  );
  t.same(got, expected, 'each answer belongs to its own image');
  const after = await batchStats();
  const runs = after.count - before.count;
  const images = after.sum - before.sum;
  t.equal(images, 24, 'every image went through the batcher once');
  t.ok(runs < 24, `24 images in ${runs} model runs (mean batch ${(images / runs).toFixed(1)})`);
});

t.test('autocannon smoke: 5 s, zero errors', async (t) => {
  const png = await image('png');
  const { payload, headers } = multipart([{ filename: 'x.png', type: 'image/png', data: png }]);
  const r = await autocannon({
    url: `${url}/classify`,
    method: 'POST',
    headers,
    body: payload,
    connections: 8,
    duration: 5,
  });
  t.comment(`${r.requests.average} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms`);
  t.ok(r.requests.total > 0);
  t.equal(r.errors, 0, 'no socket errors');
  t.equal(r.timeouts, 0, 'no timeouts');
  t.equal(r.non2xx, 0, 'no non-2xx');
});
