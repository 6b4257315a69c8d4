// tritonclient.http's exact wire formats against a real server: no Content-Type, binary in/out, binary_data false, class_count, gzip both ways, zip bombs, Triton's error field, config and stats extensions.
import http from 'node:http';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { Session } from '../../src/runtime/session.js';
import { listenLocal } from '../fixtures/listen.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const BODY_LIMIT = 1024 * 1024;
const app = await testApp(t, { modelPath, maxBatch: 4, bodyLimit: BODY_LIMIT });
const { port } = await listenLocal(app);
const base = '/v2/models/mixer-test';
const px = (n: number): Uint8Array => new Uint8Array(noise(32, 32 * n, 5));

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One raw HTTP request with exactly these headers (node:http adds only Host and Content-Length, as geventhttpclient does). */
function send(method: string, path: string, headers: Record<string, string | number>, body?: Buffer): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, ...(body ? { 'content-length': body.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** What tritonclient's _get_inference_request builds: JSON, then the binary inputs; the JSON length when there are any. */
function tritonRequest(
  inputs: { name: string; shape: number[]; datatype: string; data: Uint8Array; binary: boolean }[],
  outputs: object[] | null,
  id = '',
): { body: Buffer; jsonSize: number | null } {
  const req: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  if (id !== '') req['id'] = id;
  req['inputs'] = inputs.map((i) =>
    i.binary
      ? { name: i.name, shape: i.shape, datatype: i.datatype, parameters: { binary_data_size: i.data.length } }
      : { name: i.name, shape: i.shape, datatype: i.datatype, data: Array.from(i.data) },
  );
  if (outputs) req['outputs'] = outputs;
  else parameters['binary_data_output'] = true;
  if (Object.keys(parameters).length > 0) req['parameters'] = parameters;
  const json = Buffer.from(JSON.stringify(req));
  const bins = inputs.filter((i) => i.binary).map((i) => Buffer.from(i.data));
  return bins.length === 0
    ? { body: json, jsonSize: null }
    : { body: Buffer.concat([json, ...bins]), jsonSize: json.length };
}

/** The headers tritonclient.http sends for an infer call: no Content-Type; Inference-Header-Content-Length with binary inputs. */
const tritonHeaders = (
  jsonSize: number | null,
  extra: Record<string, string> = {},
): Record<string, string | number> => ({
  'user-agent': 'geventhttpclient',
  ...(jsonSize !== null ? { 'inference-header-content-length': jsonSize } : {}),
  ...extra,
});

/** Splits a binary-extension answer into its JSON and tail. */
function split(r: Res): {
  json: {
    outputs: {
      name: string;
      datatype: string;
      shape: number[];
      parameters?: { binary_data_size: number };
      data?: unknown[];
    }[];
    id?: string;
  };
  tail: Buffer;
} {
  const len = r.headers['inference-header-content-length'];
  if (len === undefined) return { json: JSON.parse(r.body.toString()), tail: Buffer.alloc(0) };
  return { json: JSON.parse(r.body.subarray(0, Number(len)).toString()), tail: r.body.subarray(Number(len)) };
}

const f32 = (b: Buffer): Float32Array => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

/** Length-prefixed BYTES elements. */
function strings(b: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.length; ) {
    const n = b.readUInt32LE(i);
    out.push(b.subarray(i + 4, i + 4 + n).toString());
    i += 4 + n;
  }
  return out;
}

async function direct(pixels: Uint8Array, n: number): Promise<{ logits: Float32Array; probabilities: Float32Array }> {
  const s = await Session.create(modelPath);
  const r = await s.run({ pixels: { dtype: 'uint8', dims: [n, 32, 32, 3], data: pixels } });
  await s.release();
  return { logits: r['logits']!.data as Float32Array, probabilities: r['probabilities']!.data as Float32Array };
}

const near = (t: Test, a: ArrayLike<number>, b: ArrayLike<number>, msg: string): void => {
  t.equal(a.length, b.length, `${msg}: length`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  t.ok(worst < 1e-4, `${msg}: max diff ${worst}`);
};

const BAD_TENSOR = JSON.stringify({
  inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: [1] }],
});
const pixels = px(2);
const ref = await direct(pixels, 2);
const input = { name: 'pixels', shape: [2, 32, 32, 3], datatype: 'UINT8', data: pixels };

