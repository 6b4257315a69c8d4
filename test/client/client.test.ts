// The typed client against a real server on a loopback port: classify with paths/Buffers/Blobs, binary infer, ready, models, errors, retries on 503, timeouts; its import loads no native engine.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DATATYPE_BYTES } from 'onnx-mixer-client';
import t, { type Test } from 'tap';
import { Client, MixerError, type Prediction } from '../../src/index.js';
import { ELEM_TYPES, type V2Datatype } from '../../src/onnx/types.js';
import { Session } from '../../src/runtime/session.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';

const root = path.resolve(import.meta.dirname, '../..');

/** Native libraries and CommonJS modules a fresh process has loaded after importing `spec`. */
function loadedAfter(spec: string): { cjs: string[]; shared: string[] } {
  const code = `import(${JSON.stringify(spec)}).then(async (m) => {
    if (typeof m.Client !== 'function' && ${JSON.stringify(spec)} === 'onnx-mixer') throw new Error('no Client export');
    const req = (await import('node:module')).createRequire(import.meta.url);
    console.log(JSON.stringify({ cjs: Object.keys(req.cache), shared: process.report.getReport().sharedObjects }));
  });`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { cjs: string[]; shared: string[] };
}

t.test("import { Client } from 'onnx-mixer' (package exports) loads neither onnxruntime-node nor sharp", async (t) => {
  const engine = /onnxruntime|sharp|libvips/;
  const client = loadedAfter('onnx-mixer');
  t.same(
    client.cjs.filter((f) => engine.test(f)),
    [],
    'no onnxruntime-node or sharp module',
  );
  t.same(
    client.shared.filter((f) => engine.test(f)),
    [],
    'no onnxruntime or libvips shared library',
  );
  // The same probe sees them when the server is imported, so it can tell.
  const server = loadedAfter('./dist/server/app.js');
  t.ok(
    server.cjs.some((f) => /onnxruntime-node/.test(f)) && server.shared.some((f) => /onnxruntime/.test(f)),
    'the probe detects onnxruntime',
  );
  t.ok(
    server.cjs.some((f) => /sharp/.test(f)),
    'the probe detects sharp',
  );
});

t.test("the client's datatype table names the server's v2 datatypes with the same element sizes", async (t) => {
  const server = Object.fromEntries(Object.values(ELEM_TYPES).map((e) => [e.v2, e.bytes]));
  t.same({ ...DATATYPE_BYTES }, server);
  // Both ways at compile time too: each side's datatype is one of the other's.
  const a: V2Datatype[] = Object.keys(DATATYPE_BYTES) as (keyof typeof DATATYPE_BYTES)[];
  const b: (keyof typeof DATATYPE_BYTES)[] = Object.values(ELEM_TYPES).map((e) => e.v2);
  t.equal(a.length, b.length);
});

const dir = t.testdir();
const modelPath = writeModel(dir);
const app = await testApp(t, { modelPath, maxBatch: 4 });
const { url: baseUrl } = await listenLocal(app);
const client = new Client({ baseUrl, timeoutMs: 20_000 });

/** Same labels in the same order, probabilities equal up to float32 batch-size noise. */
const same = (t: Test, a: Prediction[], b: Prediction[], msg: string): void => {
  t.same(
    a.map((p) => [p.label, p.index]),
    b.map((p) => [p.label, p.index]),
    msg,
  );
  t.ok(
    a.every((p, i) => Math.abs(p.probability - b[i]!.probability) < 1e-5),
    `${msg}: probabilities`,
  );
};

t.test('classify: a path, a Buffer, a Uint8Array and a Blob give what curl-style multipart gives', async (t) => {
  const png = await image('png', 32, 32, noise(32, 32, 11));
  const jpg = await image('jpeg', 40, 30, noise(40, 30, 12));
  const file = path.join(dir, 'cat.png');
  writeFileSync(file, png);
  const r = await client.classify([file, jpg, new Uint8Array(png), new Blob([jpg])], { top: 3 });
  t.equal(r.model.name, 'mixer-test');
  t.same(
    r.results.map((x) => x.filename),
    ['cat.png', 'image-2', 'image-3', 'image-4'],
  );
  same(t, r.results[0]!.predictions, r.results[2]!.predictions, 'path and bytes of one image agree');
  same(t, r.results[1]!.predictions, r.results[3]!.predictions, 'Buffer and Blob of one image agree');
  t.equal(r.results[0]!.predictions.length, 3);
  // The reference: the same upload by hand.
  const form = new FormData();
  form.append('image', new Blob([png]), 'x.png');
  const ref = (await (await fetch(`${baseUrl}/classify?top=3`, { method: 'POST', body: form })).json()) as {
    results: { predictions: unknown }[];
  };
  same(
    t,
    r.results[0]!.predictions,
    ref.results[0]!.predictions as Prediction[],
    'equals a hand-made multipart upload',
  );
  const one = await client.classify(png, { model: 'mixer-test', version: 1, top: 1 });
  t.equal(one.results[0]!.predictions.length, 1);
});

