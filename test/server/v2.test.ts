// app.inject tests of the Open Inference Protocol v2: health, metadata, readiness, infer in JSON and binary, classification, errors.
import t, { type Test } from 'tap';
import { Session } from '../../src/runtime/session.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const app = await testApp(t, { modelPath, maxBatch: 4 });
const base = '/v2/models/mixer-test';
const px = (n: number): Uint8Array => new Uint8Array(noise(32, 32 * n, 3));

/** Reference outputs from a plain session over the same pixels. */
async function direct(pixels: Uint8Array, n: number): Promise<{ logits: Float32Array; probabilities: Float32Array }> {
  const s = await Session.create(modelPath);
  const r = await s.run({ pixels: { dtype: 'uint8', dims: [n, 32, 32, 3], data: pixels } });
  await s.release();
  return { logits: r['logits']!.data as Float32Array, probabilities: r['probabilities']!.data as Float32Array };
}

const close = (t: Test, a: ArrayLike<number>, b: ArrayLike<number>, msg: string): void => {
  t.equal(a.length, b.length, `${msg}: length`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  t.ok(worst < 1e-4, `${msg}: max diff ${worst}`);
};

t.test('health, server and model metadata, readiness', async (t) => {
  t.same((await app.inject(`/v2/health/live`)).json(), { live: true });
  t.same((await app.inject(`/v2/health/ready`)).json(), { ready: true });
  t.match((await app.inject('/v2')).json(), {
    name: 'onnx-mixer',
    extensions: ['binary_tensor_data', 'classification'],
  });
  for (const url of [base, `${base}/versions/1`]) {
    const m = await app.inject(url);
    t.equal(m.statusCode, 200);
    t.same(m.json(), {
      name: 'mixer-test',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [-1, 32, 32, 3] }],
      outputs: [
        { name: 'logits', datatype: 'FP32', shape: [-1, 10] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
      ],
    });
  }
  t.same((await app.inject(`${base}/ready`)).json(), { name: 'mixer-test', ready: true });
  t.equal((await app.inject(`${base}/versions/2/ready`)).statusCode, 404);
});

t.test('JSON infer: flat or nested data, both outputs, matches a direct run', async (t) => {
  const n = 3;
  const pixels = px(n);
  const ref = await direct(pixels, n);
  const flat = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    payload: {
      id: 'req-7',
      inputs: [{ name: 'pixels', shape: [n, 32, 32, 3], datatype: 'UINT8', data: Array.from(pixels) }],
    },
  });
  t.equal(flat.statusCode, 200, flat.body);
  const j = flat.json();
  t.equal(j.model_name, 'mixer-test');
  t.equal(j.model_version, '1');
  t.equal(j.id, 'req-7');
  t.same(
    j.outputs.map((o: { name: string; datatype: string; shape: number[] }) => [o.name, o.datatype, o.shape]),
    [
      ['logits', 'FP32', [n, 10]],
      ['probabilities', 'FP32', [n, 10]],
    ],
  );
  close(t, j.outputs[0].data, ref.logits, 'logits');
  close(t, j.outputs[1].data, ref.probabilities, 'probabilities');
  const nested = [];
  for (let i = 0; i < n; i++) {
    const img = [];
    for (let y = 0; y < 32; y++) {
      const row = [];
      for (let x = 0; x < 32; x++)
        row.push(Array.from(pixels.subarray(((i * 32 + y) * 32 + x) * 3, ((i * 32 + y) * 32 + x) * 3 + 3)));
      img.push(row);
    }
    nested.push(img);
  }
  const nr = await app.inject({
    method: 'POST',
    url: `${base}/versions/1/infer`,
    payload: {
      inputs: [{ name: 'pixels', shape: [n, 32, 32, 3], datatype: 'UINT8', data: nested }],
      outputs: [{ name: 'probabilities' }],
    },
  });
  t.equal(nr.statusCode, 200, nr.body);
  t.equal(nr.json().outputs.length, 1);
  close(t, nr.json().outputs[0].data, ref.probabilities, 'nested input');
});