t.test('binary input, no outputs named (binary_data_output): binary outputs, no Content-Type sent', async (t) => {
  const { body, jsonSize } = tritonRequest([{ ...input, binary: true }], null, 'wire-1');
  const r = await send('POST', `${base}/infer`, tritonHeaders(jsonSize), body);
  t.equal(r.status, 200, r.body.toString().slice(0, 300));
  const { json, tail } = split(r);
  t.equal(json.id, 'wire-1');
  t.same(
    json.outputs.map((o) => [o.name, o.datatype, o.shape, o.parameters?.binary_data_size]),
    [
      ['logits', 'FP32', [2, 10], 80],
      ['probabilities', 'FP32', [2, 10], 80],
    ],
  );
  near(t, f32(tail.subarray(0, 80)), ref.logits, 'logits');
  near(t, f32(tail.subarray(80)), ref.probabilities, 'probabilities');
});

t.test(
  'Inference-Header-Content-Length with Content-Type application/json is still the binary layout (as Triton reads it)',
  async (t) => {
    const { body, jsonSize } = tritonRequest(
      [{ ...input, binary: true }],
      [{ name: 'logits', parameters: { binary_data: false } }],
    );
    const r = await send(
      'POST',
      `${base}/infer`,
      tritonHeaders(jsonSize, { 'content-type': 'application/json' }),
      body,
    );
    t.equal(r.status, 200, r.body.toString().slice(0, 300));
    near(t, JSON.parse(r.body.toString()).outputs[0].data, ref.logits, 'logits');
  },
);

t.test('JSON input with outputs binary_data false: a JSON answer, no Content-Type sent', async (t) => {
  const { body, jsonSize } = tritonRequest(
    [{ ...input, binary: false }],
    [{ name: 'probabilities', parameters: { binary_data: false } }],
  );
  t.equal(jsonSize, null);
  const r = await send('POST', `${base}/versions/1/infer`, tritonHeaders(jsonSize), body);
  t.equal(r.status, 200, r.body.toString().slice(0, 300));
  t.match(r.headers['content-type'], /application\/json/);
  const j = JSON.parse(r.body.toString());
  t.equal(j.outputs.length, 1);
  near(t, j.outputs[0].data, ref.probabilities, 'probabilities');
});

t.test('class_count with binary_data true: BYTES "score:index:label" elements', async (t) => {
  const { body, jsonSize } = tritonRequest(
    [{ ...input, binary: true }],
    [{ name: 'probabilities', parameters: { classification: 3, binary_data: true } }],
  );
  const r = await send('POST', `${base}/infer`, tritonHeaders(jsonSize), body);
  t.equal(r.status, 200, r.body.toString().slice(0, 300));
  const { json, tail } = split(r);
  t.same([json.outputs[0]!.datatype, json.outputs[0]!.shape], ['BYTES', [2, 3]]);
  const els = strings(tail);
  t.equal(els.length, 6);
  for (let row = 0; row < 2; row++) {
    const p = Array.from(ref.probabilities.subarray(row * 10, row * 10 + 10));
    const order = p.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (let k = 0; k < 3; k++) {
      const [score, index] = els[row * 3 + k]!.split(':');
      t.equal(Number(index), order[k]![1], `row ${row} rank ${k}`);
      t.ok(Math.abs(Number(score) - order[k]![0]) < 1e-5);
    }
  }
});

