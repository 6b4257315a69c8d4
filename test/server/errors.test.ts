// app.inject tests of every error: JSON {statusCode, code, error, message}, never a 5xx for bad input, never disturbing a batch.

import type { InjectOptions } from 'fastify';
import t, { type Test } from 'tap';
import { image, multipart, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const app = await testApp(t, {
  modelPath,
  maxBatch: 8,
  batchDelayMs: 5,
  bodyLimit: 64 * 1024,
  maxPixels: 100 * 100,
  maxFiles: 3,
});

type Inject = InjectOptions;

async function expectError(t: Test, req: Inject, status: number, code: string): Promise<void> {
  const r = await app.inject(req);
  t.equal(r.statusCode, status, `${code}: ${r.body}`);
  t.match(r.headers['content-type'], /application\/json/);
  const j = r.json() as Record<string, unknown>;
  t.same(Object.keys(j).sort(), ['code', 'error', 'message', 'statusCode']);
  t.equal(j['statusCode'], status);
  t.equal(j['code'], code);
  t.type(j['message'], 'string');
}

t.test('400: not an image, corrupt, empty, no file part, malformed multipart', async (t) => {
  const png = await image('png');
  await expectError(
    t,
    { method: 'POST', url: '/classify', ...multipart([{ filename: 'notes.txt', data: 'hello, not an image' }]) },
    400,
    'NOT_AN_IMAGE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'image/png' }, payload: png.subarray(0, 70) },
    400,
    'CORRUPT_IMAGE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', ...multipart([{ filename: 'empty.png', data: Buffer.alloc(0) }]) },
    400,
    'EMPTY_IMAGE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'image/png' }, payload: Buffer.alloc(0) },
    400,
    'EMPTY_IMAGE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', ...multipart([{ field: 'note', data: 'no files here' }]) },
    400,
    'NO_IMAGE',
  );
  await expectError(t, { method: 'POST', url: '/classify', ...multipart([]) }, 400, 'NO_IMAGE');
  const broken = {
    payload: Buffer.from('--xx\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc'),
    headers: { 'content-type': 'multipart/form-data; boundary=xx' },
  };
  const r = await app.inject({ method: 'POST', url: '/classify', ...broken });
  t.equal(r.statusCode, 400, `truncated multipart: ${r.body}`);
  t.match(r.json().code, /BAD_MULTIPART|NOT_AN_IMAGE|NO_IMAGE/);
  const many = await app.inject({
    method: 'POST',
    url: '/classify',
    ...multipart([
      { filename: 'ok.png', data: png },
      { filename: 'bad.png', data: 'garbage' },
    ]),
  });
  t.equal(many.statusCode, 400);
  t.match(many.json().message, /"bad\.png"/, 'the message names the bad part');
});

t.test('406 and 415: unsupported media types', async (t) => {
  const png = await image('png');
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'application/json' }, payload: '{"image":"x"}' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'text/xml' }, payload: '<a/>' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'text/plain' }, payload: 'hi' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  await expectError(
    t,
    {
      method: 'POST',
      url: '/classify',
      headers: { 'content-type': 'image/svg+xml' },
      payload: '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
    },
    415,
    'UNSUPPORTED_FORMAT',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'image/png', accept: 'text/html' }, payload: png },
    406,
    'NOT_ACCEPTABLE',
  );
  const ok = await app.inject({
    method: 'POST',
    url: '/classify',
    headers: { 'content-type': 'image/png', accept: 'text/html, application/*;q=0.8' },
    payload: png,
  });
  t.equal(ok.statusCode, 200, 'application/* is acceptable');
});

t.test('413: too many bytes, pixels or files', async (t) => {
  const small = await image('png');
  const big = Buffer.concat([await image('png', 90, 90), Buffer.alloc(70 * 1024)]);
  await expectError(
    t,
    { method: 'POST', url: '/classify', headers: { 'content-type': 'image/png' }, payload: big },
    413,
    'PAYLOAD_TOO_LARGE',
  );
  await expectError(
    t,
    { method: 'POST', url: '/classify', ...multipart([{ filename: 'big.png', data: big }]) },
    413,
    'PAYLOAD_TOO_LARGE',
  );
  const parts = [1, 2, 3].map((i) => ({ filename: `${i}.png`, data: Buffer.alloc(30 * 1024, 1) }));
  await expectError(t, { method: 'POST', url: '/classify', ...multipart(parts) }, 413, 'PAYLOAD_TOO_LARGE');
  await expectError(
    t,
    {
      method: 'POST',
      url: '/classify',
      headers: { 'content-type': 'image/png' },
      payload: await image('png', 101, 100),
    },
    413,
    'TOO_MANY_PIXELS',
  );
  await expectError(
    t,
    {
      method: 'POST',
      url: '/classify',
      ...multipart([1, 2, 3, 4].map((i) => ({ filename: `${i}.png`, data: small }))),
    },
    413,
    'TOO_MANY_FILES',
  );
  const three = await app.inject({
    method: 'POST',
    url: '/classify',
    ...multipart([1, 2, 3].map((i) => ({ filename: `${i}.png`, data: small }))),
  });
  t.equal(three.statusCode, 200, 'MAX_FILES itself is fine');
});

t.test('404: unknown routes and models', async (t) => {
  await expectError(t, { method: 'GET', url: '/nope' }, 404, 'NOT_FOUND');
  await expectError(t, { method: 'GET', url: '/classify' }, 404, 'NOT_FOUND');
  await expectError(t, { method: 'GET', url: '/v2/models/other' }, 404, 'MODEL_NOT_FOUND');
});

t.test('bad requests sharing a batch with good ones do not disturb them', async (t) => {
  const png = await image('png');
  const alone = await app.inject({
    method: 'POST',
    url: '/classify?top=10',
    headers: { 'content-type': 'image/png' },
    payload: png,
  });
  const expected = alone.json().results[0].predictions as { index: number; probability: number }[];
  const bad = [Buffer.from('nope'), png.subarray(0, 80), Buffer.alloc(0), await image('png', 200, 200)];
  const reqs = Array.from({ length: 16 }, (_, i) =>
    app.inject({
      method: 'POST',
      url: '/classify?top=10',
      headers: { 'content-type': 'image/png' },
      payload: i % 2 ? bad[(i >> 1) % bad.length]! : png,
    }),
  );
  const rs = await Promise.all(reqs);
  rs.forEach((r, i) => {
    if (i % 2) t.ok(r.statusCode >= 400 && r.statusCode < 500, `bad request ${i}: ${r.statusCode}`);
    else {
      // Same classes in the same order; probabilities equal up to float rounding (batch size changes the kernels' blocking).
      const got = r.json().results[0].predictions as { index: number; probability: number }[];
      t.same(
        got.map((p) => p.index),
        expected.map((p) => p.index),
        `good request ${i} unaffected`,
      );
      t.ok(got.every((p, k) => Math.abs(p.probability - expected[k]!.probability) < 1e-5));
    }
  });
  const health = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(health.statusCode, 200, 'still ready');
});