t.test('"outputs": [] asks for every output, as an absent list does', async (t) => {
  const pixels = px(2);
  const ref = await direct(pixels, 2);
  const r = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    payload: {
      inputs: [{ name: 'pixels', shape: [2, 32, 32, 3], datatype: 'UINT8', data: Array.from(pixels) }],
      outputs: [],
    },
  });
  t.equal(r.statusCode, 200, r.body);
  t.same(
    r.json().outputs.map((o: { name: string }) => o.name),
    ['logits', 'probabilities'],
  );
  close(t, r.json().outputs[1].data, ref.probabilities, 'probabilities');
});

t.test('classification extension', async (t) => {
  const pixels = px(2);
  const ref = await direct(pixels, 2);
  const r = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    payload: {
      inputs: [{ name: 'pixels', shape: [2, 32, 32, 3], datatype: 'UINT8', data: Array.from(pixels) }],
      outputs: [{ name: 'probabilities', parameters: { classification: 3 } }],
    },
  });
  t.equal(r.statusCode, 200, r.body);
  const o = r.json().outputs[0];
  t.equal(o.datatype, 'BYTES');
  t.same(o.shape, [2, 3]);
  const row0 = Array.from(ref.probabilities.subarray(0, 10));
  const best = row0.indexOf(Math.max(...row0));
  t.match(o.data[0], new RegExp(`^[0-9.e-]+:${best}:\\w+$`));
});

t.test('binary tensor extension in and out', async (t) => {
  const n = 2;
  const pixels = px(n);
  const ref = await direct(pixels, n);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'pixels', shape: [n, 32, 32, 3], datatype: 'UINT8', parameters: { binary_data_size: pixels.length } },
      ],
      outputs: [
        { name: 'logits', parameters: { binary_data: true } },
        { name: 'probabilities', parameters: { binary_data: false } },
      ],
    }),
  );
  const r = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    payload: Buffer.concat([header, pixels]),
  });
  t.equal(r.statusCode, 200, r.body);
  t.match(r.headers['content-type'], /application\/octet-stream/);
  const len = Number(r.headers['inference-header-content-length']);
  const raw = r.rawPayload;
  const j = JSON.parse(raw.subarray(0, len).toString());
  t.same(j.outputs[0], {
    name: 'logits',
    datatype: 'FP32',
    shape: [n, 10],
    parameters: { binary_data_size: n * 10 * 4 },
  });
  const tail = raw.subarray(len);
  const logits = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + tail.length));
  close(t, logits, ref.logits, 'binary logits');
  close(t, j.outputs[1].data, ref.probabilities, 'JSON probabilities alongside');
});

t.test('bad tensors are 400 BAD_TENSOR; wrong model 404; too many images 413', async (t) => {
  const ok = { name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: Array.from(px(1)) };
  const cases: [unknown, number, string][] = [
    [{ inputs: [{ ...ok, name: 'image' }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, datatype: 'FP32' }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, shape: [1, 28, 28, 3] }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, data: ok.data.slice(1) }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, data: [...ok.data.slice(1), 256] }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, data: [...ok.data.slice(1), 'x'] }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [ok], outputs: [{ name: 'features' }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [ok, ok] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8' }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, parameters: { binary_data_size: 3072 } }] }, 400, 'BAD_TENSOR'],
    [{ inputs: [{ ...ok, shape: [100000, 32, 32, 3] }] }, 413, 'TOO_MANY_IMAGES'],
    [{ nothing: true }, 400, 'BAD_REQUEST'],
  ];
  for (const [payload, status, code] of cases) {
    const r = await app.inject({ method: 'POST', url: `${base}/infer`, payload: payload as object });
    t.equal(r.statusCode, status, r.body);
    t.equal(r.json().code, code);
  }
  const bin = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: Buffer.from('{}'),
  });
  t.equal(bin.statusCode, 400, 'binary body without the header length');
  const garbage = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    headers: { 'content-type': 'application/json' },
    payload: '{"inputs": [',
  });
  t.equal(garbage.statusCode, 400);
  const other = await app.inject({ method: 'POST', url: '/v2/models/resnet/infer', payload: { inputs: [ok] } });
  t.equal(other.statusCode, 404);
  t.equal(other.json().code, 'MODEL_NOT_FOUND');
});