t.test('gzip and deflate request bodies (request_compression_algorithm) and Accept-Encoding answers', async (t) => {
  const { body, jsonSize } = tritonRequest(
    [{ ...input, binary: true }],
    [{ name: 'logits', parameters: { binary_data: true } }],
  );
  for (const [enc, pack, unpack] of [
    ['gzip', zlib.gzipSync, zlib.gunzipSync],
    ['deflate', zlib.deflateSync, zlib.inflateSync],
  ] as const) {
    const r = await send(
      'POST',
      `${base}/infer`,
      tritonHeaders(jsonSize, { 'content-encoding': enc, 'accept-encoding': enc }),
      pack(body),
    );
    t.equal(r.status, 200, `${enc}: ${r.body.toString().slice(0, 200)}`);
    t.equal(r.headers['content-encoding'], enc);
    const plain = unpack(r.body);
    const len = Number(r.headers['inference-header-content-length']);
    near(t, f32(plain.subarray(len)), ref.logits, `${enc} logits`);
  }
  const meta = await send('GET', base, { 'accept-encoding': 'br;q=1, gzip;q=0.5' });
  t.equal(meta.headers['content-encoding'], 'gzip');
  t.equal(JSON.parse(zlib.gunzipSync(meta.body).toString()).name, 'mixer-test');
  const plain = await send('GET', base, {});
  t.equal(plain.headers['content-encoding'], undefined);
});

t.test(
  'compressed bodies are bounded by the body limit: a gzip bomb gets 413 quickly; corrupt or unknown encodings are refused',
  async (t) => {
    const bomb = zlib.gzipSync(Buffer.alloc(256 * 1024 * 1024));
    t.ok(bomb.length < BODY_LIMIT, `bomb is ${bomb.length} bytes compressed`);
    const t0 = performance.now();
    const r = await send('POST', `${base}/infer`, { 'content-encoding': 'gzip' }, bomb);
    const ms = performance.now() - t0;
    t.equal(r.status, 413);
    t.equal(JSON.parse(r.body.toString()).code, 'PAYLOAD_TOO_LARGE');
    t.ok(ms < 5000, `refused in ${ms.toFixed(0)} ms`);
    const corrupt = await send('POST', `${base}/infer`, { 'content-encoding': 'gzip' }, Buffer.from('not gzip at all'));
    t.equal(corrupt.status, 400);
    t.match(JSON.parse(corrupt.body.toString()).error, /cannot be decompressed/);
    const br = await send('POST', `${base}/infer`, { 'content-encoding': 'br' }, Buffer.from('{}'));
    t.equal(br.status, 415);
    t.match(JSON.parse(br.body.toString()).error, /Content-Encoding "br"/);
  },
);

