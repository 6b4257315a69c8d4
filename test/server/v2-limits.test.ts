// Amplification and parser limits on v2 infer: each output once, a response-size cap checked before inference, bounded nesting, short echoes.
import { Writable } from 'node:stream';
import t from 'tap';
import { testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const lines: string[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _enc, cb) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    cb();
  },
});
const app = await testApp(t, { modelPath, maxResponseBytes: 4096, logger: true, logLevel: 'info', logStream });
const infer = '/v2/models/mixer-test/infer';
const pixels = (n: number) => ({
  name: 'pixels',
  datatype: 'UINT8',
  shape: [n, 32, 32, 3],
  data: Array.from({ length: n * 3072 }, (_, i) => i % 256),
});
const imagesRun = async (): Promise<number> =>
  Number(/mixer_images_classified_total(?:\{[^}]*\})? (\d+)/.exec((await app.inject('/metrics')).body)?.[1] ?? 0);

t.test('an output asked for twice is a 400, in JSON and binary requests', async (t) => {
  const r = await app.inject({
    method: 'POST',
    url: infer,
    payload: { inputs: [pixels(1)], outputs: [{ name: 'logits' }, { name: 'logits' }] },
  });
  t.equal(r.statusCode, 400);
  t.match(r.json(), { code: 'BAD_TENSOR', message: /"logits" is requested more than once/ });
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], parameters: { binary_data_size: 3072 } }],
      outputs: Array.from({ length: 20_000 }, () => ({ name: 'probabilities', parameters: { binary_data: true } })),
    }),
  );
  const before = await imagesRun();
  const b = await app.inject({
    method: 'POST',
    url: infer,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    payload: Buffer.concat([header, Buffer.alloc(3072)]),
  });
  t.equal(b.statusCode, 400, '20,000 copies of one output: 400');
  t.ok(b.body.length < 1024, `small answer (${b.body.length} B)`);
  t.equal(await imagesRun(), before, 'no inference ran');
  const ok = await app.inject({
    method: 'POST',
    url: infer,
    payload: { inputs: [pixels(1)], outputs: [{ name: 'logits' }, { name: 'probabilities' }] },
  });
  t.equal(ok.statusCode, 200, 'both outputs once each is fine');
});

t.test('a response over MAX_RESPONSE_BYTES is refused with RESPONSE_TOO_LARGE before inference', async (t) => {
  const before = await imagesRun();
  // 16 images × 10 classes × 2 JSON outputs can take ~7.7 kB, over the 4096 set here.
  const r = await app.inject({ method: 'POST', url: infer, payload: { inputs: [pixels(16)] } });
  t.equal(r.statusCode, 400);
  t.match(r.json(), {
    statusCode: 400,
    code: 'RESPONSE_TOO_LARGE',
    error: r.json().message,
    message: /more than the 4096 allowed \(see MAX_RESPONSE_BYTES\)/,
  });
  t.equal(await imagesRun(), before, 'refused before any inference');
  const small = await app.inject({
    method: 'POST',
    url: infer,
    payload: { inputs: [pixels(2)], outputs: [{ name: 'probabilities' }] },
  });
  t.equal(small.statusCode, 200, 'a response under the cap is served');
  t.ok(small.body.length <= 4096, `and fits it (${small.body.length} B)`);
  t.equal(await imagesRun(), before + 2);
});

t.test('data nested 10,000 levels deep is a 400 without a stack overflow or a logged stack trace', async (t) => {
  const depth = 10_000;
  const payload = `{"inputs":[{"name":"pixels","datatype":"UINT8","shape":[1,32,32,3],"data":${'['.repeat(depth)}1${']'.repeat(depth)}}]}`;
  lines.length = 0;
  const t0 = performance.now();
  const r = await app.inject({ method: 'POST', url: infer, headers: { 'content-type': 'application/json' }, payload });
  t.equal(r.statusCode, 400);
  t.match(r.json(), { code: 'BAD_TENSOR', message: /nested deeper than its 4 dimensions/ });
  t.ok(performance.now() - t0 < 2000, 'answered quickly');
  t.notOk(
    lines.some((l) => /Maximum call stack|"level":50/.test(l)),
    'no error line, no stack trace',
  );
  // Properly nested data (the shape's 4 levels) still works.
  const nested = Array.from({ length: 1 }, () =>
    Array.from({ length: 32 }, () => Array.from({ length: 32 }, () => [1, 2, 3])),
  );
  const ok = await app.inject({
    method: 'POST',
    url: infer,
    payload: {
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], data: nested }],
      outputs: [{ name: 'logits' }],
    },
  });
  t.equal(ok.statusCode, 200);
  const extra = await app.inject({
    method: 'POST',
    url: infer,
    payload: { inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], data: [...nested.flat(3), 4] }] },
  });
  t.match(extra.json(), { code: 'BAD_TENSOR', message: /needs 3072 values, got 3073/ });
});

t.test('echoes of client input are cut short', async (t) => {
  const big = 'x'.repeat(1 << 20);
  const r = await app.inject({ method: 'POST', url: infer, payload: { inputs: [{ ...pixels(1), name: big }] } });
  t.equal(r.statusCode, 400);
  t.ok(r.body.length < 512, `1 MB input name → ${r.body.length} B error`);
  t.match(r.json().message, /unknown input "x{64}…\(1048576 chars\)"/);
  const v = await app.inject({
    method: 'POST',
    url: infer,
    payload: { inputs: [{ ...pixels(1), data: [big, ...pixels(1).data.slice(1)] }] },
  });
  t.ok(v.body.length < 512, `1 MB value → ${v.body.length} B error`);
  const model = await app.inject({
    method: 'POST',
    url: `/v2/models/${'m'.repeat(5000)}/infer`,
    payload: { inputs: [pixels(1)] },
  });
  t.equal(model.statusCode, 404);
  t.ok(model.body.length < 512, `5 kB model name → ${model.body.length} B error`);
  const path = await app.inject({ method: 'GET', url: `/${'p'.repeat(15_000)}` });
  t.equal(path.statusCode, 404);
  t.ok(path.body.length < 512, `15 kB path → ${path.body.length} B error`);
});

t.test('X-Request-Id: kept when it matches [A-Za-z0-9._:-]{1,128}, replaced otherwise', async (t) => {
  const keep = 'abc.DEF:09_-x';
  t.equal((await app.inject({ url: '/healthz', headers: { 'x-request-id': keep } })).headers['x-request-id'], keep);
  t.equal(
    (await app.inject({ url: '/healthz', headers: { 'x-request-id': 'a'.repeat(128) } })).headers['x-request-id'],
    'a'.repeat(128),
  );
  for (const bad of ['a'.repeat(129), 'i'.repeat(8000), 'has space', 'new\\nline', '<script>', '']) {
    const id = (await app.inject({ url: '/healthz', headers: { 'x-request-id': bad } })).headers[
      'x-request-id'
    ] as string;
    t.not(id, bad);
    t.match(id, /^[0-9a-f-]{36}$/, `${JSON.stringify(bad.slice(0, 20))} → a fresh UUID`);
  }
});