t.test(
  'infer: typed arrays in, typed arrays out over the binary extension; equals a direct onnxruntime run',
  async (t) => {
    const n = 3;
    const pixels = new Uint8Array(noise(32, 32 * n, 4));
    const r = await client.infer('mixer-test', { pixels: { data: pixels, shape: [n, 32, 32, 3] } }, { id: 'c-1' });
    t.equal(r.id, 'c-1');
    t.equal(r.model_version, '1');
    const s = await Session.create(modelPath);
    const ref = await s.run({ pixels: { dtype: 'uint8', dims: [n, 32, 32, 3], data: pixels } });
    await s.release();
    for (const name of ['logits', 'probabilities']) {
      const o = r.outputs[name]!;
      t.ok(o.data instanceof Float32Array, `${name} is a Float32Array`);
      t.same([o.datatype, o.shape], ['FP32', [n, 10]]);
      const want = ref[name]!.data as Float32Array;
      t.ok(
        (o.data as Float32Array).every((v, i) => Math.abs(v - want[i]!) < 1e-5),
        `${name} matches`,
      );
    }
    const top = await client.infer(
      'mixer-test',
      { pixels: { data: pixels.subarray(0, 3072), shape: [1, 32, 32, 3] } },
      { version: 1, outputs: [{ name: 'probabilities', classification: 2 }] },
    );
    t.same(Object.keys(top.outputs), ['probabilities']);
    t.equal(top.outputs['probabilities']!.datatype, 'BYTES');
    t.match((top.outputs['probabilities']!.data as string[])[0], /^[0-9.e-]+:\d+:\w+$/);
  },
);

t.test('ready and models', async (t) => {
  t.equal(await client.ready(), true);
  t.equal(await client.ready('mixer-test'), true);
  const m = await client.models();
  t.equal(m.default, 'mixer-test');
  t.match(
    m.models.map((x) => [x.name, x.versions]),
    [['mixer-test', [{ version: '1', state: 'READY', reason: '' }]]],
  );
});

t.test('errors carry the server code and message', async (t) => {
  const nope = await client.classify(Buffer.from('not an image')).catch((e: unknown) => e);
  t.ok(nope instanceof MixerError);
  t.match(nope, { status: 400, code: 'NOT_AN_IMAGE', message: /not an image/ });
  t.ok((nope as MixerError).requestId);
  t.match(await client.infer('nope', { x: new Float32Array(1) }).catch((e: unknown) => e), {
    status: 404,
    code: 'MODEL_NOT_FOUND',
    message: /no model "nope"/,
  });
  t.match(await client.infer('mixer-test', { pixels: new Float32Array(4) }).catch((e: unknown) => e), {
    status: 400,
    code: 'BAD_TENSOR',
    message: /must be UINT8/,
  });
  t.match(await new Client({ baseUrl: 'http://127.0.0.1:1', retries: 0 }).ready().catch((e: unknown) => e), {
    code: 'NETWORK',
  });
});

/** A loopback server answering `answers` in turn (status, headers), recording request headers. */
async function scripted(
  t: Test,
  answers: { status: number; headers?: Record<string, string>; body?: string; hang?: boolean }[],
) {
  const seen: { at: number; headers: http.IncomingHttpHeaders }[] = [];
  const srv = http.createServer((req, res) => {
    seen.push({ at: performance.now(), headers: req.headers });
    const a = answers[Math.min(seen.length - 1, answers.length - 1)]!;
    req.resume();
    if (a.hang) return;
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(a.body ?? '{"ready":true}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, seen };
}

t.test('503 is retried after Retry-After; the API key goes as a Bearer token; timeouts are TIMEOUT', async (t) => {
  const busy = {
    status: 503,
    headers: { 'retry-after': '0.3' },
    body: '{"statusCode":503,"code":"OVERLOADED","error":"Service Unavailable","message":"the queue is full"}',
  };
  const s = await scripted(t, [busy, busy, { status: 200, body: '{"default":null,"models":[]}' }]);
  const c = new Client({ baseUrl: s.url, apiKey: 'sekret', retries: 2 });
  t.same(await c.models(), { default: null, models: [] });
  t.equal(s.seen.length, 3);
  t.ok(
    s.seen[1]!.at - s.seen[0]!.at >= 280 && s.seen[2]!.at - s.seen[1]!.at >= 280,
    'waited Retry-After between attempts',
  );
  t.ok(s.seen.every((x) => x.headers.authorization === 'Bearer sekret'));
  const s2 = await scripted(t, [busy]);
  t.match(await new Client({ baseUrl: s2.url, retries: 1 }).models().catch((e: unknown) => e), {
    status: 503,
    code: 'OVERLOADED',
    message: 'the queue is full',
  });
  t.equal(s2.seen.length, 2, 'one retry, then the error');
  const s3 = await scripted(t, [{ status: 200, hang: true }]);
  const t0 = performance.now();
  t.match(await new Client({ baseUrl: s3.url, timeoutMs: 300 }).models().catch((e: unknown) => e), { code: 'TIMEOUT' });
  t.ok(performance.now() - t0 < 3000);
});