t.test(
  '/v2 errors carry the message in `error` (tritonclient shows only it); /classify keeps the reason phrase',
  async (t) => {
    const cases: [string, string, Record<string, string | number>, Buffer | undefined, number, string][] = [
      ['GET', '/v2/models/nope', {}, undefined, 404, 'MODEL_NOT_FOUND'],
      ['GET', '/v2/nothing-here', {}, undefined, 404, 'NOT_FOUND'],
      [
        'POST',
        `${base}/infer`,
        { 'content-type': 'application/xml' },
        Buffer.from('<x/>'),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      // A valid JSON request under a non-JSON type is refused for its type (it was parsed as a tensor: 400 BAD_TENSOR).
      [
        'POST',
        `${base}/infer`,
        { 'content-type': 'text/plain' },
        Buffer.from('{"inputs": []}'),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['POST', `${base}/infer`, { 'content-type': 'image/png' }, Buffer.from('{}'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['POST', `${base}/infer`, {}, Buffer.alloc(BODY_LIMIT + 10, 32), 413, 'PAYLOAD_TOO_LARGE'],
      ['POST', `${base}/infer`, {}, Buffer.from('{"inputs": 3}'), 400, 'BAD_REQUEST'],
      ['POST', `${base}/infer`, {}, Buffer.from(BAD_TENSOR), 400, 'BAD_TENSOR'],
    ];
    for (const [method, url, headers, body, status, code] of cases) {
      const r = await send(method, url, headers, body);
      t.equal(r.status, status, `${method} ${url}`);
      const j = JSON.parse(r.body.toString());
      t.equal(j.code, code);
      t.equal(j.error, j.message, `${url}: error is the message`);
      t.ok(j.message.length > 10);
    }
    const c = await send('GET', '/classify-nope', {});
    t.equal(JSON.parse(c.body.toString()).error, 'Not Found');
  },
);

t.test('GET /v2/ answers like GET /v2 and lists the served extensions', async (t) => {
  const a = await send('GET', '/v2', {});
  const b = await send('GET', '/v2/', {});
  t.equal(b.status, 200);
  t.same(JSON.parse(b.body.toString()), JSON.parse(a.body.toString()));
  t.same(JSON.parse(a.body.toString()).extensions, [
    'binary_tensor_data',
    'classification',
    'model_repository',
    'model_configuration',
    'statistics',
    'logging',
    'trace',
  ]);
  // Every listed extension answers.
  t.equal((await send('POST', '/v2/repository/index', {})).status, 200);
  t.equal((await send('GET', `${base}/config`, {})).status, 200);
  t.equal((await send('GET', '/v2/models/stats', {})).status, 200);
  t.equal((await send('GET', '/v2/logging', {})).status, 200);
  t.equal((await send('GET', '/v2/trace/setting', {})).status, 200);
});

t.test('model configuration extension', async (t) => {
  for (const url of [`${base}/config`, `${base}/versions/1/config`]) {
    const r = await send('GET', url, {});
    t.equal(r.status, 200);
    t.same(JSON.parse(r.body.toString()), {
      name: 'mixer-test',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 4,
      input: [{ name: 'pixels', data_type: 'TYPE_UINT8', format: 'FORMAT_NONE', dims: [32, 32, 3] }],
      output: [
        { name: 'logits', data_type: 'TYPE_FP32', dims: [10] },
        { name: 'probabilities', data_type: 'TYPE_FP32', dims: [10] },
      ],
      dynamic_batching: { max_queue_delay_microseconds: 2000 },
      instance_group: [{ name: 'mixer-test_0', kind: 'KIND_CPU', count: 1 }],
      version_policy: { all: {} },
      default_model_filename: 'mixer-test.onnx',
      model_transaction_policy: { decoupled: false },
      response_cache: { enable: false },
    });
  }
  t.equal((await send('GET', `${base}/versions/7/config`, {})).status, 404);
  t.equal((await send('GET', '/v2/models/nope/config', {})).status, 404);
});

t.test('statistics extension counts what ran', async (t) => {
  const get = async (url: string) => JSON.parse((await send('GET', url, {})).body.toString()).model_stats;
  const before = (await get(`${base}/stats`))[0];
  const { body, jsonSize } = tritonRequest([{ ...input, binary: true }], null);
  t.equal((await send('POST', `${base}/infer`, tritonHeaders(jsonSize), body)).status, 200);
  t.equal((await send('POST', `${base}/infer`, {}, Buffer.from(BAD_TENSOR))).status, 400);
  for (const url of ['/v2/models/stats', `${base}/stats`, `${base}/versions/1/stats`]) {
    const all = await get(url);
    t.equal(all.length, 1, url);
    const s = all[0];
    t.same(Object.keys(s).slice(0, 6), [
      'name',
      'version',
      'last_inference',
      'inference_count',
      'execution_count',
      'inference_stats',
    ]);
    t.same([s.name, s.version], ['mixer-test', '1']);
    t.equal(s.inference_count - before.inference_count, 2, 'two images');
    t.equal(s.execution_count - before.execution_count, 1, 'one model run');
    t.ok(s.last_inference > Date.now() - 60_000);
    const d = s.inference_stats;
    t.same(Object.keys(d), [
      'success',
      'fail',
      'queue',
      'compute_input',
      'compute_infer',
      'compute_output',
      'cache_hit',
      'cache_miss',
    ]);
    t.equal(d.success.count - before.inference_stats.success.count, 1);
    t.equal(d.fail.count - before.inference_stats.fail.count, 1);
    for (const k of ['success', 'queue', 'compute_input', 'compute_infer', 'compute_output'])
      t.ok(d[k].ns > before.inference_stats[k].ns, `${k} ns grew`);
    t.ok(d.success.ns >= d.compute_infer.ns, 'a request takes at least its run');
  }
  t.equal((await send('GET', '/v2/models/nope/stats', {})).status, 404);
});
