// app.inject tests of POST /classify: multipart (one or many parts, any field name), raw image/* bodies, ?top, every format.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CIFAR10_LABELS } from '../../src/model/index.js';
import { image, multipart, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const app = await testApp(t, { modelPath, maxBatch: 8, batchDelayMs: 1 });
const sha256 = createHash('sha256').update(readFileSync(modelPath)).digest('hex');

interface Result {
  filename: string | null;
  predictions: { label: string; index: number; probability: number }[];
}

t.test('multipart with one image', async (t) => {
  const png = await image('png');
  const r = await app.inject({
    method: 'POST',
    url: '/classify',
    ...multipart([{ filename: 'cat.png', type: 'image/png', data: png }]),
  });
  t.equal(r.statusCode, 200, r.body);
  t.match(r.headers['content-type'], /application\/json/);
  t.ok(r.headers['x-request-id'], 'request id echoed');
  const j = r.json() as { model: { name: string; sha256: string }; results: Result[] };
  t.same(j.model, { name: 'mixer-test', version: '1', sha256 });
  t.equal(j.results.length, 1);
  const [res] = j.results;
  t.equal(res!.filename, 'cat.png');
  t.equal(res!.predictions.length, 5, 'top 5 by default');
  const ps = res!.predictions.map((p) => p.probability);
  t.same(
    ps,
    [...ps].sort((a, b) => b - a),
    'by descending probability',
  );
  for (const p of res!.predictions) t.equal(p.label, CIFAR10_LABELS[p.index]);
});

t.test('several parts keep upload order; non-file fields are ignored', async (t) => {
  const body = multipart([
    { field: 'a', filename: 'one.png', data: await image('png', 32, 32) },
    { field: 'note', data: 'just a text field' },
    { field: 'b', filename: 'two.jpg', type: 'image/jpeg', data: await image('jpeg', 50, 40) },
    { field: 'image', filename: 'three.webp', data: await image('webp', 20, 64) },
  ]);
  const r = await app.inject({ method: 'POST', url: '/classify?top=2', ...body });
  t.equal(r.statusCode, 200, r.body);
  const results = (r.json() as { results: Result[] }).results;
  t.same(
    results.map((x) => x.filename),
    ['one.png', 'two.jpg', 'three.webp'],
  );
  for (const x of results) t.equal(x.predictions.length, 2);
});

t.test('the same image gives the same answer alone, in a batch, raw or multipart', async (t) => {
  const png = await image('png');
  const raw = await app.inject({
    method: 'POST',
    url: '/classify?top=10',
    headers: { 'content-type': 'image/png' },
    payload: png,
  });
  t.equal(raw.statusCode, 200, raw.body);
  const rawRes = (raw.json() as { results: Result[] }).results[0]!;
  t.equal(rawRes.filename, null, 'a raw body has no filename');
  const many = await app.inject({
    method: 'POST',
    url: '/classify?top=10',
    ...multipart([1, 2, 3, 4, 5].map((i) => ({ filename: `${i}.png`, data: png }))),
  });
  for (const res of (many.json() as { results: Result[] }).results) {
    t.same(
      res.predictions.map((p) => p.index),
      rawRes.predictions.map((p) => p.index),
    );
    res.predictions.forEach((p, i) => t.ok(Math.abs(p.probability - rawRes.predictions[i]!.probability) < 1e-5));
  }
  const sum = rawRes.predictions.reduce((s, p) => s + p.probability, 0);
  t.ok(Math.abs(sum - 1) < 1e-4, 'all 10 probabilities sum to 1');
});

t.test('?top is capped at the number of classes and validated', async (t) => {
  const png = await image('png');
  const r = await app.inject({
    method: 'POST',
    url: '/classify?top=50',
    headers: { 'content-type': 'image/png' },
    payload: png,
  });
  t.equal((r.json() as { results: Result[] }).results[0]!.predictions.length, 10);
  for (const top of ['0', 'abc', '-1']) {
    const bad = await app.inject({
      method: 'POST',
      url: `/classify?top=${top}`,
      headers: { 'content-type': 'image/png' },
      payload: png,
    });
    t.equal(bad.statusCode, 400, `top=${top}`);
    t.equal(bad.json().code, 'BAD_REQUEST');
  }
});

t.test('every accepted format, raw and multipart', async (t) => {
  for (const f of ['png', 'jpeg', 'webp', 'gif', 'avif', 'tiff'] as const) {
    const bytes = await image(f, 48, 36);
    const raw = await app.inject({
      method: 'POST',
      url: '/classify?top=1',
      headers: { 'content-type': `image/${f}` },
      payload: bytes,
    });
    t.equal(raw.statusCode, 200, `${f} raw: ${raw.body}`);
    const mp = await app.inject({
      method: 'POST',
      url: '/classify?top=1',
      ...multipart([{ filename: `x.${f}`, data: bytes }]),
    });
    t.equal(mp.statusCode, 200, `${f} multipart: ${mp.body}`);
  }
});
